"""TerminateOnNaN: stops training when the loss becomes NaN or infinite."""
from __future__ import annotations

import numpy as np

from engine.callbacks.callback import Callback
from engine.progbar import print_msg


class TerminateOnNaN(Callback):
    """Sets ``model.stop_training`` (or raises RuntimeError with ``raise_error``) on a NaN/Inf batch loss."""

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or not (np.isnan(loss) or np.isinf(loss)):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
