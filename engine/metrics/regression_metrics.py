"""RootMeanSquaredError and R2Score (Keras 3's regression metrics with own state)."""
from __future__ import annotations

import warnings

import numpy as np

from engine import backend
from engine.losses import squeeze_or_expand_to_same_rank
from engine.metrics.metric import Metric, as_state, to_float
from engine.metrics.reduction_metrics import Mean


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of squared errors over all elements."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.array_module(y_pred, y_true)
        y_true = xp.asarray(y_true, dtype=self.dtype)
        y_pred = xp.asarray(y_pred, dtype=self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().update_state(xp.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        xp = backend.array_module(self.total)
        return to_float(xp.sqrt(self._mean()))


class R2Score(Metric):
    """Coefficient of determination over 2D ``(batch, output_dim)`` data."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(
                "Invalid value for argument `class_aggregation`. Expected one of "
                f"{(None, 'uniform_average', 'variance_weighted_average')}. "
                f"Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                f"Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.add_variable("num_samples")
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}."
            )
        n = y_pred_shape[-1]
        for name in ("squared_sum", "sum", "total_mse", "count"):
            self.add_variable(name, (n,))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.array_module(y_pred, y_true)
        y_true = xp.asarray(y_true, dtype=self.dtype)
        y_pred = xp.asarray(y_pred, dtype=self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        sw = xp.asarray(1 if sample_weight is None else sample_weight, dtype=self.dtype)
        if sw.ndim == 1:
            sw = sw[:, None]
        sw = xp.broadcast_to(sw, y_true.shape)
        weighted = y_true * sw
        self.sum = as_state(xp, self.sum) + xp.sum(weighted, axis=0)
        self.squared_sum = as_state(xp, self.squared_sum) + xp.sum(y_true * weighted, axis=0)
        self.total_mse = as_state(xp, self.total_mse) + xp.sum(xp.square(y_true - y_pred) * sw, axis=0)
        self.count = as_state(xp, self.count) + xp.sum(sw, axis=0)
        self.num_samples = as_state(xp, self.num_samples) + xp.asarray(y_true.size, dtype=self.dtype)

    def result(self):
        s, sq, mse, count = (backend.to_numpy(a) for a in (self.sum, self.squared_sum, self.total_mse, self.count))
        with np.errstate(all="ignore"):
            mean = s / count
            total = sq - s * mean
            raw = 1 - (mse / total)
        raw = np.where(np.isinf(raw), np.float32(0.0), raw).astype(self.dtype)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw) / np.sum(total)
        else:
            return raw
        n = to_float(self.num_samples)
        if self.num_regressors != 0:
            if self.num_regressors > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            elif self.num_regressors == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                p = float(self.num_regressors)
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return float(score)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
