"""How many threads the engine's compiled loops may split a batch over, and the pools they run on.

The LSTM's time loop (:mod:`engine.recurrent_kernels`) and the fused convolution step's pooling
and window gathers (:mod:`engine.conv_kernels`) are compiled loops over a batch whose samples are
independent, so they run over parts of the batch side by side. Where :func:`native_pool` is true,
a part each is one iteration of a numba ``prange`` loop on numba's OpenMP (or TBB) threading
layer, whose workers stay awake for a while between calls; elsewhere the LSTM's ranges run on
:func:`map`, a Python thread pool, and the convolution's loops on the calling thread. The pool's
sleeping workers took 0.3 to 0.4 ms to wake for each call on this project's 2-core VM (an
LSTM(64) on 64 sequences of 20: 1.15-1.8 ms a call against 0.75-1.0 on one range alone). NumPy's
BLAS has threads of its own, which the products use; this count is for the engine's loops, as
TensorFlow's intra-op setting is for its kernels.

The count is ``FITQ_THREADS``, else ``OMP_NUM_THREADS`` (which also limits NumPy's OpenBLAS and
oneMKL), else the CPUs this process may run on; :func:`set_count` changes it.
"""
from __future__ import annotations

import ctypes
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from engine import gemm

T = TypeVar("T")
R = TypeVar("R")


def _from_environment() -> int:
    for name in ("FITQ_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


_count = _from_environment()
_pool: ThreadPoolExecutor | None = None
_native: bool | None = None
_intel_openmp = False  # numba's OpenMP layer runs on Intel's OpenMP, oneMKL's


def _forget_pool() -> None:
    global _pool, _native
    _pool = None  # a forked child has none of its parent's threads
    if _native:
        _native = False  # nor may it enter numba's OpenMP layer where its parent did


os.register_at_fork(after_in_child=_forget_pool)


def count() -> int:
    """Threads the engine's loops may use (1: everything on the calling thread)."""
    return _count


def set_count(threads: int) -> None:
    """Lets the engine's loops use ``threads`` threads (an int >= 1) from now on."""
    global _count, _pool
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    if threads != _count and _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    _count = threads


def row_ranges(rows: int, min_rows: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: ``rows`` cut into at most :func:`count` ranges of ``min_rows`` or
    more, sizes differing by at most one; ``[(0, rows)]`` when there is one."""
    parts = max(1, min(_count, rows // max(1, min_rows)))
    bounds = [rows * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def map(fn: Callable[[T], R], items: list[T]) -> list[R]:  # noqa: A001 - the pool's map
    """``[fn(item) for item in items]``, the items side by side on the pool (one item: on this thread)."""
    global _pool
    if len(items) <= 1:
        return [fn(item) for item in items]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_count, thread_name_prefix="fitq-engine")
    return list(_pool.map(fn, items))


def parts_for(items: int, between_products: bool = False) -> int:
    """How many parts a compiled ``prange`` loop over ``items`` independent items (a batch's samples)
    runs in: up to :func:`count` where :func:`native_pool`; 1 means run the one-thread kernel.

    A loop that runs ``between_products`` (a convolution's, between threaded BLAS products) splits
    only where those products run on the same OpenMP workers, oneMKL's on Intel OpenMP: OpenBLAS's
    own workers spin for 100-150 ms after each product, and beside them cnn predicted at 3.4k
    samples/s instead of 9.3k on the calling thread."""
    if _count < 2 or items < 2 or not native_pool():
        return 1
    if between_products and not (_intel_openmp and gemm.backend() == "mkl"):
        return 1
    return min(_count, items)


def native_pool() -> bool:
    """Whether the engine's ``prange`` loops may run: true once numba's OpenMP or TBB threading
    layer has loaded in this process (tried at the first call, OpenMP first).

    OpenMP is Intel's where the ``mkl`` extra put it in the environment, so that oneMKL's products
    and the engine's loops share one team of workers instead of two teams spinning on the same
    cores; else GNU's (libgomp, which numba's OpenMP layer links). TBB is the ``tbb`` package's.
    False where neither loads, and in a process forked from one where it had (numba's OpenMP
    layer stops such a child when it enters it): there the ranges run on :func:`map`. numba's
    workqueue layer is never used: it aborts the process when two threads enter it at once."""
    global _native
    if _native is None:
        _native = _load_native_layer()
    return _native


def _load_native_layer() -> bool:
    import numba
    from numba.np.ufunc import parallel

    global _intel_openmp
    launched_before = parallel._is_initialized  # by other code: its pool's OpenMP is not known to be Intel's
    loaded = set()
    for library in ("libiomp5.so", "libtbb.so.12"):  # numba's pools find these by name only once loaded
        path = Path(sys.prefix) / "lib" / library
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError:  # absent, or not loadable here: numba's layers look for their own
            continue
        loaded.add(library)
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    try:
        parallel._launch_threads()
    except ValueError:  # the layer NUMBA_THREADING_LAYER names did not load
        return False
    _intel_openmp = numba.threading_layer() == "omp" and "libiomp5.so" in loaded and not launched_before
    return numba.threading_layer() in ("omp", "tbb")
