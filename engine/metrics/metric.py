"""Metric: Keras 3's stateful metric base class.

A metric accumulates float32 state over ``update_state(...)`` calls; ``result()``
reads it (a float, or an array for per-threshold metrics); ``reset_state()``
zeroes it. State arrays live in the array module of the data (NumPy or CuPy).
"""
from __future__ import annotations

import abc

import numpy as np

from engine import backend, naming


class Metric(abc.ABC):
    """Base class: subclasses create state in ``__init__`` with :meth:`add_variable`."""

    def __init__(self, name=None, dtype=None):
        self.name = name or naming.uniquify(naming.to_snake_case(type(self).__name__))
        self.dtype = backend.standardize_dtype(dtype)
        self._state_shapes: dict[str, tuple] = {}

    def add_variable(self, name, shape=(), fill=0.0):
        """Creates the state array ``self.<name>`` (float32 zeros unless ``fill``)."""
        self._state_shapes[name] = (tuple(shape), fill)
        setattr(self, name, np.full(tuple(shape), fill, dtype=self.dtype))

    @property
    def variables(self) -> list:
        """The state arrays, in creation order (Keras's ``metric.variables``)."""
        return [getattr(self, name) for name in self._state_shapes]

    def reset_state(self):
        for name, (shape, _) in self._state_shapes.items():
            setattr(self, name, np.zeros(shape, dtype=self.dtype))

    @abc.abstractmethod
    def update_state(self, *args, **kwargs):
        """Accumulates statistics from one batch."""

    @abc.abstractmethod
    def result(self):
        """The metric's value from the accumulated state."""

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def to_float(x):
    """A 0-d state array (NumPy or CuPy) as a Python float."""
    return float(backend.to_numpy(x))


def as_state(xp, state):
    """``state`` moved to ``xp`` (a no-op when it is already there)."""
    return xp.asarray(state)


def divide_no_nan(xp, a, b):
    safe = xp.where(b == 0, xp.ones_like(b), b)
    return xp.where(b == 0, xp.zeros_like(a), a / safe)
