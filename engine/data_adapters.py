"""Data adapters: turn what ``fit`` / ``evaluate`` / ``predict`` were given into batches.

Every adapter yields batches as ``(xs, ys, sws)``: flat lists ordered like the
model's inputs and outputs (``ys`` / ``sws`` may be None). The training loop
never branches on the kind of data; it asks :func:`get_adapter` for one.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from engine import random as engine_random
from engine.data_arrays import check_lengths, flatten_by_names
from engine.streaming import StreamDataAdapter


class ArrayDataAdapter:
    """Batches over in-memory (or memory-mapped) arrays.

    ``shuffle``: True (a new permutation each epoch), False, or "batch" (order kept,
    samples shuffled within each batch). ``steps`` caps the batches per epoch
    (``steps_per_epoch``); the arrays wrap around when it asks for more than one pass.
    """

    def __init__(self, xs, ys=None, sws=None, batch_size=32, shuffle=False, steps=None, seed=None):
        self.xs, self.ys, self.sws = xs, ys, sws
        self.num_samples = check_lengths(xs, ys, sws)
        self.batch_size = int(batch_size or 32)
        self.shuffle = shuffle
        self._steps = steps
        self._rng = engine_random.generator(seed)
        self._cursor = 0

    @property
    def num_batches(self) -> int:
        if self._steps is not None:
            return int(self._steps)
        return math.ceil(self.num_samples / self.batch_size)

    def _take(self, arrays, idx):
        if arrays is None:
            return None
        return [None if a is None else a[idx] for a in arrays]

    def __iter__(self):
        n, bs = self.num_samples, self.batch_size
        if self._steps is None:
            order = self._rng.permutation(n) if self.shuffle is True else None
            for start in range(0, n, bs):
                stop = min(start + bs, n)
                if order is not None:
                    idx = order[start:stop]
                elif self.shuffle == "batch":
                    idx = self._rng.permutation(stop - start) + start
                else:
                    idx = slice(start, stop)
                yield self._take(self.xs, idx), self._take(self.ys, idx), self._take(self.sws, idx)
            return
        # steps_per_epoch: walk the data in batches, continuing where the last epoch stopped.
        for _ in range(int(self._steps)):
            start = self._cursor
            stop = min(start + bs, n)
            idx = slice(start, stop)
            self._cursor = 0 if stop >= n else stop
            yield self._take(self.xs, idx), self._take(self.ys, idx), self._take(self.sws, idx)

    @contextlib.contextmanager
    def epoch(self):
        """The batches of one epoch: ``with adapter.epoch() as batches: for xs, ys, sws in batches``."""
        yield iter(self)

    def close(self):
        """Arrays hold no threads or files to release."""


def is_stream(x) -> bool:
    """Whether ``x`` is a generator, iterator or Sequence (batches), not arrays."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict)) or hasattr(x, "__array__"):
        return False
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")) or hasattr(x, "__iter__")


def standardize_arrays(model, x, y=None, sample_weight=None):
    """Flat lists ``(xs, ys, sws)`` in the model's input / output order, or None when ``x`` is a stream."""
    if is_stream(x):
        if y is not None:
            raise ValueError("`y` argument is not supported when using a generator or Sequence as input: "
                             "the batches must carry the targets")
        if sample_weight is not None:
            raise ValueError("`sample_weight` argument is not supported when using a generator or Sequence as input: "
                             "the batches must carry the sample weights")
        return None
    if x is None:
        raise ValueError("No input data was given: `x` is None")
    xs = flatten_by_names(x, model.input_names, "inputs")
    ys = flatten_by_names(y, model.output_names, "targets")
    sws = flatten_by_names(sample_weight, model.output_names, "sample_weight")
    check_lengths(xs, ys, sws)
    return xs, ys, sws


def get_adapter(model, x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                max_queue_size=10, workers=1, use_multiprocessing=False, for_predict=False):
    """The adapter for ``x``: arrays (by position or name) or a generator / Sequence of batches."""
    arrays = standardize_arrays(model, x, y, sample_weight)
    if arrays is not None:
        return ArrayDataAdapter(*arrays, batch_size=batch_size, shuffle=shuffle, steps=steps)
    return StreamDataAdapter(model, x, steps=steps, shuffle=shuffle, max_queue_size=max_queue_size,
                             workers=workers, use_multiprocessing=use_multiprocessing, for_predict=for_predict)
