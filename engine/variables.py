"""Variable: one weight of a layer, with its gradient slot."""
from __future__ import annotations

import numpy as np

from engine import backend


class Variable:
    """A weight array owned by a layer.

    Attributes:
        value: the array (numpy or cupy), shape ``shape``.
        grad: the gradient summed over this step, or None before the first
            contribution (layers call :meth:`add_grad`; shared layers add twice).
        name: Keras's weight name ("kernel", "bias", "moving_mean", ...).
        path: "layer_name/weight_name", unique within a model.
        trainable: whether optimizers update it.
        regularizer, constraint: optional callables from ``engine.regularizers`` /
            ``engine.constraints``.
    """

    def __init__(self, value, name, trainable=True, regularizer=None, constraint=None, layer_name=""):
        self.value = value
        self.name = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.layer_name = layer_name
        self.grad = None

    @property
    def path(self) -> str:
        return f"{self.layer_name}/{self.name}" if self.layer_name else self.name

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def add_grad(self, g) -> None:
        """Adds ``g`` (same shape as the value) to this step's gradient."""
        if self.grad is None:
            self.grad = g
        else:
            self.grad = self.grad + g

    def assign(self, value) -> None:
        """Replaces the value in place (keeps the array, so optimizer views stay valid)."""
        xp = backend.array_module(self.value)
        value = xp.asarray(value, dtype=self.value.dtype)
        if tuple(value.shape) != self.shape:
            raise ValueError(
                f"Weight {self.path!r} expects shape {self.shape}, got {tuple(value.shape)}"
            )
        self.value[...] = value

    def numpy(self) -> np.ndarray:
        return backend.to_numpy(self.value).copy()

    def __repr__(self) -> str:
        return f"<Variable {self.path} shape={self.shape} dtype={self.dtype}>"
