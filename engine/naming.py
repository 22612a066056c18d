"""Keras's automatic names: "dense", "dense_1", ... per session."""
from __future__ import annotations

import collections
import re

_counts: collections.Counter = collections.Counter()


def to_snake_case(name: str) -> str:
    """"Conv2DTranspose" -> "conv2d_transpose", as Keras names layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def uniquify(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``, ..."""
    n = _counts[base]
    _counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def register(name: str) -> None:
    """Counts an explicit name so later automatic names do not collide with it."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    base, idx = m.group(1), m.group(2)
    nxt = int(idx) + 1 if idx is not None else 1
    if _counts[base] < nxt:
        _counts[base] = nxt


def clear_session() -> None:
    """Resets the name counters (``keras.backend.clear_session``)."""
    _counts.clear()
