"""RMSprop (optionally centered, with momentum), as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """``v = rho v + (1 - rho) g^2``; ``w -= lr g / sqrt(v [- avg_g^2] + eps)`` (through momentum if set)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build_slots(self, variables):
        self.add_slots(variables, ["velocity"])
        if self.momentum > 0:
            self.add_slots(variables, ["momentum"])
        if self.centered:
            self.add_slots(variables, ["average_gradient"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        rho, one_minus_rho = dt(self.rho), dt(1 - self.rho)
        velocity = self.slot("velocity", variable)
        xp.multiply(velocity, rho, out=velocity)
        velocity += one_minus_rho * xp.square(gradient)
        if self.centered:
            average = self.slot("average_gradient", variable)
            xp.multiply(average, rho, out=average)
            average += one_minus_rho * gradient
            denominator = velocity - xp.square(average) + dt(self.epsilon)
        else:
            denominator = velocity + dt(self.epsilon)
        xp.sqrt(denominator, out=denominator)
        increment = lr * gradient
        xp.divide(increment, denominator, out=increment)
        if self.momentum > 0:
            momentum = self.slot("momentum", variable)
            xp.multiply(momentum, dt(self.momentum), out=momentum)
            momentum += increment
            xp.subtract(w, momentum, out=w)
        else:
            xp.subtract(w, increment, out=w)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
