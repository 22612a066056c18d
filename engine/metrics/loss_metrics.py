"""Metrics that average a Keras loss function over samples (Keras 3's regression,
probabilistic and hinge metrics built on MeanMetricWrapper)."""
from __future__ import annotations

from engine import losses
from engine.metrics import function_names
from engine.metrics.reduction_metrics import MeanMetricWrapper


@function_names.register
def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine similarity along ``axis`` (the loss's value without its minus sign)."""
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


class _LossMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose config is ``name`` and ``dtype`` only."""

    _fn = None
    _default_name = None

    def __init__(self, name=None, dtype=None):
        super().__init__(fn=type(self)._fn, name=name or self._default_name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanSquaredError(_LossMetric):
    _fn = staticmethod(losses.mean_squared_error)
    _default_name = "mean_squared_error"


class MeanAbsoluteError(_LossMetric):
    _fn = staticmethod(losses.mean_absolute_error)
    _default_name = "mean_absolute_error"


class MeanAbsolutePercentageError(_LossMetric):
    _fn = staticmethod(losses.mean_absolute_percentage_error)
    _default_name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_LossMetric):
    _fn = staticmethod(losses.mean_squared_logarithmic_error)
    _default_name = "mean_squared_logarithmic_error"


class LogCoshError(_LossMetric):
    _fn = staticmethod(losses.log_cosh)
    _default_name = "logcosh"


class KLDivergence(_LossMetric):
    _fn = staticmethod(losses.kl_divergence)
    _default_name = "kl_divergence"


class Poisson(_LossMetric):
    _fn = staticmethod(losses.poisson)
    _default_name = "poisson"


class Hinge(_LossMetric):
    _fn = staticmethod(losses.hinge)
    _default_name = "hinge"


class SquaredHinge(_LossMetric):
    _fn = staticmethod(losses.squared_hinge)
    _default_name = "squared_hinge"


class CategoricalHinge(_LossMetric):
    _fn = staticmethod(losses.categorical_hinge)
    _default_name = "categorical_hinge"


class CosineSimilarity(MeanMetricWrapper):
    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name, dtype=dtype, axis=axis)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(losses.binary_crossentropy, name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}
