"""Array helpers shared by the loss functions: Keras's input preparation and JAX's
derivative conventions (a tie in ``maximum``/``clip`` gets half the gradient)."""
from __future__ import annotations

from engine import backend
from engine.losses.reduction import squeeze_or_expand_to_same_rank


def prepare(y_true, y_pred, squeeze=True):
    """(xp, y_true, y_pred): y_pred as a float array, y_true cast to its dtype, ranks matched."""
    xp = backend.array_module(y_pred, y_true)
    y_pred = xp.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(backend.floatx())
    y_true = xp.asarray(y_true, dtype=y_pred.dtype)
    if squeeze:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return xp, y_true, y_pred


def match_shapes(y_true, y_pred):
    """Ranks matched only when the shapes differ (where Keras would raise instead)."""
    if tuple(y_true.shape) != tuple(y_pred.shape):
        return squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


def const(x, value):
    """``value`` as a scalar of ``x``'s dtype."""
    return x.dtype.type(value)


def max_grad(xp, x, bound):
    """d maximum(x, bound)/dx as JAX computes it: 1 above, 0.5 at a tie, 0 below."""
    one = xp.ones_like(x)
    return xp.where(x > bound, one, xp.where(x == bound, one * 0.5, one * 0))


def min_grad(xp, x, bound):
    """d minimum(x, bound)/dx as JAX computes it: 1 below, 0.5 at a tie, 0 above."""
    one = xp.ones_like(x)
    return xp.where(x < bound, one, xp.where(x == bound, one * 0.5, one * 0))


def clip_grad(xp, x, lo, hi):
    """d clip(x, lo, hi)/dx for jnp.clip = minimum(maximum(x, lo), hi)."""
    lo, hi = const(x, lo), const(x, hi)
    return max_grad(xp, x, lo) * min_grad(xp, xp.maximum(x, lo), hi)


def clip(xp, x, lo, hi):
    return xp.minimum(xp.maximum(x, const(x, lo)), const(x, hi))


def sigmoid(xp, x):
    """1 / (1 + exp(-x)) without overflow."""
    e = xp.exp(-xp.abs(x))
    one = const(x, 1.0)
    return xp.where(x >= 0, one / (one + e), e / (one + e))


def softplus(xp, x):
    """log(1 + exp(x)) = logaddexp(x, 0)."""
    return xp.logaddexp(x, const(x, 0.0))


def softmax(xp, x, axis):
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(xp, x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def expand(d, axis, ndim):
    """``d`` (reduced over ``axis``) with that axis put back as size 1, for broadcasting."""
    if axis is None:
        return d.reshape((1,) * ndim) if d.ndim == 0 else d
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = sorted(a % ndim for a in axes)
    for a in axes:
        d = xp_expand(d, a)
    return d


def xp_expand(d, axis):
    shape = tuple(d.shape)
    return d.reshape(shape[:axis] + (1,) + shape[axis:])
