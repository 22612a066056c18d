"""History: the per-epoch logs that fit returns."""
from __future__ import annotations

from engine.callbacks.callback import Callback


class History(Callback):
    """Records each epoch's logs.

    Attributes:
        history: dict metric name -> list of per-epoch values. Kept across
            fit calls when the same History is passed again (as in Keras 3;
            fit makes a new one when none is passed).
        epoch: list of the epoch indices seen in the latest fit.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self
