"""Loss: Keras 3's loss base class, plus the engine's training hook.

* ``loss(y_true, y_pred, sample_weight=None, mask=None)`` -> Keras's reduced value
  (a float; an array for reduction "none").
* ``loss.forward(y_true, y_pred)`` -> ``(values, backprop)``: ``values`` unreduced
  (e.g. ``(batch,)`` or ``(batch, timesteps)``), ``backprop(d_values)`` ->
  ``d_y_pred`` shaped like ``y_pred`` in the loss's dtype (float32).
* ``loss.loss_and_grad(y_true, y_pred, sample_weight=None, mask=None)`` ->
  ``(reduced value, d_y_pred)``: the whole Keras computation with its gradient,
  including the loss's reduction and the mask that ``ignore_class`` adds.
"""
from __future__ import annotations

import abc

import numpy as np

from engine import backend, naming
from engine.losses.public import deserialize_function, serialize_function
from engine.losses.reduction import (
    squeeze_or_expand_to_same_rank,
    standardize_reduction,
    weighted_reduction,
)


def _no_gradient(name):
    def backprop(d_values):
        raise TypeError(
            f"Loss {name!r} is a plain function without a derivative in this engine; "
            "train with one of the built-in Keras losses"
        )

    return backprop


def _combine_masks(in_mask, out_mask):
    if in_mask is None:
        return out_mask
    if out_mask is None:
        return in_mask
    return in_mask.astype(bool) & out_mask.astype(bool)


def _scalar_or_array(x):
    return float(x) if getattr(x, "ndim", 0) == 0 else x


class Loss(abc.ABC):
    """Base class of losses: subclasses implement ``call(y_true, y_pred) -> values``."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or naming.uniquify(naming.to_snake_case(type(self).__name__))
        self.reduction = standardize_reduction(reduction)
        self.dtype = backend.standardize_dtype(dtype)

    @abc.abstractmethod
    def call(self, y_true, y_pred):
        """Unreduced loss values for one batch."""

    def _convert(self, y_true, y_pred):
        xp = backend.array_module(y_pred, y_true)
        return xp.asarray(y_true, dtype=self.dtype), xp.asarray(y_pred, dtype=self.dtype)

    def _compute(self, y_true, y_pred):
        """(values, backprop, output mask or None); custom subclasses have no derivative."""
        y_true, y_pred = self._convert(y_true, y_pred)
        return self.call(y_true, y_pred), _no_gradient(self.name), None

    def forward(self, y_true, y_pred):
        """(unreduced values, backprop(d_values) -> d_y_pred)."""
        with np.errstate(all="ignore"):
            values, backprop, _ = self._compute(y_true, y_pred)
        return values, backprop

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        with np.errstate(all="ignore"):
            values, _, out_mask = self._compute(y_true, y_pred)
            loss, _ = weighted_reduction(values, sample_weight, _combine_masks(mask, out_mask),
                                         self.reduction, self.dtype)
        return _scalar_or_array(loss)

    def loss_and_grad(self, y_true, y_pred, sample_weight=None, mask=None):
        """(reduced loss, d loss / d y_pred); for reduction "none", the gradient of the summed values."""
        with np.errstate(all="ignore"):
            values, backprop, out_mask = self._compute(y_true, y_pred)
            loss, d_values = weighted_reduction(values, sample_weight, _combine_masks(mask, out_mask),
                                                self.reduction, self.dtype)
            return _scalar_or_array(loss), backprop(d_values)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A loss function ``fn(y_true, y_pred, **kwargs) -> values`` as a Loss.

    ``y_true`` and ``y_pred`` are ranked-matched first (Keras's
    ``squeeze_or_expand_to_same_rank``). Built-in functions carry their
    derivative (``fn.forward``); other callables give values only.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self._compute(y_true, y_pred)[0]

    def _compute(self, y_true, y_pred):
        y_true, y_pred = self._convert(y_true, y_pred)
        shape = tuple(y_pred.shape)
        yt, yp = squeeze_or_expand_to_same_rank(y_true, y_pred)
        forward = getattr(self.fn, "forward", None)
        if forward is None:
            return self.fn(yt, yp, **self._fn_kwargs), _no_gradient(self.name), None
        values, inner = forward(yt, yp, **self._fn_kwargs)
        output_mask = getattr(self.fn, "output_mask", None)
        mask = output_mask(yt, yp, values, **self._fn_kwargs) if output_mask is not None else None

        def backprop(d_values):
            return inner(d_values).reshape(shape)

        return values, backprop, mask

    def get_config(self):
        """Loss's config, the function (only for a wrapper of a given one: each subclass fixes its
        function, and Keras leaves it out) and the function's keyword arguments."""
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = serialize_function(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize_function(config["fn"])
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"
