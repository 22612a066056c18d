"""Adadelta, as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class Adadelta(Optimizer):
    """``Eg = rho Eg + (1 - rho) g^2``; ``d = -sqrt(Ed + eps) g / sqrt(Eg + eps)``;
    ``Ed = rho Ed + (1 - rho) d^2``; ``w += lr d``."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        rho, one_minus_rho, eps = dt(self.rho), dt(1 - self.rho), dt(self.epsilon)
        acc_grad = self.slot("accumulated_grad", variable)
        acc_delta = self.slot("accumulated_delta_var", variable)
        xp.multiply(acc_grad, rho, out=acc_grad)
        acc_grad += one_minus_rho * xp.square(gradient)
        delta = xp.sqrt(acc_delta + eps) * gradient
        xp.divide(delta, xp.sqrt(acc_grad + eps), out=delta)
        xp.negative(delta, out=delta)
        xp.multiply(acc_delta, rho, out=acc_delta)
        acc_delta += one_minus_rho * xp.square(delta)
        w += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
