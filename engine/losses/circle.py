"""Keras 3's Circle loss (metric learning on L2-normalised embeddings) and its exact gradient.

``y_true``: ``(batch,)`` integer labels; ``y_pred``: ``(batch, dim)`` embeddings, compared
with each other (or with ``ref_embeddings`` labelled ``ref_labels``) by cosine distance.
Values: ``(batch,)``; samples whose loss is 0 are masked out of the reduction, as in Keras.
"""
from __future__ import annotations

from engine.losses._math import const, max_grad, prepare, sigmoid, softplus


def _masked_logsumexp(xp, x, mask):
    """(logsumexp over axis 1 of x where mask, softmax weights for its gradient)."""
    neg_inf = const(x, -xp.inf)
    masked = xp.where(mask, x, neg_inf)
    top = masked.max(axis=1, keepdims=True)
    top = xp.where(xp.isfinite(top), top, const(x, 0.0))
    total = xp.exp(masked - top).sum(axis=1, keepdims=True)
    lse = xp.log(total) + top
    weights = xp.where(mask & xp.isfinite(lse), xp.exp(masked - lse), const(x, 0.0))
    return lse[:, 0], weights


def _pos_neg_masks(xp, query_labels, key_labels, remove_diagonal):
    positive = query_labels.reshape(-1, 1) == key_labels.reshape(1, -1)
    negative = ~positive
    if remove_diagonal:
        positive &= ~xp.eye(query_labels.size, key_labels.size, dtype=bool)
    return positive, negative


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    labels = yt.astype("int32")
    self_ref = ref_embeddings is None
    ref = yp if self_ref else xp.asarray(ref_embeddings, dtype=yp.dtype)
    ref_lab = labels if ref_labels is None else xp.asarray(ref_labels).astype("int32")
    dist_raw = const(yp, 1.0) - yp @ ref.T
    dist = xp.maximum(dist_raw, const(yp, 0.0))
    pos_mask, neg_mask = _pos_neg_masks(xp, labels, ref_lab, remove_diagonal)
    pm, nm = pos_mask.astype(yp.dtype), neg_mask.astype(yp.dtype)
    zero = const(yp, 0.0)
    pos_w_raw = (const(yp, margin) + dist) * pm
    pos_w = xp.maximum(pos_w_raw, zero)
    neg_w_raw = (const(yp, 1 + margin) - dist) * nm
    neg_w = xp.maximum(neg_w_raw, zero)
    pos_d = const(yp, margin) - dist
    neg_d = const(yp, 1 - margin) - dist
    scale_pos, scale_neg = const(yp, -1 * gamma), const(yp, gamma)
    p_loss, p_weights = _masked_logsumexp(xp, scale_pos * pos_w * pos_d, pos_mask)
    n_loss, n_weights = _masked_logsumexp(xp, scale_neg * neg_w * neg_d, neg_mask)
    total = p_loss + n_loss
    values = softplus(xp, total)

    def backprop(d):
        g = xp.asarray(d, yp.dtype) * xp.where(xp.isfinite(total), sigmoid(xp, total), zero)
        g_pos = g[:, None] * p_weights * scale_pos
        g_neg = g[:, None] * n_weights * scale_neg
        g_dist = -g_pos * pos_w - g_neg * neg_w
        g_dist = g_dist + g_pos * pos_d * max_grad(xp, pos_w_raw, zero) * pm
        g_dist = g_dist - g_neg * neg_d * max_grad(xp, neg_w_raw, zero) * nm
        g_raw = g_dist * max_grad(xp, dist_raw, zero)
        grad = -(g_raw @ ref)
        if self_ref:
            grad = grad - g_raw.T @ yp
        return grad.reshape(yp.shape)

    return values, backprop
