"""Keras 3's loss functions as ``keras.losses`` exposes them: ``fn(y_true, y_pred, **kwargs) -> values``.

Each also carries ``fn.forward`` (values and backprop, from
:mod:`engine.losses.functions`); ``sparse_categorical_crossentropy`` carries
``fn.output_mask(y_true, y_pred, values, **kwargs)``, the mask its ``ignore_class`` puts
on the values, and ``circle`` the mask of its positive values.
"""
from __future__ import annotations

import numpy as np

from engine.losses import circle as circle_module
from engine.losses import ctc as ctc_module
from engine.losses import functions


def _values_only(forward, output_mask=None):
    def fn(y_true, y_pred, **kwargs):
        with np.errstate(all="ignore"):
            return forward(y_true, y_pred, **kwargs)[0]

    fn.__name__ = fn.__qualname__ = forward.__name__
    fn.__doc__ = f"Keras's ``{forward.__name__}``: unreduced loss values (last axis reduced)."
    fn.forward = forward
    fn.output_mask = output_mask
    return fn


mean_squared_error = _values_only(functions.mean_squared_error)
mean_absolute_error = _values_only(functions.mean_absolute_error)
mean_absolute_percentage_error = _values_only(functions.mean_absolute_percentage_error)
mean_squared_logarithmic_error = _values_only(functions.mean_squared_logarithmic_error)
cosine_similarity = _values_only(functions.cosine_similarity)
huber = _values_only(functions.huber)
log_cosh = _values_only(functions.log_cosh)
hinge = _values_only(functions.hinge)
squared_hinge = _values_only(functions.squared_hinge)
categorical_hinge = _values_only(functions.categorical_hinge)
kl_divergence = _values_only(functions.kl_divergence)
poisson = _values_only(functions.poisson)
categorical_crossentropy = _values_only(functions.categorical_crossentropy)
categorical_focal_crossentropy = _values_only(functions.categorical_focal_crossentropy)
binary_crossentropy = _values_only(functions.binary_crossentropy)
binary_focal_crossentropy = _values_only(functions.binary_focal_crossentropy)
dice = _values_only(functions.dice)
tversky = _values_only(functions.tversky)
ctc = _values_only(ctc_module.ctc)


def _sparse_output_mask(y_true, y_pred, values, from_logits=False, ignore_class=None, axis=-1):
    return functions.sparse_valid_mask(y_true, y_pred, ignore_class, axis)


def _positive_values(y_true, y_pred, values, **kwargs):
    return values > 0


sparse_categorical_crossentropy = _values_only(functions.sparse_categorical_crossentropy, _sparse_output_mask)
circle = _values_only(circle_module.circle, _positive_values)

ALL_FUNCTIONS = (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    cosine_similarity, huber, log_cosh, hinge, squared_hinge, categorical_hinge, kl_divergence, poisson,
    categorical_crossentropy, categorical_focal_crossentropy, sparse_categorical_crossentropy,
    binary_crossentropy, binary_focal_crossentropy, dice, tversky, ctc, circle,
)

# Keras's short and legacy names.
bce = BCE = binary_crossentropy
kld = KLD = kullback_leibler_divergence = kl_divergence
mae = MAE = mean_absolute_error
mse = MSE = mean_squared_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh

FUNCTIONS_BY_NAME = {fn.__name__: fn for fn in ALL_FUNCTIONS}
FUNCTIONS_BY_NAME.update({
    "bce": bce, "BCE": bce, "kld": kld, "KLD": kld, "mae": mae, "MAE": mae, "mse": mse, "MSE": mse,
    "mape": mape, "MAPE": mape, "msle": msle, "MSLE": msle,
    # Keras 2 names that Keras 3 dropped.
    "kullback_leibler_divergence": kl_divergence, "logcosh": log_cosh, "huber_loss": huber,
})


def serialize_function(fn):
    """A loss function in Keras 3's serialized form (``class_name`` "function")."""
    return {"module": "builtins", "class_name": "function", "config": fn.__name__, "registered_name": "function"}


def deserialize_function(config):
    """The loss function named by ``config``: a name, Keras 3's ``{"class_name": "function", "config":
    name}`` or Keras 2's ``{"class_name": name}``."""
    name = config
    if isinstance(config, dict):
        name = config.get("config") if config.get("class_name") == "function" else config.get("class_name")
    fn = FUNCTIONS_BY_NAME.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"Could not interpret loss identifier: {config}")
    return fn
