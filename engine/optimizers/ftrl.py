"""FTRL-proximal, as Keras 3 updates it."""
from __future__ import annotations

from engine import backend
from engine.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """Follow-the-regularized-leader with L1, L2 and L2-shrinkage regularization."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for arg, value, sign in (
            ("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
            ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
            ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, "positive or zero"),
        ):
            if value < 0.0:
                raise ValueError(f"`{arg}` needs to be {sign}. Received: {arg}={value}.")
        if learning_rate_power > 0.0:
            raise ValueError(f"`learning_rate_power` needs to be negative or zero. "
                             f"Received: learning_rate_power={learning_rate_power}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build_slots(self, variables):
        self.add_slots(variables, ["accumulator", "linear"], fill=[self.initial_accumulator_value, 0.0])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        accum = self.slot("accumulator", variable)
        linear = self.slot("linear", variable)
        power = dt(-self.learning_rate_power)
        l2_reg = dt(self.l2_regularization_strength) + dt(self.beta) / (dt(2.0) * lr)
        grad_to_use = gradient + dt(2 * self.l2_shrinkage_regularization_strength) * w
        new_accum = accum + xp.square(gradient)
        linear += grad_to_use - ((xp.power(new_accum, power) - xp.power(accum, power)) / lr) * w
        quadratic = xp.power(new_accum, power) / lr + dt(2) * l2_reg
        l1 = dt(self.l1_regularization_strength)
        clipped = xp.clip(linear, -l1, l1)
        xp.divide(clipped - linear, quadratic, out=w)
        accum[...] = new_accum

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
