"""How many threads the engine's compiled loops may split a batch over, and the pool they run on.

The LSTM's time loop (:mod:`engine.recurrent_kernels`) is one compiled call per batch that holds
no GIL; rows of a batch are independent, so :func:`map` runs it over row ranges side by side.
NumPy's BLAS has threads of its own, which the products use; this count is for the engine's
loops, as TensorFlow's intra-op setting is for its kernels.

The count is ``FITQ_THREADS``, else ``OMP_NUM_THREADS`` (which also limits NumPy's OpenBLAS and
oneMKL), else the CPUs this process may run on; :func:`set_count` changes it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

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


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of its parent's threads


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
