"""Callback: the base class with every hook Keras calls during fit, evaluate and predict."""
from __future__ import annotations


class Callback:
    """Base class of callbacks; every hook does nothing unless overridden.

    Attributes:
        params: dict of the loop's parameters (``verbose``, ``epochs``, ``steps``).
        model: the model being trained, evaluated or used for prediction.

    ``on_train_batch_begin``/``on_train_batch_end`` call the Keras 2 names
    ``on_batch_begin``/``on_batch_end``, so callbacks written for either work.
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Keras 2 name of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2 name of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        """At the start of epoch ``epoch`` (0-based) of fit."""

    def on_epoch_end(self, epoch, logs=None):
        """At the end of an epoch; ``logs`` has the epoch's metrics and ``val_`` metrics."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Before a batch of evaluate (or of validation within fit)."""

    def on_test_batch_end(self, batch, logs=None):
        """After a batch of evaluate; ``logs`` has the running metrics."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Before a batch of predict."""

    def on_predict_batch_end(self, batch, logs=None):
        """After a batch of predict; ``logs`` has ``outputs``."""

    def on_train_begin(self, logs=None):
        """At the start of fit."""

    def get_state(self) -> dict:
        """What this callback has counted so far (JSON values, or lists of arrays under ``arrays``),
        for a checkpoint; a training resumed with :meth:`set_state` after ``on_train_begin`` goes on
        exactly as an uninterrupted one would. Stateless callbacks return ``{}``."""
        return {}

    def set_state(self, state: dict) -> None:
        """Restores :meth:`get_state`'s ``state``."""

    def on_train_end(self, logs=None):
        """At the end of fit; ``logs`` has the last epoch's logs."""

    def on_test_begin(self, logs=None):
        """At the start of evaluate (or of validation within fit)."""

    def on_test_end(self, logs=None):
        """At the end of evaluate; ``logs`` has the final metrics."""

    def on_predict_begin(self, logs=None):
        """At the start of predict."""

    def on_predict_end(self, logs=None):
        """At the end of predict."""
