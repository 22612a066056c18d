"""Compiled element-wise loops for NumPy arrays (numba), used where a chain of NumPy calls would
pass over the same large arrays many times.

Each kernel does, per element, exactly the float32 operations of the NumPy expression it
replaces, in the same order (no fast-math, no fused multiply-add contraction), so the results
are bit for bit the same; only the passes over memory go: one read and one write per array
instead of one per operation. Kernels take flat, C-contiguous NumPy arrays;
callers keep their NumPy expression for CuPy arrays and other layouts (:func:`fusable`).

Compiled on first use and cached on disk beside this file (numba's cache), so a worker process
pays the compilation once per installation, not once per job.
"""
from __future__ import annotations

import numba
import numpy as np

# Single-threaded on purpose: after each GEMM OpenBLAS's worker threads spin on the other cores
# for a while, and a kernel's threads would share those cores with them (measured: an mlp step
# 4.7 ms with NumPy's Adam, 3.0 ms with this kernel on one thread, 7 to 9 ms on two). The
# "numpy" error model drops Python's division-by-zero check, which kept the loops from being
# vectorized (0.62 -> 0.22 ms for Adam on 400k floats).
_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


def fusable(*arrays) -> bool:
    """Whether ``arrays`` can go to a kernel: NumPy, C-contiguous, all of one float dtype and size."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype.kind != "f":
        return False
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == first.dtype
               and a.size == first.size for a in arrays)


@numba.njit(**_JIT)
def _adam(w, g, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        w[i] = w[i] - (mi * alpha) / (np.sqrt(vi) + epsilon)


def adam_update(w, g, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    """In place, per element (all float32 scalars of ``w``'s dtype)::

        m += (g - m) * one_minus_beta_1
        v += (g * g - v) * one_minus_beta_2
        w -= (m * alpha) / (sqrt(v) + epsilon)
    """
    _adam(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
          one_minus_beta_1, one_minus_beta_2, alpha, epsilon)
