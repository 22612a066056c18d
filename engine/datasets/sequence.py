"""``ArraySequence``: a :class:`engine.utils.Sequence` of batches of rows of array-likes
(:class:`MappedArray`, :class:`CsvArray` or in-memory arrays), for ``fit`` / ``evaluate`` / ``predict``.
"""
from __future__ import annotations

import math

import numpy as np

from engine import random as engine_random
from engine.streaming.sequence import Sequence


def _lengths(data):
    if data is None:
        return []
    if isinstance(data, dict):
        return [len(v) for v in data.values()]
    if isinstance(data, (list, tuple)):
        return [len(v) for v in data]
    return [len(data)]


def _take(data, rows):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: np.asarray(v[rows]) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [np.asarray(v[rows]) for v in data]
    return np.asarray(data[rows])


class ArraySequence(Sequence):
    """Batches ``(x, y[, sample_weight])`` (just ``x`` when ``y`` is None) of ``batch_size`` rows.

    ``x`` / ``y`` / ``sample_weight``: an array-like, a list of them (by position) or a dict (by
    name). ``indices`` restricts the rows (e.g. a training split). Each epoch visits every row once:
    ``shuffle=True`` draws a new row order each epoch, ``"batch"`` keeps each batch's rows together
    and shuffles the order of the batches (Keras's shuffle for HDF5-like data: each batch is one
    contiguous read), False keeps the file order. Shuffles are seeded by ``(seed, epoch)`` when
    ``seed`` is given. The rows of one batch are read in file order.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=True, seed=None, indices=None):
        lengths = set(_lengths(x) + _lengths(y) + _lengths(sample_weight))
        if len(lengths) != 1:
            raise ValueError(f"All arrays of an ArraySequence need the same number of rows, got lengths "
                             f"{sorted(lengths)}")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        if shuffle not in (True, False, "batch"):
            raise ValueError(f'`shuffle` must be True, False or "batch", got {shuffle!r}')
        self.shuffle, self.seed = shuffle, seed
        self.indices = np.arange(lengths.pop()) if indices is None else np.asarray(indices, dtype=np.int64)
        self.epoch = 0
        self._set_order()

    def _set_order(self):
        if not self.shuffle:
            self.order = self.indices
            return
        rng = np.random.default_rng([self.seed, self.epoch]) if self.seed is not None \
            else engine_random.global_generator()
        if self.shuffle == "batch":
            self.order = self.indices
            self.blocks = rng.permutation(len(self))
            return
        self.order = rng.permutation(self.indices)

    def __len__(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} is out of range for an ArraySequence of {len(self)} batches")
        block = int(self.blocks[index]) if self.shuffle == "batch" else index
        rows = np.sort(self.order[block * self.batch_size:(block + 1) * self.batch_size])
        x = _take(self.x, rows)
        if self.y is None:
            return x
        if self.sample_weight is None:
            return x, _take(self.y, rows)
        return x, _take(self.y, rows), _take(self.sample_weight, rows)

    def on_epoch_end(self):
        self.epoch += 1
        self._set_order()
