"""Activations against Keras 3 (outputs and jax.vjp gradients) and finite differences."""
import json
from pathlib import Path

import numpy as np
import pytest

from engine import activations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "activations"
CASES = json.loads((FIXTURES / "cases.json").read_text())
ARRAYS = np.load(FIXTURES / "activations.npz")


@pytest.mark.parametrize("case", sorted(CASES["cases"]))
def test_output_and_gradient_match_keras(case):
    spec = CASES["cases"][case]
    x = ARRAYS[spec["input"]]
    act = activations.Activation(spec["name"], **spec["kwargs"])
    y, backprop = act.forward(x)
    dx = backprop(ARRAYS[f"dy_{case}"])
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, ARRAYS[f"y_{case}"], rtol=1e-5, atol=1e-6)
    # Float32 rounding in tanh/erf near saturation gives both sides ~1e-6 absolute noise.
    np.testing.assert_allclose(dx, ARRAYS[f"dx_{case}"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES["cases"]))
def test_gradient_matches_finite_differences(case):
    spec = CASES["cases"][case]
    rng = np.random.default_rng(1)
    x = ARRAYS[spec["input"]].astype(np.float64)
    act = activations.Activation(spec["name"], **spec["kwargs"])
    y, backprop = act.forward(x)
    dy = rng.standard_normal(y.shape)
    v = rng.standard_normal(x.shape)
    h = 1e-6
    numeric = (np.sum(act(x + h * v) * dy) - np.sum(act(x - h * v) * dy)) / (2 * h)
    analytic = np.sum(backprop(dy) * v)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", sorted(CASES["serialized"]))
def test_serialize_writes_keras_names(name):
    assert activations.serialize(activations.get(name)) == CASES["serialized"][name]


def test_get_none_is_linear_and_keeps_input():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    act = activations.get(None)
    assert act.name == "linear"
    np.testing.assert_array_equal(act(x), x)


@pytest.mark.parametrize("identifier", [
    {"module": "keras.activations", "class_name": "function", "config": "tanh", "registered_name": "tanh"},
    {"class_name": "tanh", "config": {}},
    activations.tanh,
    "tanh",
])
def test_get_accepts_keras_forms(identifier):
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    act = activations.get(identifier)
    assert act.name == "tanh"
    np.testing.assert_allclose(act(x), np.tanh(x), rtol=1e-6)


def test_get_layer_dict_keeps_its_config():
    act = activations.get({"class_name": "LeakyReLU", "config": {"negative_slope": 0.5, "name": "lr"}})
    np.testing.assert_allclose(act(np.array([-2.0, 3.0], dtype=np.float32)), [-1.0, 3.0])


def test_unknown_name_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="not_an_activation"):
        activations.get("not_an_activation")
    with pytest.raises(ValueError, match="Swishy"):
        activations.get({"class_name": "Swishy", "config": {}})


def test_plain_callable_runs_forward_but_refuses_backprop():
    act = activations.get(lambda t: 2 * t)
    y, backprop = act.forward(np.ones(3, dtype=np.float32))
    np.testing.assert_array_equal(y, [2, 2, 2])
    with pytest.raises(TypeError, match="no derivative"):
        backprop(np.ones(3, dtype=np.float32))


def test_module_functions_match_keras_docstring_examples():
    x = np.array([-10, -5, 0.0, 5, 10], dtype=np.float32)
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    probs = activations.softmax(np.array([[1.0, 2.0, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(probs.sum(axis=-1), [1.0], rtol=1e-6)


def test_softmax_is_stable_for_large_logits():
    y = activations.softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])
    assert np.isfinite(activations.log_softmax(np.array([[1e4, 0.0]], dtype=np.float32))).all()


def test_integer_input_becomes_float32():
    assert activations.sigmoid(np.array([0, 1, 2])).dtype == np.float32


@pytest.mark.parametrize("name", ["relu", "softmax", "linear", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_call_owned_gives_the_same_bits_as_a_call(name, dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(scale=30, size=(64, 33)).astype(dtype)
    z[0, :3] = [np.nan, -0.0, np.inf]
    act = activations.get(name)
    expected = act(z.copy())
    owned = z.copy()
    got = act.call_owned(owned)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    if name in ("relu", "softmax"):
        assert got is owned  # computed where it was, without a new array


def test_call_owned_leaves_views_and_arguments_alone():
    z = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)
    view = z[:, ::2]
    expected = activations.get("relu")(view.copy())
    np.testing.assert_array_equal(activations.get("relu").call_owned(view), expected)
    assert (z < 0).any()  # a strided view is not overwritten
    leaky = activations.Activation("relu", negative_slope=0.1)
    np.testing.assert_array_equal(leaky.call_owned(z.copy()), leaky(z.copy()))


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_forward_owned_gives_the_same_bits_and_gradients_as_forward(name):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(32, 17)).astype(np.float32)
    z[0, :3] = [np.nan, -0.0, np.inf]
    dy = rng.normal(size=z.shape).astype(np.float32)
    dy[1, :2] = [np.nan, np.inf]
    act = activations.get(name)
    y, bp = act.forward(z.copy())
    y_owned, bp_owned = act.forward_owned(z.copy())
    np.testing.assert_array_equal(y_owned, y)
    np.testing.assert_array_equal(bp_owned(dy), bp(dy))
    np.testing.assert_array_equal(bp_owned(dy[:, ::-1].copy()[:, ::-1]), bp(dy))  # a strided gradient too
