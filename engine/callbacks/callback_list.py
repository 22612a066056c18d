"""CallbackList: calls each hook on every callback, in order."""
from __future__ import annotations

import numpy as np

from engine.callbacks.callback import Callback
from engine.callbacks.history import History
from engine.callbacks.progbar_logger import ProgbarLogger


def pythonify_logs(logs) -> dict:
    """``logs`` with sorted keys, nested dicts flattened and numbers as Python floats (as Keras 3)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        if isinstance(value, (int, float, np.generic)) or getattr(value, "ndim", None) == 0:
            value = float(value)
        result[key] = value
    return result


def _flatten(callbacks) -> list:
    flat = []
    for cb in callbacks or []:
        if isinstance(cb, (list, tuple)):
            flat.extend(_flatten(cb))
        else:
            flat.append(cb)
    return flat


class CallbackList(Callback):
    """The callbacks of one fit/evaluate/predict call.

    Args:
        callbacks: list of :class:`Callback` (nested lists are flattened).
        add_history: append a :class:`History` unless one is given; it becomes
            ``model.history``.
        add_progbar: append a :class:`ProgbarLogger` unless one is given.
        model: the model, given to every callback.
        **params: ``verbose``, ``epochs``, ``steps``, given to every callback.

    Each hook receives the same logs dict, so a callback that adds a key (as
    ReduceLROnPlateau adds ``learning_rate``) is seen by the ones after it,
    History and the progress bar included (they come last).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ValueError(f"Expected a keras Callback instance in `callbacks`, got {cb!r}")
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, hook, *args, logs=None):
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*args, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)
