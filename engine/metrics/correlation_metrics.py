"""PearsonCorrelation and ConcordanceCorrelation (Keras 3's correlation metrics), averaged over samples."""
from __future__ import annotations

from engine import backend
from engine.losses import squeeze_or_expand_to_same_rank
from engine.metrics import function_names
from engine.metrics.reduction_metrics import MeanMetricWrapper


def _prepare(y_true, y_pred):
    xp = backend.array_module(y_pred, y_true)
    y_pred = xp.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(backend.floatx())
    y_true = xp.asarray(y_true, dtype=y_pred.dtype)
    return (xp, *squeeze_or_expand_to_same_rank(y_true, y_pred))


@function_names.register
def pearson_correlation(y_true, y_pred, axis=-1):
    xp, y_true, y_pred = _prepare(y_true, y_pred)
    t = y_true - xp.mean(y_true, axis=axis, keepdims=True)
    p = y_pred - xp.mean(y_pred, axis=axis, keepdims=True)
    t = t / xp.std(t, axis=axis, keepdims=True)
    p = p / xp.std(p, axis=axis, keepdims=True)
    return xp.mean(t * p, axis=axis)


@function_names.register
def concordance_correlation(y_true, y_pred, axis=-1):
    """Keras's formula, which centres ``y_true`` on the mean of ``y_pred`` in the covariance."""
    xp, y_true, y_pred = _prepare(y_true, y_pred)
    t_mean = xp.mean(y_true, axis=axis, keepdims=True)
    p_mean = xp.mean(y_pred, axis=axis, keepdims=True)
    t_var = xp.var(y_true - t_mean, axis=axis, keepdims=True)
    p_var = xp.var(y_pred - p_mean, axis=axis, keepdims=True)
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = t_var + p_var + xp.square(t_mean - p_mean)
    eps = y_pred.dtype.type(backend.epsilon())
    return xp.mean(y_pred.dtype.type(2) * covar / (norm + eps), axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(fn=pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(fn=concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}
