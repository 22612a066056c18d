"""engine.losses against Keras 3.15: values, jax.grad of the weighted loss, names, get/serialize."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import losses

FIXTURES = Path(__file__).parent.parent / "fixtures" / "keras" / "losses_metrics_optimizers"
CASES = json.loads((FIXTURES / "losses.json").read_text())
ARRAYS = np.load(FIXTURES / "losses.npz", allow_pickle=False)
NAMES = json.loads((FIXTURES / "names.json").read_text())


def _case_id(case):
    return f"{case['id']}-{case['loss']['class_name']}-{case['inputs']}-{case['weights']}"


def _inputs(case):
    cid = case["id"]
    sw = ARRAYS[f"{cid}/sample_weight"] if f"{cid}/sample_weight" in ARRAYS else None
    return ARRAYS[f"{cid}/y_true"], ARRAYS[f"{cid}/y_pred"], sw


def _close(actual, expected, rtol=1e-5):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-6)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_value_and_gradient_match_keras(case):
    loss = losses.get(case["loss"])
    y_true, y_pred, sw = _inputs(case)
    value, grad = loss.loss_and_grad(y_true, y_pred, sample_weight=sw)
    _close(value, ARRAYS[f"{case['id']}/value"])
    assert grad.dtype == np.float32 and grad.shape == y_pred.shape
    _close(grad, ARRAYS[f"{case['id']}/grad"])
    _close(loss(y_true, y_pred, sample_weight=sw), ARRAYS[f"{case['id']}/value"])


@pytest.mark.parametrize("case", [c for c in CASES if c["weights"] == "none"], ids=_case_id)
def test_forward_values_are_keras_unreduced_values(case):
    loss = losses.get(case["loss"])
    y_true, y_pred, _ = _inputs(case)
    values, backprop = loss.forward(y_true, y_pred)
    _close(values, ARRAYS[f"{case['id']}/values"])
    assert backprop(np.ones_like(values)).shape == y_pred.shape


def _fd_inputs(name, rng):
    """(loss, y_true, y_pred) in float64 away from clip bounds, kinks and ties."""
    probs = rng.uniform(0.1, 0.9, size=(4, 3))
    labels01 = rng.integers(0, 2, size=(4, 3)).astype("float64")
    onehot = np.eye(3)[rng.integers(0, 3, size=4)]
    reg_t, reg_p = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    table = {
        "mse": (losses.MeanSquaredError, reg_t, reg_p),
        "mae": (losses.MeanAbsoluteError, reg_t, reg_p),
        "mape": (losses.MeanAbsolutePercentageError, reg_t, reg_p),
        "msle": (losses.MeanSquaredLogarithmicError, np.abs(reg_t), np.abs(reg_p) + 0.1),
        "cosine": (losses.CosineSimilarity, reg_t, reg_p),
        "huber": (lambda **kw: losses.Huber(delta=0.7, **kw), reg_t, reg_p),
        "log_cosh": (losses.LogCosh, reg_t, reg_p),
        "hinge": (losses.Hinge, labels01, reg_p),
        "squared_hinge": (losses.SquaredHinge, labels01, reg_p),
        "categorical_hinge": (losses.CategoricalHinge, onehot, reg_p),
        "kld": (losses.KLDivergence, probs / probs.sum(-1, keepdims=True), probs),
        "poisson": (losses.Poisson, np.abs(reg_t), probs),
        "bce": (lambda **kw: losses.BinaryCrossentropy(label_smoothing=0.1, **kw), labels01, probs),
        "bce_logits": (lambda **kw: losses.BinaryCrossentropy(from_logits=True, **kw), labels01, reg_p),
        "focal": (lambda **kw: losses.BinaryFocalCrossentropy(apply_class_balancing=True, **kw), labels01, probs),
        "focal_logits": (lambda **kw: losses.BinaryFocalCrossentropy(from_logits=True, gamma=1.5, **kw),
                         labels01, reg_p),
        "cce": (losses.CategoricalCrossentropy, onehot, probs),
        "cce_logits": (lambda **kw: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, **kw),
                       onehot, reg_p),
        "cfce": (losses.CategoricalFocalCrossentropy, onehot, probs),
        "cfce_logits": (lambda **kw: losses.CategoricalFocalCrossentropy(from_logits=True, **kw), onehot, reg_p),
        "scce": (losses.SparseCategoricalCrossentropy, onehot.argmax(-1), probs),
        "scce_logits": (lambda **kw: losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, **kw),
                        onehot.argmax(-1), reg_p),
        "dice": (losses.Dice, labels01, probs),
        "circle": (lambda **kw: losses.Circle(gamma=2.0, **kw), np.array([0, 1, 0, 1]),
                   rng.normal(size=(4, 3)) / 2),
        "ctc": (losses.CTC, np.array([[1, 2, 2], [3, 0, 0], [1, 1, 0], [2, 3, 1]]), rng.normal(size=(4, 6, 4))),
        "tversky": (lambda **kw: losses.Tversky(alpha=0.3, beta=0.7, axis=-1, **kw), labels01, probs),
    }
    factory, y_true, y_pred = table[name]
    return factory(dtype="float64"), y_true, y_pred


FD_NAMES = ["mse", "mae", "mape", "msle", "cosine", "huber", "log_cosh", "hinge", "squared_hinge",
            "categorical_hinge", "kld", "poisson", "bce", "bce_logits", "focal", "focal_logits", "cce",
            "cce_logits", "cfce", "cfce_logits", "scce", "scce_logits", "dice", "tversky", "ctc", "circle"]


@pytest.mark.parametrize("name", FD_NAMES)
def test_backprop_matches_finite_differences_in_float64(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    loss, y_true, y_pred = _fd_inputs(name, rng)
    sw = rng.uniform(0.5, 1.5, size=(4,))
    _, grad = loss.loss_and_grad(y_true, y_pred, sample_weight=sw)
    assert grad.dtype == np.float64
    numeric = np.zeros_like(y_pred)
    h = 1e-6
    for idx in np.ndindex(*y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss(y_true, up, sample_weight=sw) - loss(y_true, down, sample_weight=sw)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_forward_backprop_is_gradient_of_sum_over_batch_size():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=(5,))
    y_pred = rng.normal(size=(5, 4)).astype("float32")
    loss = losses.get({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}})
    values, backprop = loss.forward(y_true, y_pred)
    assert values.shape == (5,)
    d_pred = backprop(np.full((5,), 1 / 5, dtype="float32"))
    _, expected = loss.loss_and_grad(y_true, y_pred)
    np.testing.assert_allclose(d_pred, expected, rtol=1e-6)


def test_reduce_values_follows_keras_reductions():
    values = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")
    sw = np.array([1.0, 0.0, 2.0, 1.0], dtype="float32")
    weighted = values * sw
    assert losses.reduce_values(weighted, sw, "sum_over_batch_size") == pytest.approx(11 / 4)
    assert losses.reduce_values(weighted, sw, "sum") == pytest.approx(11)
    assert losses.reduce_values(weighted, sw, "mean_with_sample_weight") == pytest.approx(11 / 4)
    np.testing.assert_array_equal(losses.reduce_values(weighted, sw, "none"), weighted)
    assert losses.reduce_weighted_values(values, sw[:, None]) == pytest.approx(11 / 4)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_temporal_values_take_per_sample_weights_over_timesteps():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2))
    sw = np.array([1.0, 0.0, 2.0])
    loss = losses.MeanSquaredError()
    expected = loss(y_true, y_pred, sample_weight=np.repeat(sw[:, None], 5, axis=1))
    assert loss(y_true, y_pred, sample_weight=sw) == pytest.approx(expected, rel=1e-6)


def test_mask_averages_over_unmasked_entries():
    y_true = np.zeros((2, 3, 1), dtype="float32")
    y_pred = np.arange(6, dtype="float32").reshape(2, 3, 1)
    mask = np.array([[True, True, False], [True, False, False]])
    value, grad = losses.MeanSquaredError().loss_and_grad(y_true, y_pred, mask=mask)
    assert value == pytest.approx((0 + 1 + 9) / 3)
    assert grad[0, 2, 0] == 0 and grad[1, 0, 0] == pytest.approx(2 * 3 / 3)


@pytest.mark.parametrize("name,cls", [
    ("mse", losses.LossFunctionWrapper), ("mean_squared_error", losses.LossFunctionWrapper),
    ("MeanSquaredError", losses.MeanSquaredError), ("mae", losses.LossFunctionWrapper),
    ("kld", losses.LossFunctionWrapper), ("kullback_leibler_divergence", losses.LossFunctionWrapper),
    ("logcosh", losses.LossFunctionWrapper), ("KLDivergence", losses.KLDivergence),
    ("binary_crossentropy", losses.LossFunctionWrapper), ("Huber", losses.Huber),
])
def test_get_resolves_keras_names(name, cls):
    loss = losses.get(name)
    assert isinstance(loss, cls)
    if cls is losses.LossFunctionWrapper:
        assert loss.name == name


def test_every_keras_alias_resolves():
    skipped = {"Loss", "LossFunctionWrapper"}
    for name in NAMES["loss_aliases"]:
        if name not in skipped:
            assert isinstance(losses.get(name), losses.Loss), name


def test_get_rejects_unknown_identifiers_by_name():
    with pytest.raises(ValueError, match="Could not interpret loss identifier: mean_cubed_error"):
        losses.get("mean_cubed_error")
    with pytest.raises(ValueError, match="NoSuchLoss"):
        losses.get({"class_name": "NoSuchLoss", "config": {}})
    with pytest.raises(ValueError, match="42"):
        losses.get(42)


def test_serialize_matches_keras_forms_and_round_trips():
    ser = NAMES["serialized"]
    assert losses.serialize(losses.mean_squared_error) == ser["loss_function"]
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert losses.serialize(bce) == ser["loss_class"]
    again = losses.get(ser["loss_class"])
    assert isinstance(again, losses.BinaryCrossentropy) and again.from_logits is True
    assert losses.get(ser["loss_function"]).fn is losses.mean_squared_error
    wrapper = losses.get("mse")
    restored = losses.get(losses.serialize(wrapper))
    assert isinstance(restored, losses.LossFunctionWrapper) and restored.fn is losses.mean_squared_error
    assert restored.name == "mse"


def test_configs_match_keras():
    for name, config in NAMES["loss_configs"].items():
        ours = getattr(losses, name)().get_config()
        assert {k: ours[k] for k in config} == config, name
    assert losses.Huber(delta=0.3).get_config()["delta"] == 0.3


def test_keras2_configs_are_accepted():
    loss = losses.get({"class_name": "CategoricalCrossentropy",
                       "config": {"reduction": "auto", "name": "categorical_crossentropy", "from_logits": True,
                                  "label_smoothing": 0.0, "axis": -1}})
    assert loss.reduction == "sum_over_batch_size" and loss.from_logits


def test_plain_callable_gives_values_but_no_gradient():
    def my_loss(y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    loss = losses.get(my_loss)
    assert loss.name == "my_loss"
    y = np.ones((2, 3), dtype="float32")
    assert loss(y, y * 2) == pytest.approx(1.0)
    _, backprop = loss.forward(y, y * 2)
    with pytest.raises(TypeError, match="my_loss"):
        backprop(np.ones(2, dtype="float32"))


@pytest.mark.parametrize("label", sorted(k for k in NAMES["accuracy_resolution"] if "/" not in k))
def test_crossentropy_resolves_like_keras_compile(label):
    shapes = {
        "t(n,1)_p(n,1)": ((None, 1), (None, 1)), "t(n,)_p(n,1)": ((None,), (None, 1)),
        "t(n,)_p(n,4)": ((None,), (None, 4)), "t(n,1)_p(n,4)": ((None, 1), (None, 4)),
        "t(n,4)_p(n,4)": ((None, 4), (None, 4)), "t(n,5)_p(n,5,4)": ((None, 5), (None, 5, 4)),
        "t(n,5,4)_p(n,5,4)": ((None, 5, 4), (None, 5, 4)),
    }[label]
    loss = losses.get("crossentropy", *shapes)
    assert loss.fn.__name__ == NAMES["accuracy_resolution"][label + "/crossentropy_loss"]
    assert loss.name == "crossentropy"


def test_custom_loss_subclass_reduces_like_keras_but_has_no_gradient():
    class Doubled(losses.Loss):
        def call(self, y_true, y_pred):
            return 2 * np.mean(np.abs(y_true - y_pred), axis=-1)

    loss = Doubled(reduction="sum")
    assert loss.name == "doubled"
    y = np.zeros((3, 2), dtype="float32")
    assert loss(y, y + 1) == pytest.approx(6.0)
    with pytest.raises(TypeError, match="doubled"):
        loss.loss_and_grad(y, y + 1)


def test_keras2_function_wrapper_config_is_accepted():
    loss = losses.get({"class_name": "LossFunctionWrapper",
                       "config": {"fn": "mean_absolute_error", "name": "mae", "reduction": "auto"}})
    assert loss.fn is losses.mean_absolute_error and loss.name == "mae"
