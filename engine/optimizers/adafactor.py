"""Adafactor (factored second moments for matrices), as Keras 3 updates it."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.optimizers.base import Optimizer


def _rms(xp, x):
    return xp.sqrt(xp.mean(xp.square(x)))


class Adafactor(Optimizer):
    """Second moments kept as row and column averages for variables of rank >= 2."""

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def build_slots(self, variables):
        self.add_slots(variables, ["row", "column", "velocity"])

    def slot_shape(self, name, variable):
        """Row / column averages of a rank >= 2 variable (scalars for vectors); velocity like the variable."""
        shape = variable.value.shape
        if name == "velocity":
            return shape
        if len(shape) < 2:
            return ()
        return shape[:-1] if name == "row" else shape[:-2] + shape[-1:]

    def _slot_name(self, var, name):
        """Keras names the row and column slots after the variable."""
        return var.name if name in ("row", "column") else super()._slot_name(var, name)

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        step = dt(self.iterations + 1)
        inv_sqrt_step = dt(1) / np.sqrt(step)
        if not callable(self._learning_rate) and self.relative_step:
            lr = min(lr, inv_sqrt_step)
        rho = min(lr, inv_sqrt_step)
        alpha = xp.maximum(dt(self.epsilon_2), _rms(xp, w)) * rho
        regulated = xp.square(gradient) + dt(self.epsilon_1)
        beta = dt(1) - np.power(step, dt(self.beta_2_decay))
        v = self.slot("velocity", variable)
        if w.ndim >= 2:
            r, c = self.slot("row", variable), self.slot("column", variable)
            r[...] = beta * r + (dt(1) - beta) * xp.mean(regulated, axis=-1)
            c[...] = beta * c + (dt(1) - beta) * xp.mean(regulated, axis=-2)
            v[...] = (r / xp.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v[...] = beta * v + (dt(1) - beta) * regulated
        u = gradient / xp.sqrt(v)
        u_hat = u / xp.maximum(dt(1), _rms(xp, u) / dt(self.clip_threshold))
        xp.subtract(w, alpha * u_hat, out=w)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}
