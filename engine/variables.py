"""Variable: one weight of a layer, with its gradient slot; :func:`shapes_only` to build without memory."""
from __future__ import annotations

import contextlib
import contextvars

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
        if _SHAPES_ONLY.get():
            return
        self.value[...] = value

    def numpy(self) -> np.ndarray:
        return backend.to_numpy(self.value).copy()

    def __repr__(self) -> str:
        return f"<Variable {self.path} shape={self.shape} dtype={self.dtype}>"


_SHAPES_ONLY = contextvars.ContextVar("shapes_only", default=False)


@contextlib.contextmanager
def shapes_only():
    """Within it, layers built create weights that have their shape and dtype but no memory and no
    initial values (read-only zero-stride views of one zero): for checking a model's structure and
    counting its parameters without allocating them. Such a model cannot train or predict."""
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)


def initial_value(shape: tuple[int, ...], dtype: str, initializer) -> np.ndarray:
    """The starting array of a new weight: ``initializer(shape, dtype)``, or under :func:`shapes_only`
    a view of shape ``shape`` that allocates nothing."""
    if _SHAPES_ONLY.get():
        return np.broadcast_to(np.zeros((), dtype=dtype), shape)
    return np.asarray(initializer(shape, dtype=dtype), dtype=dtype)
