"""Keras 3 losses: classes, functions, ``get``/``serialize``, and the weighted reduction.

``get("mse")``, ``get("CategoricalCrossentropy")``, ``get({"class_name": ..., "config": ...})``,
``get(loss_instance)`` and ``get(callable)`` all return a :class:`Loss`; see
:mod:`engine.losses.loss` for its training hook (``forward`` / ``loss_and_grad``).
"""
from __future__ import annotations

import inspect

from engine import naming
from engine.losses.classes import (
    ALL_CLASSES,
    CTC,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    Circle,
    CosineSimilarity,
    Dice,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    Tversky,
)
from engine.losses.loss import Loss, LossFunctionWrapper
from engine.losses.public import (
    ALL_FUNCTIONS,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    circle,
    cosine_similarity,
    ctc,
    dice,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    tversky,
)
from engine.losses.reduction import (
    apply_mask,
    reduce_values,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
    standardize_reduction,
    weighted_reduction,
)

# Keras's short and legacy names.
bce = BCE = binary_crossentropy
kld = KLD = kullback_leibler_divergence = kl_divergence
mae = MAE = mean_absolute_error
mse = MSE = mean_squared_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh

ALL_OBJECTS_DICT = {obj.__name__: obj for obj in ALL_CLASSES + ALL_FUNCTIONS}
ALL_OBJECTS_DICT.update({
    "bce": bce, "BCE": bce, "kld": kld, "KLD": kld, "mae": mae, "MAE": mae, "mse": mse, "MSE": mse,
    "mape": mape, "MAPE": mape, "msle": msle, "MSLE": msle,
    # Keras 2 names that Keras 3 dropped.
    "kullback_leibler_divergence": kl_divergence, "logcosh": log_cosh, "huber_loss": huber,
})
_FUNCTION_NAMES = {fn.__name__: fn for fn in ALL_FUNCTIONS}


def _error(identifier):
    return ValueError(f"Could not interpret loss identifier: {identifier}")


def serialize_function(fn):
    """A loss function in Keras 3's serialized form (``class_name`` "function")."""
    return {"module": "builtins", "class_name": "function", "config": fn.__name__, "registered_name": "function"}


def serialize(loss):
    """A Loss (or loss function) in Keras 3's form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    if callable(loss) and getattr(loss, "__name__", None) in _FUNCTION_NAMES:
        return serialize_function(loss)
    raise ValueError(f"Cannot serialize loss {loss!r}: not a Keras loss")


def deserialize(config, functions_only=False):
    """A Loss class instance or loss function from a Keras 2/3 serialized dict (or a name)."""
    if isinstance(config, str):
        obj = ALL_OBJECTS_DICT.get(config)
    elif isinstance(config, dict) and "class_name" in config:
        class_name = config["class_name"]
        inner = config.get("config")
        if class_name == "function":
            obj = ALL_OBJECTS_DICT.get(inner) if isinstance(inner, str) else None
        else:
            cls = ALL_OBJECTS_DICT.get(class_name)
            if inspect.isclass(cls) and cls is not Loss and not functions_only:
                try:
                    return cls.from_config(dict(inner or {}))
                except TypeError as exc:
                    raise ValueError(f"Could not interpret loss identifier: {config} ({exc})") from exc
            obj = cls if callable(cls) and not inspect.isclass(cls) else None
    else:
        obj = None
    if obj is None or (functions_only and inspect.isclass(obj)):
        raise _error(config)
    return obj


def _crossentropy_for(y_true_shape, y_pred_shape):
    """Keras compile's choice for "crossentropy": binary, sparse or categorical, from the shapes."""
    if y_true_shape is None or y_pred_shape is None:
        return categorical_crossentropy
    if y_pred_shape[-1] == 1:
        return binary_crossentropy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return sparse_categorical_crossentropy
    return categorical_crossentropy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """The Loss for ``identifier``: a Keras name or alias, a dict, a Loss, a Loss class or a callable.

    Function names give a :class:`LossFunctionWrapper` named by the identifier, as
    ``model.compile`` names them. "crossentropy"/"ce" pick binary, sparse or categorical
    crossentropy from the shapes (tuples, batch axis None) as ``model.compile`` does
    (categorical when no shapes are given). ``None`` gives ``None`` (no loss for that output).
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        return LossFunctionWrapper(_crossentropy_for(y_true_shape, y_pred_shape), name=identifier)
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
        name = obj.__name__ if callable(obj) and not isinstance(obj, Loss) else None
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        name = identifier
    else:
        obj = identifier
        name = naming.to_snake_case(getattr(identifier, "__name__", type(identifier).__name__))
    if inspect.isclass(obj) and issubclass(obj, Loss) and obj not in (Loss, LossFunctionWrapper):
        return obj()
    if isinstance(obj, Loss):
        return obj
    if callable(obj) and not inspect.isclass(obj):
        return LossFunctionWrapper(obj, name=name)
    raise _error(identifier)


__all__ = [
    "Loss", "LossFunctionWrapper", "get", "serialize", "deserialize", "serialize_function", "reduce_values",
    "reduce_weighted_values", "weighted_reduction", "apply_mask", "squeeze_or_expand_to_same_rank",
    "standardize_reduction", "ALL_OBJECTS_DICT",
    "CTC", "ctc", "Circle", "circle", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "Dice", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "categorical_hinge", "cosine_similarity", "dice", "hinge", "huber", "kl_divergence", "log_cosh",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "poisson", "sparse_categorical_crossentropy", "squared_hinge", "tversky",
    "bce", "BCE", "kld", "KLD", "kullback_leibler_divergence", "mae", "MAE", "mse", "MSE", "mape", "MAPE",
    "msle", "MSLE", "logcosh",
]
