"""Sum, Mean and MeanMetricWrapper (Keras 3's reduction metrics).

``values`` are per-sample values, shape ``(batch, ...)``; ``sample_weight``
broadcasts against them after ``squeeze_or_expand_to_same_rank`` and values are
averaged down to the weight's rank first, exactly as
``keras.metrics.reduction_metrics.reduce_to_samplewise_values`` does.
"""
from __future__ import annotations

from engine import backend
from engine.losses import apply_mask, squeeze_or_expand_to_same_rank
from engine.metrics.function_names import deserialize_function, serialize_function
from engine.metrics.metric import Metric, as_state, divide_no_nan, to_float


def _reduce(xp, fn, x, axes):
    return getattr(xp, fn)(x, axis=tuple(axes)) if axes else x


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype):
    """(values reduced to shape (batch,) or (), sample weights reduced alike or None)."""
    xp = backend.array_module(values, sample_weight)
    values = xp.asarray(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = xp.asarray(sample_weight, dtype=dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = _reduce(xp, reduce_fn, values, range(weight_ndim, values_ndim))
        sample_weight = xp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = _reduce(xp, reduce_fn, sample_weight, range(1, weight_ndim))
    if values.ndim > 1:
        values = _reduce(xp, reduce_fn, values, range(1, values.ndim))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of all values seen."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.add_variable("total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, "sum", self.dtype)
        xp = backend.array_module(values)
        self.total = as_state(xp, self.total) + xp.sum(values)

    def result(self):
        return to_float(self.total)


class Mean(Metric):
    """The (weighted) mean of all values seen: total / count."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.add_variable("total")
        self.add_variable("count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, "mean", self.dtype)
        xp = backend.array_module(values)
        self.total = as_state(xp, self.total) + xp.sum(values)
        if sample_weight is not None:
            num = xp.sum(sample_weight)
        else:
            num = values.shape[0] if values.ndim >= 1 else 1
        self.count = as_state(xp, self.count) + xp.asarray(num, dtype=self.dtype)

    def _mean(self):
        xp = backend.array_module(self.total)
        return divide_no_nan(xp, as_state(xp, self.total), as_state(xp, self.count))

    def result(self):
        return to_float(self._mean())


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        output_mask = getattr(self._fn, "output_mask", None)
        if sample_weight is not None and output_mask is not None:
            mask = output_mask(y_true, y_pred, values, **self._fn_kwargs)
            if mask is not None:
                xp = backend.array_module(values)
                sample_weight = apply_mask(xp.asarray(sample_weight, dtype=self.dtype), mask, self.dtype, "sum")
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "fn": serialize_function(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize_function(config["fn"])
        return cls(**config)
