"""Lamb (layer-wise adaptive Adam), as Keras 3 updates it."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.optimizers.base import Optimizer


class Lamb(Optimizer):
    """Adam's bias-corrected step scaled per variable by ``||w|| / ||step||``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ["momentum", "velocity"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        step = dt(self.iterations + 1)
        beta_1_power = np.power(dt(self.beta_1), step)
        beta_2_power = np.power(dt(self.beta_2), step)
        m = self.slot("momentum", variable)
        v = self.slot("velocity", variable)
        m += (gradient - m) * dt(1 - self.beta_1)
        v += (xp.square(gradient) - v) * dt(1 - self.beta_2)
        update = m / (dt(1.0) - beta_1_power)
        denominator = xp.sqrt(v / (dt(1.0) - beta_2_power))
        denominator += dt(self.epsilon)
        xp.divide(update, denominator, out=update)
        w_norm = xp.sqrt(xp.sum(xp.square(w)))
        g_norm = xp.sqrt(xp.sum(xp.square(update)))
        one = xp.ones_like(w_norm)
        ratio = xp.where(w_norm > 0, xp.where(g_norm > 0, w_norm / xp.where(g_norm > 0, g_norm, one), one), one)
        xp.subtract(w, ratio * lr * update, out=w)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
