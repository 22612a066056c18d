"""``StreamDataAdapter``: batches from a generator, an iterator or a ``Sequence``, for the epoch loop.

Keras 2's ``fit_generator`` semantics:

- A plain generator (or iterator) is one stream across epochs: each epoch draws ``steps``
  batches from it (``steps_per_epoch`` / ``validation_steps`` / ``steps`` are required). When it
  runs out first, a warning is given and training stops.
- A ``Sequence`` (anything with ``__len__`` and ``__getitem__``) gives ``len(sequence)`` batches
  per epoch unless ``steps`` says otherwise (wrapping around when larger), in a new shuffled batch
  order each epoch when ``shuffle`` is true; its ``on_epoch_end`` is called once per epoch.
- Batches are ``(inputs, targets)`` or ``(inputs, targets, sample_weights)`` (``predict`` also takes
  bare inputs or ``(inputs,)`` and ignores targets), with inputs / targets as one array, a list in
  the model's order or a dict by name, of any batch size.

Workers start at the first epoch and stop in :meth:`close`, so building the adapter holds nothing.
"""
from __future__ import annotations

import contextlib
import inspect
import warnings

import numpy as np

from engine import random as engine_random
from engine.data_arrays import check_lengths, flatten_by_names
from engine.streaming.enqueuer import make_enqueuer


def is_sequence(x) -> bool:
    """Random access by batch index (a ``Sequence`` or any object with ``__len__`` and ``__getitem__``)."""
    return hasattr(x, "__getitem__") and hasattr(x, "__len__")


def _items(values) -> str:
    shown = ", ".join(describe(v) for v in list(values)[:4])
    return shown + (f", ... ({len(values) - 4} more)" if len(values) > 4 else "")


def describe(value) -> str:
    """A short description of what a generator yielded: structure, array shapes and dtypes."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} ({_items(value)})"
    if isinstance(value, list):
        return f"a list of {len(value)} [{_items(value)}]"
    if isinstance(value, dict):
        shown = ", ".join(f"{k!r}: {describe(v)}" for k, v in list(value.items())[:4])
        return "a dict {" + shown + (", ..." if len(value) > 4 else "") + "}"
    if value is None:
        return "None"
    return f"{type(value).__name__} {repr(value)[:60]}"


def _positive_int(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        bound = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"`{name}` must be {bound} integer, got {value!r}")
    return int(value)


class StreamDataAdapter:
    """Batches ``(xs, ys, sws)`` from a generator / iterator / Sequence through an enqueuer.

    ``workers=0`` fetches on the training thread, ``workers>=1`` on that many threads, or spawned
    processes with ``use_multiprocessing=True``; at most ``max_queue_size`` batches are fetched ahead.
    """

    def __init__(self, model, x, steps=None, shuffle=False, max_queue_size=10, workers=1,
                 use_multiprocessing=False, for_predict=False):
        self.model = model
        self.for_predict = for_predict
        self.is_sequence = is_sequence(x)
        self.kind = "Sequence" if self.is_sequence else "generator"
        self.workers = _positive_int(workers, "workers", allow_zero=True)
        self.max_queue_size = _positive_int(max_queue_size, "max_queue_size")
        self.use_multiprocessing = bool(use_multiprocessing)
        self._steps = None if steps is None else _positive_int(steps, "steps")
        if self.is_sequence:
            self.source = x
        else:
            if steps is None:
                raise ValueError(
                    f"A generator or iterator has no length, so the number of batches to draw from it per epoch "
                    f"must be given: `steps_per_epoch` for fit / fit_generator, `validation_steps` for validation "
                    f"data, `steps` for evaluate / predict. Received {describe(x)} with steps=None. An "
                    f"`engine.utils.Sequence` knows its length instead."
                )
            if self.use_multiprocessing and self.workers > 0 and inspect.isgenerator(x):
                raise ValueError(
                    "use_multiprocessing=True sends a copy of the data source to each spawned worker process, but "
                    "a Python generator object cannot be copied to another process. Use an `engine.utils.Sequence` "
                    "(every batch exactly once per epoch, also with several processes) or threads "
                    "(use_multiprocessing=False)."
                )
            self.source = x if hasattr(x, "__next__") else iter(x)
        self.shuffle = bool(shuffle) and self.is_sequence
        self._rng = engine_random.generator(None)
        self._seed = int(engine_random.global_generator().integers(0, 2**31 - 1 - self.workers))
        self._enqueuer = None
        self._epochs_started = 0

    @property
    def num_batches(self) -> int | None:
        if self._steps is not None:
            return self._steps
        return len(self.source) if self.is_sequence else None

    def _tasks(self):
        """This epoch's batch indices (a Sequence) or one token per batch to draw (a generator)."""
        if not self.is_sequence:
            return range(self._steps)
        n = len(self.source)
        if n == 0:
            raise ValueError(f"The Sequence {type(self.source).__name__} is empty: len() returned 0")
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        steps = self._steps if self._steps is not None else n
        return [int(order[i % n]) for i in range(steps)]

    @contextlib.contextmanager
    def epoch(self):
        """The batches of one epoch as ``(xs, ys, sws)``; in-flight fetches are drained on exit."""
        if self._enqueuer is None:
            self._enqueuer = make_enqueuer(self.source, self.is_sequence, self.workers, self.use_multiprocessing,
                                           self.max_queue_size, self._seed)
        elif self.is_sequence:
            self._enqueuer.install()
        self._epochs_started += 1
        raw = self._enqueuer.run(self._tasks())
        batches = self._standardized(raw)
        try:
            yield batches
        finally:
            batches.close()
            raw.close()
        on_epoch_end = getattr(self.source, "on_epoch_end", None) if self.is_sequence else None
        if on_epoch_end is not None:
            on_epoch_end()

    def _standardized(self, raw):
        expected = self.num_batches
        count = 0
        for batch in raw:
            yield self._standardize(batch, count)
            count += 1
        if count < expected:
            warnings.warn(
                f"Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
                f"generate at least `steps_per_epoch * epochs` batches; it gave {count} of the {expected} batches "
                f"of epoch {self._epochs_started}.",
                stacklevel=2,
            )
            self.model.stop_training = True

    def _standardize(self, batch, index):
        """One yielded batch as flat lists ordered like the model's inputs and outputs."""
        what = describe(batch)
        if self.for_predict:
            x = batch[0] if isinstance(batch, tuple) and len(batch) in (1, 2, 3) else batch
            y = sw = None
        else:
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise ValueError(
                    f"Output of generator should be a tuple `(x, y, sample_weight)` or `(x, y)`. Found: {what} "
                    f"(batch {index} of the {self.kind})"
                )
            x, y = batch[0], batch[1]
            sw = batch[2] if len(batch) == 3 else None
        try:
            xs = flatten_by_names(x, self.model.input_names, "inputs")
            ys = flatten_by_names(y, self.model.output_names, "targets")
            sws = flatten_by_names(sw, self.model.output_names, "sample_weight")
            size = check_lengths(xs, ys, sws)
        except ValueError as exc:
            raise ValueError(f"Batch {index} of the {self.kind} does not fit the model: {exc}. Found: {what}") from None
        if size == 0:
            raise ValueError(f"Batch {index} of the {self.kind} is empty. Found: {what}")
        return xs, ys, sws

    def close(self):
        """Stops the workers (threads or processes) and waits for them to exit."""
        if self._enqueuer is not None:
            enqueuer, self._enqueuer = self._enqueuer, None
            enqueuer.close()
