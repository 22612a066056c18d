"""Adagrad, as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """``acc += g^2``; ``w -= lr g / sqrt(acc + eps)``; ``acc`` starts at ``initial_accumulator_value``."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ["accumulator"], fill=self.initial_accumulator_value)

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        accumulator = self.slot("accumulator", variable)
        accumulator += xp.square(gradient)
        denominator = accumulator + w.dtype.type(self.epsilon)
        xp.sqrt(denominator, out=denominator)
        update = lr * gradient
        xp.divide(update, denominator, out=update)
        xp.subtract(w, update, out=w)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
