"""Nadam, as Keras 3 updates it (with its running ``u_product`` of momentum schedules)."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.optimizers.base import Optimizer


def _momentum_schedule(beta_1, decay, step):
    """``beta_1 * (1 - 0.5 * decay^step)`` in the variable's float type."""
    dt = type(beta_1)
    return beta_1 * (dt(1.0) - dt(0.5) * np.power(decay, step))


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's ``u_t = b1 (1 - 0.5 * 0.96^t)`` schedule."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ["momentum", "velocity"])
        self.add_state("u_product", 1.0)

    def update_steps(self, grads, trainable, learning_rate):
        dt = self.u_product.dtype.type
        step = dt(self.iterations + 1)
        self.u_product = np.asarray(
            self.u_product * dt(self.beta_1) * (dt(1.0) - dt(0.5) * np.power(dt(0.96), step)), dtype=dt)
        super().update_steps(grads, trainable, learning_rate)

    def update_step(self, gradient, variable, lr):
        xp = backend.array_module(variable.value)
        w = variable.value
        dt = w.dtype.type
        local_step, next_step = dt(self.iterations + 1), dt(self.iterations + 2)
        decay = dt(0.96)
        beta_1, beta_2 = dt(self.beta_1), dt(self.beta_2)
        u_t = _momentum_schedule(beta_1, decay, local_step)
        u_t_1 = _momentum_schedule(beta_1, decay, next_step)
        u_product_t = dt(self.u_product)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = np.power(beta_2, local_step)
        m = self.slot("momentum", variable)
        v = self.slot("velocity", variable)
        m += (gradient - m) * (dt(1) - beta_1)
        v += (xp.square(gradient) - v) * (dt(1) - beta_2)
        m_hat = (u_t_1 * m) / (dt(1) - u_product_t_1) + ((dt(1) - u_t) * gradient) / (dt(1) - u_product_t)
        v_hat = v / (dt(1) - beta_2_power)
        xp.multiply(m_hat, lr, out=m_hat)
        xp.sqrt(v_hat, out=v_hat)
        v_hat += dt(self.epsilon)
        xp.divide(m_hat, v_hat, out=m_hat)
        xp.subtract(w, m_hat, out=w)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
