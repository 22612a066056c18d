"""Copies made from a model's weights (oneMKL's packed layout of a Dense kernel, the LSTM's gate
blocks), kept for the length of one ``predict`` or ``evaluate`` loop instead of remade every batch.

Within :func:`held_for_loop` no weight may change: the loops open it only where no callback's
batch hook runs between their batches. A copy is keyed by the weight's own array (the same object
on every call, held so that its id is not reused) and a kind; outside the block :func:`copy` makes
a fresh one every call.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Hashable, Iterator, TypeVar

T = TypeVar("T")

# id(weight) -> (weight, {kind: copy}) within held_for_loop(); None outside it
_HELD: contextvars.ContextVar[dict | None] = contextvars.ContextVar("fitq_weight_copies", default=None)


@contextlib.contextmanager
def held_for_loop(active: bool = True) -> Iterator[None]:
    """Within it (``active``: no weight changes until it ends), :func:`copy` keeps what it makes."""
    if not active:
        yield
        return
    copies: dict = {}
    token = _HELD.set(copies)
    try:
        yield
    finally:
        copies.clear()
        _HELD.reset(token)


def holding() -> bool:
    """Whether copies are kept here (within :func:`held_for_loop`)."""
    return _HELD.get() is not None


def copy(weight, kind: Hashable, make: Callable[[], T], most: int | None = None) -> T | None:
    """``make()``, a copy derived from the array ``weight``, made once per ``kind`` within
    :func:`held_for_loop`. With ``most``, a weight keeps at most that many kinds: a kind beyond
    them gets None (the caller does without a copy)."""
    copies = _HELD.get()
    if copies is None:
        return make()
    held = copies.get(id(weight))
    if held is None or held[0] is not weight:
        copies[id(weight)] = held = (weight, {})
    kinds = held[1]
    if kind not in kinds:
        if most is not None and len(kinds) >= most:
            return None
        kinds[kind] = make()
    return kinds[kind]
