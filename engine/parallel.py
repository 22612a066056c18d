"""Element-wise work split over the CPU's cores.

NumPy runs one ufunc on one core, but it releases the GIL inside the loop, so
large element-wise updates (an optimizer step over a big kernel) can run on
several threads at once: :func:`split_elementwise` cuts flat views of its
arrays into one contiguous piece per thread. Each element is computed by the
same ufuncs in the same order as on one thread, so the results are bit-equal.

The thread count is :func:`num_threads`: ``OMP_NUM_THREADS`` when set (the
variable NumPy's BLAS reads too), else the cores this process may run on;
:func:`set_num_threads` changes it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Below this many elements per piece, handing work to another thread costs more than it saves.
MIN_PIECE = 32768


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return os.cpu_count() or 1


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    """Threads the engine's element-wise work may use (1: everything on the calling thread)."""
    return _threads


def set_num_threads(n: int) -> None:
    """Uses ``n`` threads (>= 1) from now on."""
    global _threads, _pool
    n = int(n)
    if n < 1:
        raise ValueError(f"The number of threads must be at least 1. Received: {n}")
    if _pool is not None and n != _threads:
        _pool.shutdown(wait=True)
        _pool = None
    _threads = n


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="fitq-elementwise")
    return _pool


def split_elementwise(fn, arrays) -> None:
    """Calls ``fn(*pieces)`` on matching contiguous pieces of ``arrays`` (all of one size), in parallel.

    ``fn`` must treat each element on its own (no reductions) and write only into
    its pieces. Arrays that are not C-contiguous NumPy arrays, or too few elements
    to be worth it, run as one call on the calling thread.
    """
    size = arrays[0].size
    pieces = min(_threads, size // MIN_PIECE)
    if pieces < 2 or not all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays):
        fn(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    bounds = [size * k // pieces for k in range(pieces + 1)]
    pool = _executor()
    futures = [pool.submit(fn, *[f[bounds[k]:bounds[k + 1]] for f in flat]) for k in range(1, pieces)]
    fn(*[f[:bounds[1]] for f in flat])
    for fut in futures:
        fut.result()
