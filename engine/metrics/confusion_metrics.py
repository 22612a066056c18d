"""Keras 3's confusion-matrix metrics: TruePositives & co., Precision, Recall, AUC and the
"rate at a given other rate" metrics (SensitivityAtSpecificity & co.)."""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.metrics.confusion_matrix import (
    NEG_INF,
    is_evenly_distributed,
    parse_thresholds,
    update_confusion_matrix,
)
from engine.metrics.metric import Metric, divide_no_nan

_NAMES = {"tp": "true_positives", "fp": "false_positives", "tn": "true_negatives", "fn": "false_negatives"}


def _result(values, n_thresholds):
    values = backend.to_numpy(values)
    return float(values[0]) if n_thresholds == 1 else values


class _ConfusionMetric(Metric):
    """Accumulates the confusion counts named in ``_conds`` per threshold."""

    _conds: tuple = ()

    def _init_thresholds(self, thresholds, top_k, class_id, default):
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = parse_thresholds(thresholds, default_threshold=default)
        self._evenly = is_evenly_distributed(self.thresholds)
        for cond in self._conds:
            self.add_variable(_NAMES[cond], (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = {c: getattr(self, _NAMES[c]) for c in self._conds}
        counts = update_confusion_matrix(counts, y_true, y_pred, self.thresholds, top_k=self.top_k,
                                         class_id=self.class_id, sample_weight=sample_weight,
                                         thresholds_distributed_evenly=self._evenly, dtype=self.dtype)
        for cond, value in counts.items():
            setattr(self, _NAMES[cond], value)


class _ConditionCount(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._init_thresholds(thresholds, None, None, 0.5)

    def result(self):
        return _result(getattr(self, _NAMES[self._conds[0]]), len(self.thresholds))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    _conds = ("tp",)


class FalsePositives(_ConditionCount):
    _conds = ("fp",)


class TrueNegatives(_ConditionCount):
    _conds = ("tn",)


class FalseNegatives(_ConditionCount):
    _conds = ("fn",)


class _PrecisionRecall(_ConfusionMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._init_thresholds(thresholds, top_k, class_id, 0.5 if top_k is None else NEG_INF)

    def _ratio(self, other):
        xp = backend.array_module(self.true_positives)
        tp = xp.asarray(self.true_positives)
        return _result(divide_no_nan(xp, tp, tp + xp.asarray(other)), len(self.thresholds))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp) per threshold (a float for one threshold)."""

    _conds = ("tp", "fp")

    def result(self):
        return self._ratio(self.false_positives)


class Recall(_PrecisionRecall):
    """tp / (tp + fn) per threshold (a float for one threshold)."""

    _conds = ("tp", "fn")

    def result(self):
        return self._ratio(self.false_negatives)


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "majoring": "majoring", "minoring": "minoring"}


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at ``num_thresholds`` thresholds.

    Default thresholds are ``[-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps]`` as in Keras.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        curve_key = str(curve).lower()
        if curve_key not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        method_key = str(summation_method).lower()
        if method_key not in _SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". '
                'Expected values are ["interpolation", "majoring", "minoring"]'
            )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._evenly = is_evenly_distributed(np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - backend.epsilon()] + list(thresholds) + [1.0 + backend.epsilon()]
        self.curve = _CURVES[curve_key]
        self.summation_method = _SUMMATIONS[method_key]
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=self.dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                                 f"Full shape received for `y_pred`: {shape}")
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        for cond in ("tp", "fp", "tn", "fn"):
            self.add_variable(_NAMES[cond], var_shape)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.array_module(y_pred, y_true)
        y_pred = xp.asarray(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self._from_logits:
            e = xp.exp(-xp.abs(y_pred))
            y_pred = xp.where(y_pred >= 0, 1 / (1 + e), e / (1 + e))
        counts = {c: getattr(self, _NAMES[c]) for c in ("tp", "tn", "fp", "fn")}
        counts = update_confusion_matrix(
            counts, y_true, y_pred, self._thresholds, sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
            thresholds_distributed_evenly=self._evenly, dtype=self.dtype)
        for cond, value in counts.items():
            setattr(self, _NAMES[cond], value)

    def _by_label(self, terms):
        if not self.multi_label:
            return float(terms.sum())
        by_label = terms.sum(axis=0)
        if self.label_weights is None:
            return float(by_label.mean())
        lw = self.label_weights
        total = lw.sum()
        return float((by_label * lw).sum() / total) if total != 0 else 0.0

    def _interpolate_pr_auc(self, tp, fp, fn):
        n = self.num_thresholds
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        prec_slope = divide_no_nan(np, dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        with np.errstate(all="ignore"):
            safe_p_ratio = np.where((p[: n - 1] > 0) & (p[1:] > 0),
                                    divide_no_nan(np, p[: n - 1], np.maximum(p[1:], 0)), np.ones_like(p[1:]))
            increment = divide_no_nan(np, prec_slope * (dtp + intercept * np.log(safe_p_ratio)),
                                      np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def result(self):
        tp, fp, tn, fn = (backend.to_numpy(getattr(self, _NAMES[c])) for c in ("tp", "fp", "tn", "fn"))
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = divide_no_nan(np, tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(np, fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(np, tp, tp + fp)
        else:
            scaling = divide_no_nan(np, tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * divide_no_nan(np, fn, tp)
            precision_gain = 1.0 - scaling * divide_no_nan(np, fp, tp)
            recall_gain = np.where(tp == 0, np.float32(0.0), recall_gain)
            precision_gain = np.where(tp == 0, np.float32(1.0), precision_gain)
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / np.float32(2.0)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[: n - 1], y[1:])
        else:
            heights = np.maximum(y[: n - 1], y[1:])
        return self._by_label((x[: n - 1] - x[1:]) * heights)

    def get_config(self):
        config = {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class _AtConstraint(_ConfusionMetric):
    """Best value of one rate among thresholds where another rate is at least ``value``.

    Thresholds are ``[0, 1/(n-1), ..., 1]`` (``[0.5]`` when ``num_thresholds`` is 1).
    """

    _conds = ("tp", "fp", "tn", "fn")
    _value_arg = ""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._value_arg}` must be in the range [0, 1]. "
                             f"Received: {self._value_arg}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds}")
        super().__init__(name=name, dtype=dtype)
        self.value = value
        self.num_thresholds = num_thresholds
        setattr(self, self._value_arg, value)
        if num_thresholds == 1:
            thresholds = [0.5]
        else:
            thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
        self._init_thresholds(thresholds, None, class_id, 0.5)
        self._evenly = num_thresholds != 1

    def _rates(self):
        tp, fp, tn, fn = (backend.to_numpy(getattr(self, _NAMES[c])) for c in ("tp", "fp", "tn", "fn"))
        return {"sensitivity": divide_no_nan(np, tp, tp + fn), "specificity": divide_no_nan(np, tn, tn + fp),
                "precision": divide_no_nan(np, tp, tp + fp)}

    def _max_under_constraint(self, constrained, dependent):
        return float(np.max(np.where(constrained >= np.float32(self.value), dependent, np.float32(0)), initial=0))

    def get_config(self):
        return {**Metric.get_config(self), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._value_arg: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    _value_arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["specificity"], r["sensitivity"])


class SpecificityAtSensitivity(_AtConstraint):
    _value_arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["specificity"])


class PrecisionAtRecall(_AtConstraint):
    _value_arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["precision"])


class RecallAtPrecision(_AtConstraint):
    _value_arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["precision"], r["sensitivity"])
