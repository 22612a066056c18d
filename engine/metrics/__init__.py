"""Keras 3 metrics: stateful ``update_state`` / ``result`` / ``reset_state`` objects.

``get(identifier, y_true_shape=None, y_pred_shape=None, loss=None)`` resolves names
(including compile's "accuracy"), dicts, instances and callables; see
:mod:`engine.metrics.registry`.
"""
from __future__ import annotations

from engine.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from engine.metrics.confusion_metrics import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from engine.metrics.correlation_metrics import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from engine.metrics.f_score_metrics import F1Score, FBetaScore
from engine.metrics.iou_metrics import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from engine.metrics.loss_metrics import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from engine.metrics.metric import Metric
from engine.metrics.reduction_metrics import Mean, MeanMetricWrapper, Sum
from engine.metrics.registry import ALL_OBJECTS_DICT, deserialize, get, serialize
from engine.metrics.regression_metrics import R2Score, RootMeanSquaredError

__all__ = [
    "BinaryIoU", "ConcordanceCorrelation", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "PearsonCorrelation",
    "concordance_correlation", "pearson_correlation",
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy", "CategoricalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Hinge",
    "KLDivergence",
    "LogCoshError", "Mean", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanMetricWrapper",
    "MeanSquaredError", "MeanSquaredLogarithmicError", "Metric", "Poisson", "Precision", "PrecisionAtRecall",
    "R2Score", "Recall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy", "SquaredHinge", "Sum", "TopKCategoricalAccuracy", "TrueNegatives",
    "TruePositives", "ALL_OBJECTS_DICT", "accuracy", "binary_accuracy", "categorical_accuracy", "deserialize",
    "get", "serialize", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
