"""Lion, as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class Lion(Optimizer):
    """``w -= lr sign(b1 m + (1 - b1) g)``; ``m = b2 m + (1 - b2) g``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")

    def build_slots(self, variables):
        self.add_slots(variables, ["momentum"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        beta_1, beta_2 = dt(self.beta_1), dt(self.beta_2)
        m = self.slot("momentum", variable)
        direction = xp.sign(m * beta_1 + gradient * (dt(1.0) - beta_1))
        xp.subtract(w, lr * direction, out=w)
        xp.multiply(m, beta_2, out=m)
        m += gradient * (dt(1.0) - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
