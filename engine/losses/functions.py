"""Keras 3's loss functions, each returning ``(values, backprop)``.

``values`` is the unreduced loss (``y_pred.shape[:-1]`` for most losses), computed
op by op as Keras does; ``backprop(d_values) -> d_y_pred`` is its exact derivative
as JAX's autodiff gives it (zero gradient outside ``clip`` ranges, half at ties),
shaped like the ``y_pred`` passed in. Public wrappers returning values only live in
:mod:`engine.losses`.
"""
from __future__ import annotations

import math

from engine import backend
from engine.losses._math import (
    clip,
    clip_grad,
    const,
    expand,
    log_softmax,
    match_shapes,
    max_grad,
    prepare,
    sigmoid,
    softmax,
    softplus,
)

EPS = backend.epsilon()


def _mean_last(xp, x):
    return xp.mean(x, axis=-1)


def _d_mean(d, y_pred):
    """d_values of a mean over the last axis, spread over that axis."""
    return d[..., None] / const(y_pred, y_pred.shape[-1])


def _finish(grad, shape, dtype):
    return grad.reshape(shape).astype(dtype, copy=False)


# ------------------------------------------------------------------ regression
def mean_squared_error(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    values = _mean_last(xp, xp.square(yt - yp))

    def backprop(d):
        return _finish(_d_mean(xp.asarray(d, yp.dtype), yp) * const(yp, 2.0) * (yp - yt), shape, yp.dtype)

    return values, backprop


def mean_absolute_error(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    values = _mean_last(xp, xp.abs(yt - yp))

    def backprop(d):
        return _finish(_d_mean(xp.asarray(d, yp.dtype), yp) * xp.sign(yp - yt), shape, yp.dtype)

    return values, backprop


def mean_absolute_percentage_error(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    denom = xp.maximum(xp.abs(yt), const(yp, EPS))
    diff = xp.abs((yt - yp) / denom)
    values = const(yp, 100.0) * _mean_last(xp, diff)

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp) * const(yp, 100.0)
        return _finish(-g * xp.sign(yt - yp) / denom, shape, yp.dtype)

    return values, backprop


def mean_squared_logarithmic_error(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    eps = const(yp, EPS)
    one = const(yp, 1.0)
    p1 = xp.maximum(yp, eps) + one
    diff = xp.log(p1) - xp.log(xp.maximum(yt, eps) + one)
    values = _mean_last(xp, xp.square(diff))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp) * const(yp, 2.0) * diff / p1
        return _finish(g * max_grad(xp, yp, eps), shape, yp.dtype)

    return values, backprop


def _normalize(xp, x, axis):
    """(x * min(rsqrt(sum(x^2)), 1/eps), inverse norm, d inverse norm / d sum of squares)."""
    ss = xp.sum(xp.square(x), axis=axis, keepdims=True)
    positive = ss > 0
    r = xp.where(positive, const(x, 1.0) / xp.sqrt(xp.where(positive, ss, const(x, 1.0))), const(x, xp.inf))
    cap = const(x, 1.0 / EPS)
    inv = xp.minimum(r, cap)
    grad_min = xp.where(r < cap, const(x, 1.0), xp.where(r == cap, const(x, 0.5), const(x, 0.0)))
    r_finite = xp.where(positive, r, const(x, 0.0))
    d_inv = grad_min * const(x, -0.5) * r_finite * r_finite * r_finite
    return x * inv, inv, d_inv


def cosine_similarity(y_true, y_pred, axis=-1):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    yp_n, inv, d_inv = _normalize(xp, yp, axis)
    yt_n = _normalize(xp, yt, axis)[0]
    values = -xp.sum(yt_n * yp_n, axis=axis)

    def backprop(d):
        g_n = -expand(xp.asarray(d, yp.dtype), axis, yp.ndim) * yt_n
        g = g_n * inv + xp.sum(g_n * yp, axis=axis, keepdims=True) * d_inv * const(yp, 2.0) * yp
        return _finish(g, shape, yp.dtype)

    return values, backprop


def huber(y_true, y_pred, delta=1.0):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    delta = const(yp, delta)
    half = const(yp, 0.5)
    error = yp - yt
    abs_error = xp.abs(error)
    small = abs_error <= delta
    values = _mean_last(xp, xp.where(small, half * xp.square(error), delta * abs_error - half * xp.square(delta)))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp)
        return _finish(g * xp.where(small, error, delta * xp.sign(error)), shape, yp.dtype)

    return values, backprop


def log_cosh(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred)
    x = yp - yt
    z = x * const(yp, -2.0)
    values = _mean_last(xp, x + softplus(xp, z) - const(yp, math.log(2.0)))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp)
        return _finish(g * (const(yp, 1.0) - const(yp, 2.0) * sigmoid(xp, z)), shape, yp.dtype)

    return values, backprop


# ----------------------------------------------------------------------- hinge
def _hinge_labels(xp, y_true):
    """{0, 1} labels become {-1, 1}; other labels are kept."""
    if bool(xp.all((y_true == 0) | (y_true == 1))):
        return const(y_true, 2.0) * y_true - const(y_true, 1.0)
    return y_true


def hinge(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    yt = _hinge_labels(xp, yt)
    margin = const(yp, 1.0) - yt * yp
    values = _mean_last(xp, xp.maximum(margin, const(yp, 0.0)))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp)
        return _finish(-g * yt * max_grad(xp, margin, const(yp, 0.0)), shape, yp.dtype)

    return values, backprop


def squared_hinge(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    yt = _hinge_labels(xp, yt)
    margin = const(yp, 1.0) - yt * yp
    hinge_ = xp.maximum(margin, const(yp, 0.0))
    values = _mean_last(xp, xp.square(hinge_))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp) * const(yp, 2.0) * hinge_
        return _finish(-g * yt * max_grad(xp, margin, const(yp, 0.0)), shape, yp.dtype)

    return values, backprop


def categorical_hinge(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    one = const(yp, 1.0)
    pos = xp.sum(yt * yp, axis=-1)
    others = (one - yt) * yp
    neg = xp.max(others, axis=-1)
    margin = neg - pos + one
    values = xp.maximum(margin, const(yp, 0.0))

    def backprop(d):
        g = (xp.asarray(d, yp.dtype) * max_grad(xp, margin, const(yp, 0.0)))[..., None]
        at_max = (others == neg[..., None]).astype(yp.dtype)
        share = at_max / at_max.sum(axis=-1, keepdims=True)
        return _finish(g * ((one - yt) * share - yt), shape, yp.dtype)

    return values, backprop


# --------------------------------------------------------------- probabilistic
def kl_divergence(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    ytc = clip(xp, yt, EPS, 1.0)
    ypc = clip(xp, yp, EPS, 1.0)
    values = xp.sum(ytc * xp.log(ytc / ypc), axis=-1)

    def backprop(d):
        g = xp.asarray(d, yp.dtype)[..., None]
        return _finish(-g * ytc / ypc * clip_grad(xp, yp, EPS, 1.0), shape, yp.dtype)

    return values, backprop


def poisson(y_true, y_pred):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    shifted = yp + const(yp, EPS)
    values = _mean_last(xp, yp - yt * xp.log(shifted))

    def backprop(d):
        g = _d_mean(xp.asarray(d, yp.dtype), yp)
        return _finish(g * (const(yp, 1.0) - yt / shifted), shape, yp.dtype)

    return values, backprop


def _cce_core(xp, target, output, from_logits, axis):
    """Keras backend categorical crossentropy: (values, d_values -> d_output)."""
    if from_logits:
        values = -xp.sum(target * log_softmax(xp, output, axis), axis=axis)

        def backprop(d):
            g = expand(d, axis, output.ndim)
            return g * (xp.sum(target, axis=axis, keepdims=True) * softmax(xp, output, axis) - target)

        return values, backprop
    total = xp.sum(output, axis=axis, keepdims=True)
    probs = output / total
    clipped = clip(xp, probs, EPS, 1.0 - EPS)
    values = -xp.sum(target * xp.log(clipped), axis=axis)

    def backprop(d):
        g = -expand(d, axis, output.ndim) * target / clipped * clip_grad(xp, probs, EPS, 1.0 - EPS)
        return g / total - xp.sum(g * output, axis=axis, keepdims=True) / (total * total)

    return values, backprop


def _smooth_categorical(yt, label_smoothing):
    if not label_smoothing:
        return yt
    n = const(yt, yt.shape[-1])
    return yt * const(yt, 1.0 - label_smoothing) + const(yt, label_smoothing) / n


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    if tuple(yt.shape) != tuple(yp.shape):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={tuple(yt.shape)}, output.shape={tuple(yp.shape)}"
        )
    yt = _smooth_categorical(yt, label_smoothing)
    values, core_bp = _cce_core(xp, yt, yp, from_logits, axis)

    def backprop(d):
        return _finish(core_bp(xp.asarray(d, yp.dtype)), shape, yp.dtype)

    return values, backprop


def _sparse_targets(xp, y_true, y_pred, axis):
    """Integer labels shaped like ``y_pred`` without its class axis."""
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.reshape(tuple(s for i, s in enumerate(y_true.shape) if i != axis % y_true.ndim))
    return y_true


def _one_hot(xp, labels, num_classes, dtype):
    return (labels[..., None] == xp.arange(num_classes)).astype(dtype)


def sparse_valid_mask(y_true, y_pred, ignore_class, axis=-1):
    """Where labels differ from ``ignore_class``, shaped like the loss values (or None)."""
    if ignore_class is None:
        return None
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt = _sparse_targets(xp, yt, yp, axis)
    res_shape = tuple(s for i, s in enumerate(yp.shape) if i != axis % yp.ndim)
    return (yt != const(yp, ignore_class)).reshape(res_shape)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt = _sparse_targets(xp, yt, yp, axis)
    valid = None
    if ignore_class is not None:
        valid = yt != const(yp, ignore_class)
        yt = xp.where(valid, yt, const(yt, 0))
        yp = xp.where(expand(valid, axis, yp.ndim), yp, const(yp, 0))
    labels = yt.astype("int32")
    if labels.ndim == yp.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    moved = axis % yp.ndim != yp.ndim - 1
    output = xp.moveaxis(yp, axis, -1) if moved else yp
    if tuple(labels.shape) != tuple(output.shape[:-1]):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last dimension: "
            f"target.shape={tuple(labels.shape)}, output.shape={tuple(output.shape)}"
        )
    target = _one_hot(xp, labels, output.shape[-1], yp.dtype)
    values, core_bp = _cce_core(xp, target, output, from_logits, -1)
    if valid is not None:
        values = xp.where(valid.reshape(values.shape), values, const(yp, 0.0))

    def backprop(d):
        d = xp.asarray(d, yp.dtype)
        if valid is not None:
            d = xp.where(valid.reshape(d.shape), d, const(yp, 0.0))
        g = core_bp(d)
        if moved:
            g = xp.moveaxis(g, -1, axis)
        if valid is not None:
            g = xp.where(expand(valid, axis, g.ndim), g, const(yp, 0.0))
        return _finish(g, shape, yp.dtype)

    return values, backprop


def _bce_core(xp, target, output, from_logits):
    """Keras backend elementwise binary crossentropy: (values, d_values -> d_output)."""
    one = const(output, 1.0)
    if from_logits:
        values = target * softplus(xp, -output) + (one - target) * softplus(xp, output)

        def backprop(d):
            return d * (sigmoid(xp, output) - target)

        return values, backprop
    clipped = clip(xp, output, EPS, 1.0 - EPS)
    values = -(target * xp.log(clipped) + (one - target) * xp.log(one - clipped))

    def backprop(d):
        return -d * (target / clipped - (one - target) / (one - clipped)) * clip_grad(xp, output, EPS, 1.0 - EPS)

    return values, backprop


def _smooth_binary(yt, label_smoothing):
    if not label_smoothing:
        return yt
    return yt * const(yt, 1.0 - label_smoothing) + const(yt, 0.5 * label_smoothing)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    yt = _smooth_binary(yt, label_smoothing)
    elems, core_bp = _bce_core(xp, yt, yp, from_logits)
    values = xp.mean(elems, axis=axis)

    def backprop(d):
        g = expand(xp.asarray(d, yp.dtype), axis, yp.ndim) / const(yp, yp.shape[axis])
        return _finish(core_bp(g), shape, yp.dtype)

    return values, backprop


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    yt = _smooth_binary(yt, label_smoothing)
    one = const(yp, 1.0)
    probs = sigmoid(xp, yp) if from_logits else yp
    bce, bce_bp = _bce_core(xp, yt, probs, False)
    p_t = yt * probs + (one - yt) * (one - probs)
    gamma_ = const(yp, gamma)
    focal_factor = xp.power(one - p_t, gamma_)
    focal = focal_factor * bce
    weight = None
    if apply_class_balancing:
        weight = yt * const(yp, alpha) + (one - yt) * const(yp, 1.0 - alpha)
        focal = weight * focal
    values = xp.mean(focal, axis=axis)

    def backprop(d):
        g = expand(xp.asarray(d, yp.dtype), axis, yp.ndim) / const(yp, yp.shape[axis])
        if weight is not None:
            g = g * weight
        d_pt = g * bce * (-gamma_ * xp.power(one - p_t, gamma_ - one))
        d_probs = d_pt * (const(yp, 2.0) * yt - one) + bce_bp(g * focal_factor)
        if from_logits:
            d_probs = d_probs * probs * (one - probs)
        return _finish(d_probs, shape, yp.dtype)

    return values, backprop


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    yt, yp = match_shapes(yt, yp)
    yt = _smooth_categorical(yt, label_smoothing)
    one = const(yp, 1.0)
    probs = softmax(xp, yp, axis) if from_logits else yp
    total = xp.sum(probs, axis=axis, keepdims=True)
    output = probs / total
    clipped = clip(xp, output, EPS, 1.0 - EPS)
    cce = -yt * xp.log(clipped)
    gamma_ = const(yp, gamma)
    modulating = xp.power(one - clipped, gamma_)
    weighting = modulating * const(yp, alpha)
    values = xp.sum(weighting * cce, axis=axis)

    def backprop(d):
        g = expand(xp.asarray(d, yp.dtype), axis, yp.ndim)
        d_mod = g * cce * const(yp, alpha) * (-gamma_ * xp.power(one - clipped, gamma_ - one))
        d_clipped = d_mod + g * weighting * (-yt / clipped)
        d_out = d_clipped * clip_grad(xp, output, EPS, 1.0 - EPS)
        d_probs = d_out / total - xp.sum(d_out * probs, axis=axis, keepdims=True) / (total * total)
        if from_logits:
            d_probs = probs * (d_probs - xp.sum(d_probs * probs, axis=axis, keepdims=True))
        return _finish(d_probs, shape, yp.dtype)

    return values, backprop


# ---------------------------------------------------------------- segmentation
def dice(y_true, y_pred, axis=None):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    axis = tuple(axis) if isinstance(axis, list) else axis
    intersection = xp.sum(yt * yp, axis=axis)
    denom = xp.sum(yt, axis=axis) + xp.sum(yp, axis=axis) + const(yp, EPS)
    values = const(yp, 1.0) - const(yp, 2.0) * intersection / denom

    def backprop(d):
        g = expand(xp.asarray(d, yp.dtype), axis, yp.ndim)
        i = expand(intersection, axis, yp.ndim)
        den = expand(denom, axis, yp.ndim)
        two = const(yp, 2.0)
        return _finish(-g * (two * yt / den - two * i / (den * den)), shape, yp.dtype)

    return values, backprop


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    shape = tuple(getattr(y_pred, "shape", ()))
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    axis = tuple(axis) if isinstance(axis, list) else axis
    one = const(yp, 1.0)
    a, b = const(yp, alpha), const(yp, beta)
    intersection = xp.sum(yt * yp, axis=axis)
    fp = xp.sum((one - yp) * yt, axis=axis)
    fn = xp.sum(yp * (one - yt), axis=axis)
    denom = intersection + fp * a + fn * b + const(yp, EPS)
    values = one - intersection / denom

    def backprop(d):
        g = expand(xp.asarray(d, yp.dtype), axis, yp.ndim)
        i = expand(intersection, axis, yp.ndim)
        den = expand(denom, axis, yp.ndim)
        d_den = yt - a * yt + b * (one - yt)
        return _finish(-g * (yt * den - i * d_den) / (den * den), shape, yp.dtype)

    return values, backprop
