"""FBetaScore and F1Score over 2D ``(batch, num_classes)`` data (Keras 3's f_score_metrics)."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.metrics.metric import Metric, as_state

_EPS = np.float32(backend.epsilon())


class FBetaScore(Metric):
    """Per-class F-beta (``average=None``) or its micro / macro / weighted average.

    Without ``threshold`` a prediction counts as positive where it equals its row's maximum.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}."
            )
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        for name in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            self.add_variable(name, shape)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.array_module(y_pred, y_true)
        y_true = xp.asarray(y_true, dtype=self.dtype)
        y_pred = xp.asarray(y_pred, dtype=self.dtype)
        if not self._built:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (xp.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > y_pred.dtype.type(self.threshold)
        y_pred = y_pred.astype(self.dtype)
        if sample_weight is not None:
            sample_weight = xp.asarray(sample_weight, dtype=self.dtype)

        def weighted_sum(val):
            if sample_weight is not None:
                val = val * sample_weight[:, None]
            return xp.sum(val, axis=self.axis)

        one = y_true.dtype.type(1)
        self.true_positives = as_state(xp, self.true_positives) + weighted_sum(y_pred * y_true)
        self.false_positives = as_state(xp, self.false_positives) + weighted_sum(y_pred * (one - y_true))
        self.false_negatives = as_state(xp, self.false_negatives) + weighted_sum((one - y_pred) * y_true)
        self.intermediate_weights = as_state(xp, self.intermediate_weights) + weighted_sum(y_true)

    def result(self):
        tp, fp, fn, weights = (backend.to_numpy(a) for a in (
            self.true_positives, self.false_positives, self.false_negatives, self.intermediate_weights))
        precision = tp / (tp + fp + _EPS)
        recall = tp / (tp + fn + _EPS)
        beta2 = np.float32(self.beta ** 2)
        score = precision * recall / (beta2 * precision + recall + _EPS) * (np.float32(1) + beta2)
        if self.average == "weighted":
            return float(np.sum(score * (weights / (np.sum(weights) + _EPS))))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
