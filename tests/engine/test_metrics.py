"""engine.metrics against Keras 3.15: results after an unweighted and a weighted update, names, get."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import metrics

FIXTURES = Path(__file__).parent.parent / "fixtures" / "keras" / "losses_metrics_optimizers"
CASES = json.loads((FIXTURES / "metrics.json").read_text())
ARRAYS = np.load(FIXTURES / "metrics.npz", allow_pickle=False)
NAMES = json.loads((FIXTURES / "names.json").read_text())


def _case_id(case):
    return f"{case['id']}-{case['metric']['class_name']}-{case['inputs']}"


def _close(actual, expected, rtol=1e-5):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(float(np.abs(expected).max()), 1e-3))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_results_match_keras_after_two_updates(case):
    m = metrics.get(case["metric"])
    a = {k.split("/", 1)[1]: ARRAYS[k] for k in ARRAYS.files if k.startswith(case["id"] + "/")}
    if case["inputs"] == "values":
        m.update_state(a["values1"])
        _close(m.result(), a["result1"])
        m.update_state(a["values2"], sample_weight=a["sample_weight"])
    else:
        m.update_state(a["y_true1"], a["y_pred1"])
        _close(m.result(), a["result1"])
        m.update_state(a["y_true2"], a["y_pred2"], sample_weight=a["sample_weight"])
    _close(m.result(), a["result2"])
    m.reset_state()
    assert np.all(np.asarray(m.result()) == 0) or case["metric"]["class_name"] == "R2Score"


def test_history_names_of_string_and_object_metrics_match_keras():
    """The names compile gives metrics: the string as written, an object's own name, a function's name."""
    keras_keys = set(NAMES["history_binary"])
    identifiers = ["accuracy", "acc", "mse", "mae", "AUC", "auc", "binary_crossentropy", "bce",
                   "mean_squared_error", "MeanAbsoluteError"]
    for ident in identifiers:
        assert metrics.get(ident, (None, 1), (None, 1)).name in keras_keys
    assert metrics.Recall(name="rec").name in keras_keys

    def custom_metric_fn(y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    assert metrics.get(custom_metric_fn).name in keras_keys
    for ident in ("accuracy", "top_k_categorical_accuracy", "categorical_crossentropy", "kl_divergence"):
        assert metrics.get(ident, (None, 4), (None, 4)).name in NAMES["history_categorical"]
    for ident in ("acc", "sparse_top_k_categorical_accuracy"):
        assert metrics.get(ident, (None,), (None, 4)).name in NAMES["history_sparse"]


SHAPES = {
    "t(n,1)_p(n,1)": ((None, 1), (None, 1)), "t(n,)_p(n,1)": ((None,), (None, 1)),
    "t(n,)_p(n,4)": ((None,), (None, 4)), "t(n,1)_p(n,4)": ((None, 1), (None, 4)),
    "t(n,4)_p(n,4)": ((None, 4), (None, 4)), "t(n,5)_p(n,5,4)": ((None, 5), (None, 5, 4)),
    "t(n,5,4)_p(n,5,4)": ((None, 5, 4), (None, 5, 4)),
}


@pytest.mark.parametrize("label", sorted(SHAPES))
def test_accuracy_resolves_like_keras_compile(label):
    y_true_shape, y_pred_shape = SHAPES[label]
    m = metrics.get("accuracy", y_true_shape, y_pred_shape)
    assert type(m).__name__ == NAMES["accuracy_resolution"][label]
    assert m.name == "accuracy"
    ce = metrics.get("crossentropy", y_true_shape, y_pred_shape)
    assert ce._fn.__name__ == NAMES["accuracy_resolution"][label + "/crossentropy_loss"]
    assert ce.name == "crossentropy"


def test_accuracy_without_shapes_follows_the_loss():
    assert isinstance(metrics.get("acc", loss="sparse_categorical_crossentropy"), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("acc", loss="binary_crossentropy"), metrics.BinaryAccuracy)
    assert isinstance(metrics.get("acc", loss="categorical_crossentropy"), metrics.CategoricalAccuracy)


def test_every_keras_metric_alias_we_support_resolves():
    unsupported = {"Metric", "MeanMetricWrapper", "metric", "mean_metric_wrapper"}
    needs_arguments = {"PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity",
                       "SpecificityAtSensitivity", "precision_at_recall", "recall_at_precision",
                       "sensitivity_at_specificity", "specificity_at_sensitivity", "IoU", "io_u", "MeanIoU",
                       "mean_io_u", "OneHotIoU", "one_hot_io_u", "OneHotMeanIoU", "one_hot_mean_io_u"}
    for name in NAMES["metric_aliases"]:
        if name in unsupported or name.lower() == "accuracy":
            continue
        if name in needs_arguments:
            with pytest.raises(ValueError, match=name):
                metrics.get(name)
            continue
        m = metrics.get(name)
        assert isinstance(m, metrics.Metric) and m.name == name


def test_get_errors_name_the_identifier():
    with pytest.raises(ValueError, match="Could not interpret metric identifier: f2_score_xyz"):
        metrics.get("f2_score_xyz")
    with pytest.raises(ValueError, match="NoSuchMetric"):
        metrics.get({"class_name": "NoSuchMetric", "config": {}})
    with pytest.raises(ValueError, match="None"):
        metrics.get(None)


def test_serialize_and_configs_match_keras():
    assert metrics.serialize(metrics.AUC(name="auc")) == NAMES["serialized"]["metric_class"]
    for name, config in NAMES["metric_configs"].items():
        ours = getattr(metrics, name)(name=config["name"]).get_config()
        assert ours == config, name
    restored = metrics.get(metrics.serialize(metrics.BinaryAccuracy(threshold=0.7, name="ba")))
    assert isinstance(restored, metrics.BinaryAccuracy) and restored.threshold == 0.7 and restored.name == "ba"


def test_default_names_are_uniquified_like_keras():
    first, second = metrics.Precision(), metrics.Precision()
    assert second.name != first.name and second.name.startswith("precision")
    assert metrics.Mean().name == "mean"


def test_plain_function_metric_is_averaged():
    def abs_diff(y_true, y_pred):
        return np.abs(y_true - y_pred)[..., 0]

    m = metrics.get(abs_diff)
    m.update_state(np.zeros((2, 1)), np.array([[1.0], [3.0]]))
    m.update_state(np.zeros((2, 1)), np.array([[2.0], [0.0]]), sample_weight=np.array([1.0, 0.0]))
    assert m.result() == pytest.approx((1 + 3 + 2) / 3)


def test_loss_tracker_mean_weighs_scalars_by_batch_size():
    m = metrics.Mean(name="loss")
    m.update_state(2.0, sample_weight=32)
    m.update_state(1.0, sample_weight=8)
    assert m.result() == pytest.approx((2 * 32 + 8) / 40)


def test_sparse_crossentropy_metric_with_ignore_class_skips_weighted_entries():
    y_true = np.array([0, 1, 2, 1])
    y_pred = np.full((4, 3), 1 / 3, dtype="float32")
    m = metrics.SparseCategoricalCrossentropy(ignore_class=1)
    m.update_state(y_true, y_pred, sample_weight=np.ones(4))
    assert m.result() == pytest.approx(np.log(3), rel=1e-6)


def test_accuracy_without_shapes_or_loss_is_keras_metrics_get_accuracy():
    assert type(metrics.get("accuracy")) is metrics.Accuracy
    assert metrics.get("acc").name == "acc"


def test_top_k_precision_keeps_the_lower_index_among_ties():
    m = metrics.Precision(top_k=1)
    m.update_state(np.array([[0.0, 1.0, 0.0]]), np.array([[0.5, 0.5, 0.1]], dtype="float32"))
    assert m.result() == 0.0


def test_keras2_mean_metric_wrapper_config_is_accepted():
    m = metrics.get({"class_name": "MeanMetricWrapper",
                     "config": {"name": "acc", "dtype": "float32", "fn": "binary_accuracy"}})
    m.update_state(np.array([[1.0], [0.0]]), np.array([[0.9], [0.8]]))
    assert m.name == "acc" and m.result() == pytest.approx(0.5)
