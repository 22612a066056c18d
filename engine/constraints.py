"""Keras 3 weight constraints: ``constraint(w) -> w'`` applied after each update.

Formulas are Keras's, epsilon included: norms are taken along ``axis`` with
``keepdims`` and the result is ``w * desired / (epsilon + norms)``.
"""
from __future__ import annotations

from engine import backend
from engine.registry import Configurable, Registry


def _norms(w, axis):
    xp = backend.array_module(w)
    return xp.sqrt(xp.sum(xp.square(w), axis=_axis(axis), keepdims=True))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


class Constraint(Configurable):
    """Base class: the identity."""

    def __call__(self, w):
        return w


class MaxNorm(Constraint):
    """Rescales slices along ``axis`` whose L2 norm exceeds ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        xp = backend.array_module(w)
        norms = _norms(w, self.axis)
        desired = xp.clip(norms, 0, self.max_value)
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Clips negative weights to zero."""

    def __call__(self, w):
        return backend.array_module(w).maximum(w, 0).astype(w.dtype, copy=False)


class UnitNorm(Constraint):
    """Scales slices along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return (w / (backend.epsilon() + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves slice norms toward ``[min_value, max_value]`` at ``rate`` (1 = all the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        xp = backend.array_module(w)
        norms = _norms(w, self.axis)
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_REGISTRY = Registry("constraint", "keras.constraints", Constraint,
                     [Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm],
                     aliases={"maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm})  # Keras 2's names


def get(identifier):
    """A constraint from a name, a config dict, a class or an instance (a callable is used as is);
    None stays None."""
    return _REGISTRY.get(identifier, other=lambda x: x if callable(x) else None)


def serialize(constraint) -> dict | None:
    """Keras 3's dict form; None for None."""
    return _REGISTRY.serialize(constraint)


def deserialize(config):
    return get(config)
