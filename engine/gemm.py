"""Matrix products on the engine's hot paths: NumPy's ``matmul``, or oneMKL's ``sgemm`` / ``dgemm``
where the optional ``mkl`` extra is installed (``pip install 'fitq[mkl]'``).

NumPy's wheels multiply with OpenBLAS. On this project's 2-core AVX-512 Xeon, oneMKL's products at
mlp's shapes take 1.25-1.34 ms a batch against OpenBLAS's 1.59-1.93 ms (PyTorch's 1.10-1.27), and on
one thread they train mlp 15 to 20 percent faster (bench/README.md). Both libraries keep their
worker threads spinning on the cores for a while after each threaded product (OpenBLAS's for 100 to
150 ms), so one library's workers must not wait beside the other's: with MKL taking the large
products and OpenBLAS threading the others, mlp trained at 7.9k samples/s against 22.9k with
OpenBLAS alone. So where MKL is loaded it takes every product above ``OPENBLAS_ONE_THREAD_MACS``
multiply-adds, at the thread count it is given; OpenBLAS runs smaller ones on the calling thread by
its own rule; and while ``fit``, ``evaluate`` or ``predict`` runs in the main thread,
:func:`openblas_on_caller` holds OpenBLAS (NumPy's and SciPy's) at one thread for the products that
do not come here; a process that computes only through the engine (a worker and the job processes
it forks) holds OpenBLAS at one thread for good (:func:`hold_openblas_on_caller`). MKL is loaded
with its conditional numerical reproducibility set to ``AUTO`` (``MKL_CBWR``), so a product gives
the same bits from run to run at a given thread count. ``FITQ_GEMM=numpy`` keeps every product with
NumPy.

Within :func:`engine.weight_copies.held_for_loop` (a ``predict`` or ``evaluate`` loop), a
product whose right operand is a layer's weight multiplies with oneMKL's packed copy of it
(``cblas_?gemm_pack`` once per batch size, ``cblas_?gemm_compute`` per batch) instead of repacking
it on every call: mlp's 784 x 512 kernel at batch 128 takes 638 instead of 832 us a product on 2
threads, and no shape measured lost more than the noise (bench/README.md). A packed product differs
from the unpacked one in the last bits. A loop packs for its first two row counts (every loop over
arrays has at most two: the batch size and the last batch's), so there a batch's bits depend only
on its operands; a generator's batches of a third size or more are multiplied unpacked, and a
batch of some size may then differ in the last bits with the order the sizes came in. The same
batches in the same order give the same bits on every run.

:func:`matmul` takes 2-D arrays ``a`` (m, k) and ``b`` (k, n), each with unit stride along one of its
axes (a C- or Fortran-ordered matrix, or rows or columns sliced out of one), and returns ``a @ b``
(m, n), C-contiguous (into ``out`` when given). Anything else (CuPy arrays, other dtypes or layouts,
batched products) goes to ``a @ b`` unchanged.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from engine import weight_copies

# OpenBLAS runs a product of at most this many multiply-adds on the calling thread (its
# SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD); larger ones wake its workers, so they go to MKL.
OPENBLAS_ONE_THREAD_MACS = 1 << 18

_ROW_MAJOR, _NO_TRANS, _TRANS, _PACKED, _B_MATRIX = 101, 111, 112, 151, 162
# A weight is packed for the row count of the product (oneMKL lays a copy out, and splits the work
# between threads, by it: a copy packed for 256 rows multiplied 32 to 128 rows by a (1600, 128) or
# (512, 256) weight 1.2 to 1.8 times slower than unpacked, and one packed for a row gives other bits),
# for at most this many row counts per loop (a batch size and the last batch's); other row
# counts are multiplied unpacked.
_PACKS_PER_WEIGHT = 2


def _declare(lib, name, restype, argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = restype, argtypes


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
        ptr, i = ctypes.c_void_p, ctypes.c_int
        for t, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
            _declare(lib, f"cblas_{t}gemm", None, [i] * 6 + [real, ptr, i, ptr, i, real, ptr, i])
            _declare(lib, f"cblas_{t}gemm_pack_get_size", ctypes.c_size_t, [i] * 4)
            _declare(lib, f"cblas_{t}gemm_pack", None, [i] * 6 + [real, ptr, i, ptr])
            _declare(lib, f"cblas_{t}gemm_compute", None, [i] * 6 + [ptr, i, ptr, i, real, ptr, i])
        return lib
    return None


_MKL = _load_mkl()
# dtype -> (gemm, pack_get_size, pack, compute) of oneMKL
_GEMMS = {} if _MKL is None else {
    np.dtype(dtype): tuple(getattr(_MKL, f"cblas_{t}gemm{suffix}") for suffix in ("", "_pack_get_size", "_pack", "_compute"))
    for t, dtype in (("s", np.float32), ("d", np.float64))}
_openblas = None  # threadpoolctl's controller of the OpenBLAS libraries loaded, once needed


def backend() -> str:
    """Which library :func:`matmul` hands large products to: ``"mkl"`` or ``"numpy"``."""
    return "numpy" if _MKL is None else "mkl"


@contextlib.contextmanager
def openblas_on_caller() -> Iterator[None]:
    """Where MKL takes the large products, OpenBLAS (NumPy's and SciPy's) runs every product on the
    calling thread within the block, so that its workers do not spin beside MKL's; the thread counts
    are restored after it. Without MKL, nothing changes. OpenBLAS's pthreads builds take a thread count
    only from the process's main thread (measured with NumPy's 0.3.31), so in another thread (the
    API's predict) the block does nothing, and OpenBLAS keeps threading products above its own size
    threshold there."""
    if _MKL is None or threading.current_thread() is not threading.main_thread():
        yield  # no MKL to make room for, or a thread whose thread count OpenBLAS would not take
        return
    libraries = _openblas_libraries()
    if all(lib.num_threads == 1 for lib in libraries.lib_controllers):
        # Held already (hold_openblas_on_caller): in a forked process, setting a thread count, even
        # the same one, would start OpenBLAS's workers again, to spin beside the products.
        yield
        return
    with libraries.limit(limits=1):
        yield


def hold_openblas_on_caller() -> None:
    """For a process that computes only through the engine (a worker, and the job processes it forks):
    where MKL takes the large products, OpenBLAS stays at one thread from now on, in and out of
    :func:`openblas_on_caller`. In a process forked from one that used OpenBLAS, every change of its
    thread count (the one ``fit`` and ``predict`` make on entry, and the one back on return) starts
    its workers again, and they spin on the cores for 100 ms or more with nothing to do, beside the
    training and what the process does next (a job's bookkeeping, its exit). Call it from the main
    thread."""
    if _MKL is not None:
        _openblas_libraries().limit(limits=1)


def _openblas_libraries():
    """threadpoolctl's controller of NumPy's and SciPy's OpenBLAS, looked up once."""
    global _openblas
    if _openblas is None:
        import scipy.linalg.cython_blas  # noqa: F401 - SciPy's OpenBLAS (numba's np.dot) is loaded before the lookup
        from threadpoolctl import ThreadpoolController

        _openblas = ThreadpoolController().select(internal_api="openblas")
    return _openblas


def _operand(x):
    """(transpose flag, leading dimension) of a 2-D operand, or None for a layout GEMM cannot read."""
    if x.flags.c_contiguous:
        return _NO_TRANS, max(1, x.shape[1])
    if x.flags.f_contiguous:
        return _TRANS, max(1, x.shape[0])
    (s0, s1), item = x.strides, x.itemsize
    if s1 == item and s0 % item == 0 and s0 // item >= x.shape[1]:
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= x.shape[0]:
        return _TRANS, s1 // item
    return None


def matmul(a, b, out=None, b_is_weight=False):
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n); ``out`` (m, n), C-contiguous, receives it when given.

    ``b_is_weight``: ``b`` is a layer's weight array itself (the same object on every call, not a view
    made for the call), which :func:`engine.weight_copies.held_for_loop` lets MKL pack once a loop."""
    mkl = _GEMMS.get(getattr(a, "dtype", None))
    if (mkl is None or type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2
            or a.dtype != b.dtype or a.shape[1] != b.shape[0]
            or a.shape[0] * a.shape[1] * b.shape[1] <= OPENBLAS_ONE_THREAD_MACS):
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
    packed = None
    if b_is_weight and weight_copies.holding():
        def pack():
            copy = np.empty(-(-mkl[1](_B_MATRIX, m, n, k) // b.itemsize), b.dtype)
            mkl[2](_ROW_MAJOR, _B_MATRIX, op_b[0], m, n, k, 1.0, b.ctypes.data, op_b[1], copy.ctypes.data)
            return copy

        packed = weight_copies.copy(b, ("mkl packed", m), pack, most=_PACKS_PER_WEIGHT)
    if packed is None:
        mkl[0](_ROW_MAJOR, op_a[0], op_b[0], m, n, k, 1.0, a.ctypes.data, op_a[1], b.ctypes.data, op_b[1],
               0.0, out.ctypes.data, max(1, n))
    else:
        mkl[3](_ROW_MAJOR, op_a[0], _PACKED, m, n, k, a.ctypes.data, op_a[1], packed.ctypes.data, max(1, n),
               0.0, out.ctypes.data, max(1, n))
    return out
