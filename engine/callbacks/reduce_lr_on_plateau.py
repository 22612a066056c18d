"""ReduceLROnPlateau: lowers the learning rate when a metric stops improving."""
from __future__ import annotations

import warnings

import numpy as np

from engine.callbacks.monitor_callback import MonitorCallback
from engine.progbar import print_msg


def _float32(value) -> float:
    """The learning rate as Keras reads it back from its float32 variable."""
    return float(np.float32(value))


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the optimizer's learning rate by ``factor`` after ``patience`` flat epochs.

    Adds ``learning_rate`` (the rate used in the epoch that just ended) to the
    epoch's logs, so History records it, as in Keras 3.

    Args:
        monitor: the logs key to watch.
        factor: the multiplier, < 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: "auto", "min" or "max".
        min_delta: the smallest change that counts as improvement
            (``epsilon`` is Keras 2's name for it).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, epsilon=None):
        if epsilon is not None:
            min_delta = epsilon
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def get_state(self) -> dict:
        return {"wait": self.wait, "best": self.best, "cooldown_counter": self.cooldown_counter,
                "learning_rate": _float32(self.model.optimizer.learning_rate)}

    def set_state(self, state: dict) -> None:
        self.wait, self.best, self.cooldown_counter = state["wait"], state["best"], state["cooldown_counter"]
        self.model.optimizer.learning_rate = state["learning_rate"]

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = _float32(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce_lr(self, optimizer, epoch) -> bool:
        old_lr = _float32(optimizer.learning_rate)
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True
