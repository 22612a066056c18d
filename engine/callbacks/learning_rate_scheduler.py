"""LearningRateScheduler: sets the learning rate at each epoch start from a schedule."""
from __future__ import annotations

import numpy as np

from engine.callbacks.callback import Callback
from engine.progbar import print_msg


class LearningRateScheduler(Callback):
    """Calls ``schedule(epoch, lr) -> new_lr`` (or Keras 2's ``schedule(epoch)``) before each epoch.

    Adds ``learning_rate`` to each epoch's logs, as Keras 3 does.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(np.float32(optimizer.learning_rate)))
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.float32(self.model.optimizer.learning_rate))
