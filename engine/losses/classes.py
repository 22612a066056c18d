"""Keras 3's loss classes: a loss function, its default name and its keyword arguments, which are
also its config keys (:class:`LossFunctionWrapper` writes them; a class leaves out the function)."""
from __future__ import annotations

from engine.losses import public as fns
from engine.losses.loss import Loss, LossFunctionWrapper


class _SimpleLoss(LossFunctionWrapper):
    """A wrapper without keyword arguments: its config is only ``name`` and ``reduction`` (as in Keras)."""

    _fn = None
    _default_name = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(type(self)._fn, name=name or self._default_name, reduction=reduction, dtype=dtype)


class MeanSquaredError(_SimpleLoss):
    _fn = staticmethod(fns.mean_squared_error)
    _default_name = "mean_squared_error"


class MeanAbsoluteError(_SimpleLoss):
    _fn = staticmethod(fns.mean_absolute_error)
    _default_name = "mean_absolute_error"


class MeanAbsolutePercentageError(_SimpleLoss):
    _fn = staticmethod(fns.mean_absolute_percentage_error)
    _default_name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_SimpleLoss):
    _fn = staticmethod(fns.mean_squared_logarithmic_error)
    _default_name = "mean_squared_logarithmic_error"


class LogCosh(_SimpleLoss):
    _fn = staticmethod(fns.log_cosh)
    _default_name = "log_cosh"


class Hinge(_SimpleLoss):
    _fn = staticmethod(fns.hinge)
    _default_name = "hinge"


class SquaredHinge(_SimpleLoss):
    _fn = staticmethod(fns.squared_hinge)
    _default_name = "squared_hinge"


class CategoricalHinge(_SimpleLoss):
    _fn = staticmethod(fns.categorical_hinge)
    _default_name = "categorical_hinge"


class KLDivergence(_SimpleLoss):
    _fn = staticmethod(fns.kl_divergence)
    _default_name = "kl_divergence"


class Poisson(_SimpleLoss):
    _fn = staticmethod(fns.poisson)
    _default_name = "poisson"


class CosineSimilarity(LossFunctionWrapper):
    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(fns.cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(fns.huber, name=name, reduction=reduction, dtype=dtype, delta=delta)
        self.delta = delta


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(fns.binary_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(fns.binary_focal_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(fns.categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(fns.categorical_focal_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, alpha=alpha,
                         gamma=gamma)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.alpha = alpha
        self.gamma = gamma


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(fns.sparse_categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class


class Dice(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(fns.dice, name=name, reduction=reduction, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(fns.tversky, name=name, reduction=reduction, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha = alpha
        self.beta = beta
        self.axis = axis


class CTC(_SimpleLoss):
    """Connectionist temporal classification; labels (batch, max_length) with 0 as blank and padding."""

    _fn = staticmethod(fns.ctc)
    _default_name = "ctc"


class Circle(LossFunctionWrapper):
    """Circle loss between integer labels and L2-normalised embeddings (metric learning)."""

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size",
                 name="circle", dtype=None):
        super().__init__(fns.circle, name=name, reduction=reduction, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal


ALL_CLASSES = (
    Loss, LossFunctionWrapper, KLDivergence, Poisson, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCosh, Huber,
    Hinge, SquaredHinge, CategoricalHinge, Dice, Tversky, CTC, Circle,
)
