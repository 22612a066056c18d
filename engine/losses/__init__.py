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
    BCE,
    FUNCTIONS_BY_NAME,
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    bce,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    circle,
    cosine_similarity,
    ctc,
    deserialize_function,
    dice,
    hinge,
    huber,
    kl_divergence,
    kld,
    kullback_leibler_divergence,
    log_cosh,
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    serialize_function,
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
from engine.registry import serialized

ALL_OBJECTS_DICT = {**{cls.__name__: cls for cls in ALL_CLASSES}, **FUNCTIONS_BY_NAME}


def _error(identifier):
    return ValueError(f"Could not interpret loss identifier: {identifier}")


def serialize(loss):
    """A Loss (or loss function) in Keras 3's form: ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(loss, Loss):
        return serialized("keras.losses", loss)
    if callable(loss) and getattr(loss, "__name__", None) in {fn.__name__ for fn in ALL_FUNCTIONS}:
        return serialize_function(loss)
    raise ValueError(f"Cannot serialize loss {loss!r}: not a Keras loss")


def deserialize(config):
    """A Loss class instance or loss function from a Keras 2/3 serialized dict (or a name)."""
    class_name = config.get("class_name") if isinstance(config, dict) else config
    cls = ALL_OBJECTS_DICT.get(class_name) if isinstance(class_name, str) else None
    if not inspect.isclass(cls):
        return deserialize_function(config)
    if isinstance(config, str):
        return cls
    if cls is Loss:
        raise _error(config)
    try:
        return cls.from_config(dict(config.get("config") or {}))
    except TypeError as exc:
        raise ValueError(f"Could not interpret loss identifier: {config} ({exc})") from exc


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
    "Loss", "LossFunctionWrapper", "get", "serialize", "deserialize", "serialize_function", "deserialize_function",
    "reduce_values",
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
