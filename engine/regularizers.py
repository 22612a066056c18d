"""Keras 3 weight regularizers: a penalty and its gradient.

``reg(x) -> float`` is the penalty added to the loss; ``reg.gradient(x)`` is
its derivative, an array shaped like ``x`` (NumPy or CuPy, dtype of ``x``).
"""
from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.registry import Configurable, Registry


def _validate_float_arg(value, name) -> float:
    if (not isinstance(value, (float, int, np.floating, np.integer)) or isinstance(value, bool)
            or math.isinf(value) or math.isnan(value) or value < 0):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. Received: {name}={value}"
        )
    return float(value)


def _as_float32(value: float) -> float:
    """The float Keras reports for a value it stored as a float32 tensor."""
    return float(np.float32(value))


class Regularizer(Configurable):
    """Base class: ``__call__(x) -> float``, ``gradient(x) -> array``, ``get_config()``."""

    def __call__(self, x) -> float:
        return 0.0

    def gradient(self, x):
        return backend.array_module(x).zeros_like(x)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; both default to 0 as in Keras 3's class."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _validate_float_arg(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate_float_arg(0.0 if l2 is None else l2, "l2")

    def __call__(self, x) -> float:
        xp = backend.array_module(x)
        total = 0.0
        if self.l1:
            total += float(np.float32(self.l1) * xp.sum(xp.abs(x)))
        if self.l2:
            total += float(np.float32(self.l2) * xp.sum(xp.square(x)))
        return total

    def gradient(self, x):
        xp = backend.array_module(x)
        g = xp.zeros_like(x)
        if self.l1:
            g = g + xp.asarray(self.l1, dtype=x.dtype) * xp.sign(x)
        if self.l2:
            g = g + xp.asarray(2.0 * self.l2, dtype=x.dtype) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1=0.01):
        self.l1 = _validate_float_arg(0.01 if l1 is None else l1, "l1")

    def __call__(self, x) -> float:
        xp = backend.array_module(x)
        return float(np.float32(self.l1) * xp.sum(xp.abs(x)))

    def gradient(self, x):
        xp = backend.array_module(x)
        return xp.asarray(self.l1, dtype=x.dtype) * xp.sign(x)

    def get_config(self):
        return {"l1": _as_float32(self.l1)}


class L2(Regularizer):
    """``l2 * sum(x**2)``."""

    def __init__(self, l2=0.01):
        self.l2 = _validate_float_arg(0.01 if l2 is None else l2, "l2")

    def __call__(self, x) -> float:
        xp = backend.array_module(x)
        return float(np.float32(self.l2) * xp.sum(xp.square(x)))

    def gradient(self, x):
        xp = backend.array_module(x)
        return xp.asarray(2.0 * self.l2, dtype=x.dtype) * x

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalizes non-orthogonal rows (or columns) of a 2D weight.

    ``factor * 0.5 * sum(|P - diag(P)|) / (n * (n - 1) / 2)`` where ``P`` is the
    Gram matrix of the L2-normalized rows (``mode="rows"``) or columns.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _validate_float_arg(factor, "factor")
        if mode not in {"rows", "columns"}:
            raise ValueError(
                f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def _check(self, x):
        if len(x.shape) != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={x.shape}")

    def _parts(self, x):
        """Rows as a (n, d) matrix, their norms (n, 1), the normalized rows and the pair count."""
        xp = backend.array_module(x)
        m = x if self.mode == "rows" else x.T
        sq = xp.sum(m * m, axis=1, keepdims=True)
        eps = backend.epsilon()
        inv = 1.0 / xp.sqrt(xp.maximum(sq, eps * eps))  # Keras: min(rsqrt(sq), 1 / epsilon)
        n = m.shape[0]
        return m, sq, inv, m * inv, n * (n - 1.0) / 2.0

    def __call__(self, x) -> float:
        self._check(x)
        xp = backend.array_module(x)
        _, _, _, u, pairs = self._parts(x)
        p = u @ u.T
        off = p * (1.0 - xp.eye(p.shape[0], dtype=p.dtype))
        return float(self.factor * 0.5 * xp.sum(xp.abs(off)) / pairs)

    def gradient(self, x):
        self._check(x)
        xp = backend.array_module(x)
        m, sq, inv, u, pairs = self._parts(x)
        p = u @ u.T
        s = xp.sign(p) * (1.0 - xp.eye(p.shape[0], dtype=p.dtype))
        du = (self.factor * 0.5 / pairs) * ((s + s.T) @ u)
        # u = m * inv: d m = inv * (du - u * <du, u>) where the norm is not clipped at epsilon.
        clipped = sq < backend.epsilon() ** 2
        dm = xp.where(clipped, du * inv, inv * (du - u * xp.sum(du * u, axis=1, keepdims=True)))
        dm = dm.astype(x.dtype, copy=False)
        return dm if self.mode == "rows" else dm.T

    def get_config(self):
        return {"factor": _as_float32(self.factor), "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01) -> L1L2:
    """Keras 2's ``l1_l2`` shortcut: both penalties, 0.01 each by default."""
    return L1L2(l1=l1, l2=l2)


l1, l2, orthogonal_regularizer = L1, L2, OrthogonalRegularizer

_REGISTRY = Registry("regularizer", "keras.regularizers", Regularizer,
                     [Regularizer, L1, L2, L1L2, OrthogonalRegularizer], aliases={"l1_l2": l1_l2})


def get(identifier):
    """A regularizer from a name, a config dict, a class or an instance; None stays None."""
    return _REGISTRY.get(identifier)


def serialize(regularizer) -> dict | None:
    """Keras 3's dict form; None for None."""
    return _REGISTRY.serialize(regularizer)


def deserialize(config):
    return get(config)
