"""Adam (with AMSGrad) and AdamW, as Keras 3 updates them."""
from __future__ import annotations

import numpy as np

from engine import backend, kernels
from engine.optimizers.base import Optimizer


class Adam(Optimizer):
    """``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``; ``w -= m alpha / (sqrt(v) + eps)``,
    ``alpha = lr sqrt(1 - b2^t) / (1 - b1^t)`` (``v`` replaced by its running max with AMSGrad)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build_slots(self, variables):
        self.add_slots(variables, ["momentum", "velocity"])
        if self.amsgrad:
            self.add_slots(variables, ["velocity_hat"])

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        step = dt(self.iterations + 1)
        beta_1_power = np.power(dt(self.beta_1), step)
        beta_2_power = np.power(dt(self.beta_2), step)
        alpha = lr * np.sqrt(dt(1) - beta_2_power) / (dt(1) - beta_1_power)
        m = self.slot("momentum", variable)
        v = self.slot("velocity", variable)
        if not self.amsgrad and kernels.fusable(w, gradient, m, v):
            kernels.adam_update(w, gradient, m, v, dt(1 - self.beta_1), dt(1 - self.beta_2), dt(alpha),
                                dt(self.epsilon))
            return
        m += (gradient - m) * dt(1 - self.beta_1)
        v += (xp.square(gradient) - v) * dt(1 - self.beta_2)
        if self.amsgrad:
            v_hat = self.slot("velocity_hat", variable)
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        update = m * dt(alpha)
        denominator = xp.sqrt(v)
        denominator += dt(self.epsilon)
        xp.divide(update, denominator, out=update)
        xp.subtract(w, update, out=w)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``w -= w * weight_decay * lr`` before each step)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
