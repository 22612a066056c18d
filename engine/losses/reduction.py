"""Keras 3's weighted reduction of per-sample loss values, and its gradient.

``values`` are a loss function's unreduced output, e.g. shape ``(batch,)`` or
``(batch, timesteps)``; ``sample_weight`` broadcasts against them after
:func:`squeeze_or_expand_to_same_rank` (a ``(batch,)`` weight also covers the
trailing axes of ``(batch, timesteps)`` values, where Keras would refuse to
broadcast); ``mask`` (bool, like ``values``) merges into the weights as in
``keras.losses.loss.apply_mask``.
"""
from __future__ import annotations

from engine import backend

REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction):
    """``reduction`` checked against Keras's allowed values ("auto", Keras 2's default, means the default)."""
    if reduction == "auto":
        return "sum_over_batch_size"
    if reduction not in REDUCTIONS:
        raise ValueError(
            "Invalid value for argument `reduction`. "
            f"Expected one of {set(REDUCTIONS)}. Received: reduction={reduction}"
        )
    return reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Squeezes or expands the last axis when the ranks differ by exactly one (Keras's rule)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1.reshape(x1.shape[:-1])
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2.reshape(x2.shape[:-1])
    return x1, x2


def apply_mask(sample_weight, mask, dtype, reduction):
    """Merges a boolean ``mask`` into ``sample_weight`` (Keras 3's ``apply_mask``)."""
    if mask is None:
        return sample_weight
    xp = backend.array_module(mask)
    mask = xp.asarray(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = float(mask.astype(dtype).sum())
        scale = mask.size / valid if valid else 0.0
        float_mask = xp.where(mask.astype(bool), xp.asarray(scale, dtype=dtype), xp.asarray(0, dtype=dtype))
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = xp.asarray(sample_weight, dtype=dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    return sample_weight * float_mask


def _match_weights(values, sample_weight):
    """(values, weights) reshaped as Keras multiplies them, weights extended over trailing axes."""
    values2, sw = squeeze_or_expand_to_same_rank(values, sample_weight)
    if sw.ndim < values2.ndim and tuple(sw.shape) == tuple(values2.shape[: sw.ndim]):
        sw = sw.reshape(tuple(sw.shape) + (1,) * (values2.ndim - sw.ndim))
    return values2, sw


def _unbroadcast(grad, shape):
    """Sums ``grad`` over the axes along which an array of ``shape`` was broadcast."""
    shape = tuple(shape)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Reduces already-weighted ``values`` (Keras 3's ``reduce_values``).

    "sum_over_batch_size"/"mean" divide the sum by the number of elements of
    ``values``; "mean_with_sample_weight" by the sum of ``sample_weight``;
    "sum" sums; "none"/None return ``values`` unchanged.
    """
    return _reduce(values, sample_weight, reduction)[0]


def _reduce(values, sample_weight, reduction):
    """(reduced, d_reduced/d_values as a scalar factor or None for "none")."""
    if reduction is None or reduction == "none" or values.ndim == 0 or tuple(values.shape) == (0,):
        return values, None
    xp = backend.array_module(values)
    total = values.sum()
    if reduction == "sum":
        return total, 1.0
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(xp.asarray(sample_weight).sum())
    else:
        divisor = float(values.size)
    if divisor == 0.0:
        return xp.zeros((), dtype=values.dtype), 0.0
    return total / values.dtype.type(divisor), 1.0 / divisor


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype=None):
    """Weights ``values`` by ``sample_weight`` and ``mask``, then reduces them (Keras 3's rule)."""
    return weighted_reduction(values, sample_weight, mask, reduction, dtype)[0]


def weighted_reduction(values, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype=None):
    """(reduced loss, d_values) where d_values = d(reduced)/d(values), shaped like ``values``.

    For reduction "none" the reduced loss is the weighted values and d_values is
    the gradient of their sum.
    """
    reduction = standardize_reduction(reduction)
    xp = backend.array_module(values)
    dtype = dtype or values.dtype
    values = xp.asarray(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = xp.asarray(sample_weight, dtype=dtype)
    sample_weight = apply_mask(sample_weight, mask, dtype, reduction)
    values2, sw = values, None
    weighted = values
    if sample_weight is not None:
        values2, sw = _match_weights(values, xp.asarray(sample_weight, dtype=dtype))
        weighted = values2 * sw
    loss, factor = _reduce(weighted, sw, reduction)
    factor = 1.0 if factor is None else factor
    d_weighted = xp.full(weighted.shape, factor, dtype=dtype)
    if sw is not None:
        d_weighted = d_weighted * sw
    d_values = _unbroadcast(d_weighted, values2.shape).reshape(values.shape)
    return loss, xp.ascontiguousarray(d_values)
