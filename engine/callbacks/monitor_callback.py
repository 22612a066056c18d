"""MonitorCallback: shared logic of callbacks that watch one metric (mode, min_delta, best)."""
from __future__ import annotations

import operator
import warnings

from engine.callbacks.callback import Callback

# Metrics Keras maximizes (their ``_direction`` is "up"); everything else is minimized.
_MAXIMIZED = {
    "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision", "recall",
    "f1_score", "fbeta_score", "r2_score", "mean_iou", "iou", "one_hot_iou", "one_hot_mean_iou",
    "binary_iou", "cosine_similarity", "true_positives", "true_negatives", "precision_at_recall",
    "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity",
}


class MonitorCallback(Callback):
    """Base of callbacks that track the best value of ``monitor``.

    Args:
        monitor: the logs key to watch ("val_loss", "val_accuracy", ...).
        mode: "min", "max" or "auto" (losses are minimized, accuracy-like
            metrics maximized: the model's metric direction where it has one,
            else Keras 2's rule that names containing "acc" are maximized).
        baseline: the value to beat first, or None.
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            self.monitor_op = operator.gt if self._maximized(self.monitor.removeprefix("val_")) else operator.lt
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _maximized(self, metric_name: str) -> bool:
        if metric_name == "loss" or metric_name.endswith("_loss"):
            return False
        for m in _model_metrics(self.model):
            if getattr(m, "name", None) == metric_name and hasattr(m, "_direction"):
                return m._direction == "up"
        if metric_name in _MAXIMIZED:
            return True
        return "acc" in metric_name or metric_name.startswith("fmeasure")

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


def _model_metrics(model) -> list:
    """The model's metric objects, containers flattened; empty when it has none."""
    found = []
    for m in getattr(model, "metrics", None) or []:
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)):
            found.extend(inner)
        found.append(m)
    return found
