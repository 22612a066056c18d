"""Adamax, as Keras 3 updates it."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.optimizers.base import Optimizer


class Adamax(Optimizer):
    """``m += (g - m)(1 - b1)``; ``u = max(b2 u, |g|)``; ``w -= lr m / ((1 - b1^t)(u + eps))``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ["momentum", "norm"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        beta_1_power = np.power(dt(self.beta_1), dt(self.iterations + 1))
        m = self.slot("momentum", variable)
        u = self.slot("norm", variable)
        m += (gradient - m) * dt(1 - self.beta_1)
        xp.maximum(u * dt(self.beta_2), xp.abs(gradient), out=u)
        update = lr * m
        xp.divide(update, (dt(1) - beta_1_power) * (u + dt(self.epsilon)), out=update)
        xp.subtract(w, update, out=w)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
