"""Confusion-matrix counts per threshold, as ``keras.metrics.metrics_utils`` computes them.

``update_confusion_matrix(counts, y_true, y_pred, thresholds, ...)`` adds, for each
requested condition ("tp", "fp", "tn", "fn"), the weighted count per threshold
(shape ``(num_thresholds,)``, or ``(num_thresholds, num_labels)`` for multi-label)
to ``counts[cond]`` and returns the new dict. A prediction is positive when it is
strictly above the threshold. Evenly spaced thresholds use Keras's bucketed path.
"""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.losses import squeeze_or_expand_to_same_rank

NEG_INF = -1e10
CONDITIONS = ("tp", "fp", "tn", "fn")


def parse_thresholds(thresholds, default_threshold=0.5):
    """Thresholds as a list, checked to lie in [0, 1]."""
    if thresholds is not None:
        listed = thresholds if isinstance(thresholds, (list, tuple)) else [thresholds]
        invalid = [t for t in listed if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    chosen = default_threshold if thresholds is None else thresholds
    return list(chosen) if isinstance(chosen, (list, tuple)) else [chosen]


def is_evenly_distributed(thresholds) -> bool:
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=1e-7))


def filter_top_k(xp, x, k):
    """Keeps the top ``k`` entries of the last axis (lower index first among ties); others -> NEG_INF."""
    flat = x.reshape(-1, x.shape[-1])
    order = xp.argsort(-flat, axis=-1, kind="stable")[:, :k]
    keep = xp.zeros(flat.shape, dtype=x.dtype)
    keep[xp.arange(flat.shape[0])[:, None], order] = 1
    keep = keep.reshape(x.shape)
    return x * keep + x.dtype.type(NEG_INF) * (1 - keep)


def _bucketed(xp, conds, y_true, y_pred, num_thresholds, multi_label, weights, with_epsilon):
    """Keras's fast path for evenly spaced thresholds: bucket, then reverse cumulative sums."""
    y_pred = xp.clip(y_pred, y_pred.dtype.type(0.0), y_pred.dtype.type(1.0))
    y_true = (y_true != 0).astype(y_true.dtype)
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        weights = weights.reshape(-1) if weights.ndim else weights
    true_labels = y_true * weights
    false_labels = (1.0 - y_true) * weights
    buckets = xp.ceil(y_pred * y_pred.dtype.type(num_thresholds - 1)) - 1
    if with_epsilon:
        buckets = xp.maximum(buckets, 0)
    buckets = buckets.astype("int64")
    if not multi_label:
        true_labels = xp.broadcast_to(true_labels, buckets.shape)
        false_labels = xp.broadcast_to(false_labels, buckets.shape)
        tp_b = _segment_sum(xp, true_labels, buckets, num_thresholds)
        fp_b = _segment_sum(xp, false_labels, buckets, num_thresholds)
        tp = xp.cumsum(tp_b[::-1])[::-1]
        fp = xp.cumsum(fp_b[::-1])[::-1]
        total_true, total_false = true_labels.sum(), false_labels.sum()
    else:
        true_labels = xp.broadcast_to(true_labels, buckets.shape)
        false_labels = xp.broadcast_to(false_labels, buckets.shape)
        tp_b = xp.stack([_segment_sum(xp, true_labels[:, j], buckets[:, j], num_thresholds)
                         for j in range(buckets.shape[1])])
        fp_b = xp.stack([_segment_sum(xp, false_labels[:, j], buckets[:, j], num_thresholds)
                         for j in range(buckets.shape[1])])
        tp = xp.cumsum(tp_b[:, ::-1], axis=1)[:, ::-1].T
        fp = xp.cumsum(fp_b[:, ::-1], axis=1)[:, ::-1].T
        total_true, total_false = true_labels.sum(axis=0), false_labels.sum(axis=0)
    return {"tp": tp, "fp": fp, "tn": total_false - fp, "fn": total_true - tp}


def _segment_sum(xp, data, segment_ids, num_segments):
    """Sums ``data`` per id in [0, num_segments); out-of-range ids are dropped (as JAX does)."""
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    sums = xp.bincount(segment_ids[keep], weights=data[keep], minlength=num_segments)
    return sums.astype(data.dtype)


def _general(xp, conds, y_true, y_pred, thresholds, multi_label, sample_weight, label_weights):
    """Keras's tiled comparison against every threshold."""
    labels = y_true.astype(bool)
    if multi_label:
        preds = y_pred[None]
        labels = labels[None]
        thr = thresholds.reshape(-1, 1, 1)
    else:
        preds = y_pred.reshape(1, -1)
        labels = labels.reshape(1, -1)
        thr = thresholds.reshape(-1, 1)
    pred_pos = preds > thr
    label_pos = labels
    weights = None
    if sample_weight is not None:
        weights = xp.broadcast_to(sample_weight.astype(y_pred.dtype), y_pred.shape)
        weights = weights[None] if multi_label else weights.reshape(1, -1)
    if label_weights is not None and not multi_label:
        lw = xp.broadcast_to(label_weights[None], y_pred.shape).reshape(1, -1)
        weights = lw if weights is None else weights * lw
    pairs = {"tp": (label_pos, pred_pos), "fn": (label_pos, ~pred_pos),
             "fp": (~label_pos, pred_pos), "tn": (~label_pos, ~pred_pos)}
    out = {}
    for cond in conds:
        label, pred = pairs[cond]
        hit = label & pred
        counted = hit.astype(y_pred.dtype) if weights is None else xp.where(hit, weights, y_pred.dtype.type(0))
        out[cond] = counted.sum(axis=1)
    return out


def update_confusion_matrix(counts, y_true, y_pred, thresholds, top_k=None, class_id=None, sample_weight=None,
                            multi_label=False, label_weights=None, thresholds_distributed_evenly=False,
                            dtype="float32"):
    """``counts`` with this batch's weighted confusion counts added (see the module docstring)."""
    if multi_label and label_weights is not None:
        raise ValueError(
            "`label_weights` for multilabel data should be handled outside of "
            "`update_confusion_matrix_variables` when `multi_label` is True."
        )
    xp = backend.array_module(y_pred, y_true)
    y_true = xp.asarray(y_true, dtype=dtype)
    y_pred = xp.asarray(y_pred, dtype=dtype)
    thresholds_np = np.asarray(thresholds, dtype=dtype)
    with_epsilon = bool(thresholds[0] < 0.0 or thresholds[-1] > 1.0)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = xp.asarray(sample_weight, dtype=dtype)[..., None]
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(xp, y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape (num_samples, num_classes), "
                f"found shape: {tuple(y_pred.shape)}"
            )
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if label_weights is not None:
        label_weights = xp.asarray(label_weights, dtype=dtype)
    conds = [c for c in CONDITIONS if c in counts]
    if thresholds_distributed_evenly:
        weights = xp.asarray(1.0, dtype=dtype)
        if sample_weight is not None:
            weights = xp.broadcast_to(sample_weight, y_pred.shape)
        if label_weights is not None:
            weights = weights * xp.broadcast_to(label_weights[None], y_pred.shape)
        new = _bucketed(xp, conds, y_true, y_pred, len(thresholds), multi_label, weights, with_epsilon)
    else:
        new = _general(xp, conds, y_true, y_pred, xp.asarray(thresholds_np), multi_label, sample_weight,
                       label_weights)
    return {c: xp.asarray(counts[c]) + new[c].astype(dtype) for c in counts}
