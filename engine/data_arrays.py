"""What ``fit`` / ``evaluate`` / ``predict`` were given as arrays, as flat lists ordered like the
model's inputs and outputs: :func:`flatten_by_names` (one array, a list or a dict, each made an
array), :func:`check_lengths` (one sample count) and :func:`split_validation` (Keras's
``validation_split``). Both the array and the stream adapters use them.
"""
from __future__ import annotations

import math

import numpy as np

from engine.structure import by_name


def _as_array(a, what):
    if a is None:
        return None
    if hasattr(a, "__array__") or isinstance(a, (list, tuple, int, float)):
        arr = np.asarray(a) if not hasattr(a, "shape") else a
        if arr.dtype == object:
            raise ValueError(f"{what} could not be converted to a numeric array")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return arr
    raise ValueError(f"Unrecognized data type for {what}: {type(a).__name__}")


def flatten_by_names(data, names, what):
    """``data`` (one array, a list by position, or a dict by name) as arrays ordered like ``names``.

    For a one-name model a list of numbers is one array written as nested lists; ``sample_weight``
    may leave outputs out (None) or give one array for all of them. Raises
    :class:`~engine.structure.StructureError` naming the entry at fault.
    """
    if data is None:
        return None
    names = list(names)
    optional = what == "sample_weight"

    def is_one(value):
        if isinstance(value, dict):
            return False
        return not isinstance(value, (list, tuple)) or (len(names) == 1 and not _is_array_list(value))

    values = by_name(data, names, what, is_one=is_one, allow_missing=optional, one_for_all=optional)
    return [_as_array(v, f"{what} {k!r}") for v, k in zip(values, names)]


def _is_array_list(data):
    """True for a list of arrays (one per input) rather than one array written as nested lists."""
    return all(hasattr(v, "shape") or v is None for v in data)


def check_lengths(xs, ys, sws):
    """All arrays must have the same number of samples; returns that number."""
    sizes = {}
    for label, arrays in (("x", xs), ("y", ys), ("sample_weight", sws)):
        for i, a in enumerate(arrays or []):
            if a is not None:
                sizes.setdefault(int(a.shape[0]), []).append(f"{label}[{i}]")
    if len(sizes) > 1:
        detail = ", ".join(f"{v} with {k} samples" for k, v in sizes.items())
        raise ValueError(f"Data cardinality is ambiguous: make sure all arrays contain the same number of samples ({detail})")
    return next(iter(sizes)) if sizes else 0


def split_validation(xs, ys, sws, validation_split):
    """Keras's split: the last ``validation_split`` fraction, taken before any shuffling."""
    n = check_lengths(xs, ys, sws)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a validation and "
            f"training set as specified by `validation_split={validation_split}`. Either provide more data, or a "
            f"different value for the `validation_split` argument."
        )

    def cut(arrays, lo, hi):
        return None if arrays is None else [None if a is None else a[lo:hi] for a in arrays]

    return (cut(xs, 0, split_at), cut(ys, 0, split_at), cut(sws, 0, split_at)), \
        (cut(xs, split_at, n), cut(ys, split_at, n), cut(sws, split_at, n))
