"""SGD with optional (Nesterov) momentum, as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class SGD(Optimizer):
    """``m = m * momentum - g * lr``; ``w += m`` (Nesterov: ``w += m * momentum - g * lr``); plain ``w -= g * lr``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if isinstance(momentum, int) and not isinstance(momentum, bool):
            momentum = float(momentum)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def build_slots(self, variables):
        if self.momentum != 0:
            self.add_slots(variables, ["momentum"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        step = gradient * lr
        if self.momentum == 0:
            xp.subtract(w, step, out=w)
            return
        m = self.slot("momentum", variable)
        momentum = w.dtype.type(self.momentum)
        xp.multiply(m, momentum, out=m)
        xp.subtract(m, step, out=m)
        if self.nesterov:
            xp.subtract(m * momentum, step, out=step)
            xp.add(w, step, out=w)
        else:
            xp.add(w, m, out=w)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
