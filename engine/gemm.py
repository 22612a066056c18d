"""Matrix products on the engine's hot paths: NumPy's ``matmul``, or oneMKL's ``sgemm`` / ``dgemm``
where the optional ``mkl`` extra is installed (``pip install 'fitq[mkl]'``), MKL runs on one thread and
the product is large enough to gain from it.

NumPy's wheels multiply with OpenBLAS. On one thread of an AVX-512 Xeon, oneMKL's single-precision
GEMMs train mlp 15 to 20 percent faster (bench/README.md). With more threads, MKL's OpenMP workers and
OpenBLAS's (NumPy's own, and SciPy's behind compiled kernels) wait for work by spinning on the same
cores, and every workload lost to OpenBLAS alone (mlp training at 2 threads: 7.9k against 22.9k
samples/s), so there NumPy keeps every product. Below about four million multiply-adds the call costs
more than it gains, so small products stay with NumPy too. MKL is loaded with its conditional
numerical reproducibility set to ``AUTO`` (``MKL_CBWR``), so a product gives the same bits from run
to run. ``FITQ_GEMM=numpy`` keeps every product with NumPy.

:func:`matmul` takes 2-D arrays ``a`` (m, k) and ``b`` (k, n), each C-contiguous or the transpose of a
C-contiguous array, and returns ``a @ b`` (m, n), C-contiguous (into ``out`` when given). Anything
else (CuPy arrays, other dtypes or layouts, batched products) goes to ``a @ b`` unchanged.
"""
from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import numpy as np

# Products with fewer multiply-adds than this stay with NumPy (measured: 64x128x256 products are
# slower through MKL's threads; 128x512x512 ones 20 percent faster).
MIN_MULTIPLY_ADDS = 1 << 22

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _load_mkl():
    """oneMKL's single dynamic library with its ``cblas_?gemm`` set up, or None where it is absent."""
    if os.environ.get("FITQ_GEMM", "auto") == "numpy":
        return None
    os.environ.setdefault("MKL_CBWR", "AUTO")
    candidates = [Path(sys.prefix) / "lib" / "libmkl_rt.so.3", Path(sys.prefix) / "lib" / "libmkl_rt.so.2",
                  "libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(str(candidate))
        except OSError:
            continue
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        lib.MKL_Get_Max_Threads.argtypes = []
        for name, real in (("cblas_sgemm", ctypes.c_float), ("cblas_dgemm", ctypes.c_double)):
            fn = getattr(lib, name)
            fn.restype = None
            fn.argtypes = [ctypes.c_int] * 6 + [real, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                 ctypes.c_int, real, ctypes.c_void_p, ctypes.c_int]
        return lib
    return None


_MKL = _load_mkl()
_GEMMS = {} if _MKL is None else {np.dtype(np.float32): _MKL.cblas_sgemm, np.dtype(np.float64): _MKL.cblas_dgemm}


def _mkl_runs_alone() -> bool:
    """Whether MKL is loaded and set to one thread (``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS`` or
    threadpoolctl), so that no thread of its own spins next to OpenBLAS's: about a microsecond."""
    return _MKL is not None and _MKL.MKL_Get_Max_Threads() == 1


def backend() -> str:
    """Which library :func:`matmul` hands large products to now: ``"mkl"`` or ``"numpy"``."""
    return "mkl" if _mkl_runs_alone() else "numpy"


def _operand(x):
    """(transpose flag, leading dimension) of a 2-D operand, or None for a layout GEMM cannot read."""
    if x.flags.c_contiguous:
        return _NO_TRANS, max(1, x.shape[1])
    if x.flags.f_contiguous:
        return _TRANS, max(1, x.shape[0])
    return None


def matmul(a, b, out=None):
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n); ``out`` (m, n), C-contiguous, receives it when given."""
    gemm = _GEMMS.get(getattr(a, "dtype", None))
    if (gemm is None or type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2
            or a.dtype != b.dtype or a.shape[1] != b.shape[0]
            or a.shape[0] * a.shape[1] * b.shape[1] < MIN_MULTIPLY_ADDS or not _mkl_runs_alone()):
        return np.matmul(a, b, out=out)
    op_a, op_b = _operand(a), _operand(b)
    if op_a is None or op_b is None or (out is not None and (
            type(out) is not np.ndarray or not out.flags.c_contiguous or out.dtype != a.dtype
            or out.shape != (a.shape[0], b.shape[1]))):
        return np.matmul(a, b, out=out)
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), a.dtype)
    gemm(_ROW_MAJOR, op_a[0], op_b[0], m, n, k, 1.0, a.ctypes.data, op_a[1], b.ctypes.data, op_b[1],
         0.0, out.ctypes.data, max(1, n))
    return out
