"""Keras 3's accuracy metrics: per-sample match functions and their Mean wrappers.

Each function returns float32 matches shaped like the labels without the class axis.
"""
from __future__ import annotations

from engine import backend
from engine.losses import squeeze_or_expand_to_same_rank
from engine.metrics import function_names
from engine.metrics.reduction_metrics import MeanMetricWrapper


def _float_pred(xp, y_pred):
    y_pred = xp.asarray(y_pred)
    return y_pred if y_pred.dtype.kind == "f" else y_pred.astype(backend.floatx())


@function_names.register
def accuracy(y_true, y_pred):
    xp = backend.array_module(y_pred, y_true)
    y_pred = _float_pred(xp, y_pred)
    y_true = xp.asarray(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(backend.floatx())


@function_names.register
def binary_accuracy(y_true, y_pred, threshold=0.5):
    xp = backend.array_module(y_pred, y_true)
    y_pred = _float_pred(xp, y_pred)
    y_true = xp.asarray(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = (y_pred > y_pred.dtype.type(threshold)).astype(y_true.dtype)
    return (y_true == predicted).astype(backend.floatx())


@function_names.register
def categorical_accuracy(y_true, y_pred):
    xp = backend.array_module(y_pred, y_true)
    y_pred = _float_pred(xp, y_pred)
    y_true = xp.argmax(xp.asarray(y_true), axis=-1).astype(y_pred.dtype)
    org_shape = y_true.shape
    reshape = False
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
        reshape = True
    matches = (y_true == xp.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(backend.floatx())
    return matches.reshape(org_shape) if reshape else matches


@function_names.register
def sparse_categorical_accuracy(y_true, y_pred):
    xp = backend.array_module(y_pred, y_true)
    y_pred = _float_pred(xp, y_pred)
    y_true = xp.asarray(y_true, dtype=y_pred.dtype)
    org_shape = y_true.shape
    reshape = False
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
        reshape = True
    matches = (y_true == xp.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(backend.floatx())
    if reshape:
        matches = matches.reshape(org_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.reshape(matches.shape[:-1])
    return matches


def in_top_k(xp, targets, predictions, k):
    """Whether each target's score ranks within the top ``k`` (ties count in its favour)."""
    n = predictions.shape[-1]
    valid = (targets >= 0) & (targets < n)
    safe = xp.where(valid, targets, 0)
    at_label = xp.take_along_axis(predictions, safe[..., None], axis=-1)
    at_label = xp.where(valid[..., None] & ~xp.isnan(at_label), at_label, -xp.inf)
    rank = 1 + xp.sum(predictions > at_label, axis=-1)
    return rank <= k


def _top_k_matches(xp, labels, y_pred, k):
    org_shape = labels.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    flat = labels.reshape(-1) if labels.ndim > 1 else labels
    matches = in_top_k(xp, flat.astype("int32"), y_pred, k).astype(backend.floatx())
    return matches.reshape(org_shape) if labels.ndim > 1 else matches


@function_names.register
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    xp = backend.array_module(y_pred, y_true)
    y_pred = _float_pred(xp, y_pred)
    labels = xp.argmax(xp.asarray(y_true, dtype=y_pred.dtype), axis=-1)
    return _top_k_matches(xp, labels, y_pred, k)


@function_names.register
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    xp = backend.array_module(y_pred, y_true)
    y_pred = xp.asarray(y_pred)
    if from_sorted_ids:
        y_true = xp.asarray(y_true, dtype=y_pred.dtype)
        org_shape = y_true.shape
        flat = y_true.reshape(-1)
        preds = y_pred.reshape(-1, y_pred.shape[-1])
        matches = xp.any(flat[:, None] == preds[:, :k], axis=1).astype(backend.floatx())
        return matches.reshape(org_shape) if y_true.ndim > 1 else matches
    y_pred = _float_pred(xp, y_pred)
    return _top_k_matches(xp, xp.asarray(y_true).astype("int32"), y_pred, k)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(fn=sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
