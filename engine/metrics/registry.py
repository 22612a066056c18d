"""Metric names, ``get`` (with compile's "accuracy" resolution) and ``serialize``.

Names follow Keras 3: a string identifier becomes the metric's name (so
``"acc"`` shows as ``acc`` and ``"mse"`` as ``mse`` in History), a Metric keeps its
own name, a plain function is wrapped in MeanMetricWrapper named after it.
"""
from __future__ import annotations

import inspect

from engine import naming
from engine.metrics import accuracy_metrics as acc
from engine.metrics import confusion_metrics as conf
from engine.metrics import correlation_metrics as corr
from engine.metrics import f_score_metrics as fs
from engine.metrics import function_names
from engine.metrics import iou_metrics as iou
from engine.metrics import loss_metrics as lm
from engine.metrics import regression_metrics as reg
from engine.metrics.function_names import deserialize_function, serialize_function
from engine.metrics.metric import Metric
from engine.metrics.reduction_metrics import Mean, MeanMetricWrapper, Sum
from engine.registry import serialized

ALL_CLASSES = (
    Metric, Mean, Sum, MeanMetricWrapper,
    lm.MeanSquaredError, reg.RootMeanSquaredError, lm.MeanAbsoluteError, lm.MeanAbsolutePercentageError,
    lm.MeanSquaredLogarithmicError, lm.CosineSimilarity, lm.LogCoshError, reg.R2Score,
    conf.AUC, conf.FalseNegatives, conf.FalsePositives, conf.Precision, conf.Recall, conf.TrueNegatives,
    conf.TruePositives, conf.PrecisionAtRecall, conf.RecallAtPrecision, conf.SensitivityAtSpecificity,
    conf.SpecificityAtSensitivity,
    lm.Hinge, lm.SquaredHinge, lm.CategoricalHinge,
    lm.KLDivergence, lm.Poisson, lm.BinaryCrossentropy, lm.CategoricalCrossentropy, lm.SparseCategoricalCrossentropy,
    acc.Accuracy, acc.BinaryAccuracy, acc.CategoricalAccuracy, acc.SparseCategoricalAccuracy,
    acc.TopKCategoricalAccuracy, acc.SparseTopKCategoricalAccuracy, fs.F1Score, fs.FBetaScore,
    iou.IoU, iou.BinaryIoU, iou.MeanIoU, iou.OneHotIoU, iou.OneHotMeanIoU,
    corr.PearsonCorrelation, corr.ConcordanceCorrelation,
)

ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_CLASSES}
ALL_OBJECTS_DICT.update({naming.to_snake_case(cls.__name__): cls for cls in ALL_CLASSES})
ALL_OBJECTS_DICT.update({
    "bce": lm.BinaryCrossentropy, "BCE": lm.BinaryCrossentropy, "mse": lm.MeanSquaredError,
    "MSE": lm.MeanSquaredError, "mae": lm.MeanAbsoluteError, "MAE": lm.MeanAbsoluteError,
    "mape": lm.MeanAbsolutePercentageError, "MAPE": lm.MeanAbsolutePercentageError,
    "msle": lm.MeanSquaredLogarithmicError, "MSLE": lm.MeanSquaredLogarithmicError,
})
# Keras 2 names that Keras 3 dropped.
ALL_OBJECTS_DICT.update({
    "logcosh": lm.LogCoshError, "kld": lm.KLDivergence, "KLD": lm.KLDivergence,
    "kullback_leibler_divergence": lm.KLDivergence, "cosine_proximity": lm.CosineSimilarity,
    "rmse": reg.RootMeanSquaredError,
})

def _error(identifier):
    return ValueError(f"Could not interpret metric identifier: {identifier}")


def serialize(metric):
    """A Metric in Keras 3's form ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(metric, Metric):
        return serialized("keras.metrics", metric)
    if callable(metric) and function_names.find(getattr(metric, "__name__", None)) is not None:
        return serialize_function(metric)
    raise ValueError(f"Cannot serialize metric {metric!r}: not a Keras metric")


def deserialize(config):
    """A Metric (or metric function) from a Keras 2/3 serialized dict."""
    class_name = config.get("class_name")
    if class_name == "function":
        return deserialize_function(config)
    cls = ALL_OBJECTS_DICT.get(class_name)
    if not inspect.isclass(cls) or cls in (Metric, MeanMetricWrapper) and "fn" not in (config.get("config") or {}):
        raise _error(config)
    try:
        return cls.from_config(dict(config.get("config") or {}))
    except TypeError as exc:
        raise ValueError(f"Could not interpret metric identifier: {config} ({exc})") from exc


def _is_binary_or_sparse(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    return is_binary, is_sparse


def _shape_from_loss(loss):
    """(is_binary, is_sparse) guessed from the compiled loss when shapes are not known."""
    name = loss if isinstance(loss, str) else getattr(getattr(loss, "fn", None), "__name__", None)
    name = name or naming.to_snake_case(type(loss).__name__)
    return name in ("binary_crossentropy", "bce", "BCE", "binary_focal_crossentropy"), "sparse" in name


def _by_task(identifier, y_true_shape, y_pred_shape, loss, binary, sparse, categorical):
    if y_true_shape is not None and y_pred_shape is not None:
        is_binary, is_sparse = _is_binary_or_sparse(tuple(y_true_shape), tuple(y_pred_shape))
    elif loss is not None:
        is_binary, is_sparse = _shape_from_loss(loss)
    else:
        return None
    if is_binary:
        return binary(name=str(identifier))
    if is_sparse:
        return sparse(name=str(identifier))
    return categorical(name=str(identifier))


def get(identifier, y_true_shape=None, y_pred_shape=None, loss=None, keras2_names=False):
    """The Metric for ``identifier``, named as it appears in History (Keras 3's ``get_metric``).

    "accuracy"/"acc" become Binary/SparseCategorical/CategoricalAccuracy from the shapes
    (tuples, batch axis None) as Keras 3 decides; "crossentropy"/"ce" likewise pick the
    matching crossentropy (Keras 2's behaviour; Keras 3 rejects these names). Without
    shapes, the compiled ``loss`` decides; with neither, "accuracy" is ``keras.metrics.get``'s
    exact-match Accuracy and "crossentropy" CategoricalCrossentropy (enough to validate names).
    A class name ("AUC") names the metric as given, as Keras 3 does, or by the class's default
    name ("auc") with ``keras2_names``, as Keras 2 did.
    """
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    lowered = str(identifier).lower() if isinstance(identifier, str) else None
    if lowered in ("accuracy", "acc"):
        metric = _by_task(identifier, y_true_shape, y_pred_shape, loss, acc.BinaryAccuracy,
                          acc.SparseCategoricalAccuracy, acc.CategoricalAccuracy)
        return metric or acc.Accuracy(name=identifier)
    if lowered in ("crossentropy", "ce"):
        metric = _by_task(identifier, y_true_shape, y_pred_shape, loss, lm.BinaryCrossentropy,
                          lm.SparseCategoricalCrossentropy, lm.CategoricalCrossentropy)
        return metric or lm.CategoricalCrossentropy(name=identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
        if not isinstance(obj, Metric):
            obj = MeanMetricWrapper(obj, name=obj.__name__)
        return obj
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier)
        if cls is None and function_names.find(identifier) is not None:
            return MeanMetricWrapper(function_names.find(identifier), name=identifier)
        if not inspect.isclass(cls) or cls in (Metric, MeanMetricWrapper):
            raise _error(identifier)
        try:
            metric = cls()
        except TypeError as exc:
            raise ValueError(f"Could not interpret metric identifier: {identifier} ({exc})") from exc
        if not (keras2_names and identifier == cls.__name__):
            metric.name = identifier
        return metric
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=naming.to_snake_case(identifier.__name__))
    raise _error(identifier)
