"""Graph and model behaviour: building, layers, shared layers, nested models, errors, training."""
import numpy as np
import pytest

from engine import Input, Model, Sequential, layers
from tests.engine.gradcheck import check_layer_gradients


def small_mlp():
    return Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])


def test_sequential_builds_from_input_shape_and_counts_params():
    model = small_mlp()
    assert [l.__class__.__name__ for l in model.layers] == ["Dense", "Dense"]
    assert model.inputs[0].shape == (None, 4)
    assert model.outputs[0].shape == (None, 3)
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert [w.shape for w in model.get_weights()] == [(4, 8), (8,), (8, 3), (3,)]


def test_sequential_without_input_shape_builds_on_first_predict():
    model = Sequential([layers.Dense(2)])
    out = model.predict(np.ones((5, 7), dtype="float32"))
    assert out.shape == (5, 2)
    assert model.layers[0].kernel.shape == (7, 2)


def test_sequential_pop_rebuilds():
    model = small_mlp()
    model.add(layers.Dense(2))
    model.pop()
    assert model.outputs[0].shape == (None, 3)
    assert len(model.layers[-1]._inbound_nodes) == 1


def test_get_layer_by_name_and_index_and_errors():
    model = small_mlp()
    first = model.layers[0]
    assert model.get_layer(name=first.name) is first
    assert model.get_layer(index=1) is model.layers[1]
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 9"):
        model.get_layer(index=9)


def test_summary_lists_layers_and_totals():
    lines = []
    small_mlp().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Layer (type)" in text and "(None, 8)" in text
    assert "Total params: 67" in text and "Trainable params: 67" in text and "Non-trainable params: 0" in text


def test_shared_layer_has_two_nodes_and_one_set_of_weights():
    a, b = Input(shape=(5,), name="a"), Input(shape=(5,), name="b")
    shared = layers.Dense(3, name="shared")
    merged = layers.concatenate([shared(a), shared(b)])
    model = Model([a, b], merged)
    assert len(shared._inbound_nodes) == 2
    assert shared.get_output_shape_at(1) == (None, 3)
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        _ = shared.output
    assert len(model.weights) == 2
    x = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    out = model.predict([x, x])
    np.testing.assert_allclose(out[:, :3], out[:, 3:], rtol=1e-6)


def test_nested_model_called_twice_shares_weights_and_trains():
    inner_in = Input(shape=(6,))
    inner = Model(inner_in, layers.Dense(4, activation="tanh")(inner_in), name="encoder")
    a, b = Input(shape=(6,)), Input(shape=(6,))
    out = layers.Dense(1, activation="sigmoid")(layers.concatenate([inner(a), inner(b)]))
    model = Model([a, b], out)
    assert len(model.weights) == 4
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((32, 6)), rng.standard_normal((32, 6))
    y = (xa.sum(1) > xb.sum(1)).astype("float32")
    before = inner.get_weights()[0].copy()
    model.fit([xa, xb], y, epochs=2, verbose=0)
    assert not np.allclose(before, inner.get_weights()[0])


def test_multi_input_output_dicts_by_name():
    x1, x2 = Input(shape=(3,), name="left"), Input(shape=(2,), name="right")
    h = layers.concatenate([x1, x2])
    out1 = layers.Dense(1, name="out1")(h)
    out2 = layers.Dense(2, activation="softmax", name="out2")(h)
    model = Model([x1, x2], [out1, out2])
    model.compile("sgd", loss={"out1": "mse", "out2": "categorical_crossentropy"}, loss_weights={"out1": 1.0, "out2": 0.5},
                  metrics={"out2": ["accuracy"]})
    rng = np.random.default_rng(2)
    x = {"left": rng.standard_normal((16, 3)), "right": rng.standard_normal((16, 2))}
    y = {"out1": rng.standard_normal((16, 1)), "out2": np.eye(2)[rng.integers(0, 2, 16)]}
    hist = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert set(hist.history) == {"loss", "out1_loss", "out2_loss", "out2_accuracy"}
    loss, l1, l2 = (hist.history[k][0] for k in ("loss", "out1_loss", "out2_loss"))
    assert loss == pytest.approx(l1 + 0.5 * l2, rel=1e-5)


def test_fit_before_compile_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="compile"):
        small_mlp().fit(np.ones((2, 4)), np.ones((2, 3)), verbose=0)


def test_wrong_input_count_and_shape_name_the_input():
    a, b = Input(shape=(3,), name="first"), Input(shape=(2,), name="second")
    model = Model([a, b], layers.Dense(1)(layers.concatenate([a, b])))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"got one value, the model has 2 \(first, second\)"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    with pytest.raises(ValueError, match="'second'"):
        model.fit([np.ones((4, 3)), np.ones((4, 5))], np.ones((4, 1)), verbose=0)
    with pytest.raises(ValueError, match="'dense"):
        model.fit([np.ones((4, 3)), np.ones((4, 2))], np.ones((4, 7)), verbose=0)


def test_unknown_loss_optimizer_metric_are_named():
    model = small_mlp()
    with pytest.raises(ValueError, match="nosuchloss"):
        model.compile("sgd", "nosuchloss")
        model.fit(np.ones((2, 4)), np.ones((2, 3)), verbose=0)
    with pytest.raises(ValueError, match="nosuchopt"):
        model.compile("nosuchopt", "mse")
    with pytest.raises(ValueError, match="nosuchmetric"):
        model.compile("sgd", "mse", metrics=["nosuchmetric"])
        model.fit(np.ones((2, 4)), np.ones((2, 3)), verbose=0)


def test_training_reduces_loss_and_evaluate_matches_metrics_names():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 4)).astype("float32")
    y = np.eye(3)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)]
    model = small_mlp()
    model.compile({"class_name": "Adam", "config": {"learning_rate": 0.02}}, "categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.7
    assert model.metrics_names == ["loss", "accuracy"]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == pytest.approx(acc)


def test_validation_split_and_freq_give_val_keys_only_on_chosen_epochs():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((50, 3))
    model = small_mlp()
    model.compile("sgd", "mse")
    hist = model.fit(x, y, epochs=4, validation_split=0.2, validation_freq=2, verbose=0)
    assert len(hist.history["loss"]) == 4
    assert len(hist.history["val_loss"]) == 2
    expected = model.evaluate(x[40:], y[40:], verbose=0)
    assert hist.history["val_loss"][-1] == pytest.approx(expected, rel=1e-5)


def test_initial_epoch_counts_to_epochs():
    model = small_mlp()
    model.compile("sgd", "mse")
    hist = model.fit(np.ones((8, 4)), np.ones((8, 3)), epochs=5, initial_epoch=3, verbose=0)
    assert hist.epoch == [3, 4]


def test_train_on_batch_and_test_on_batch():
    model = small_mlp()
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = np.ones((4, 4)), np.zeros((4, 3))
    loss, mae = model.train_on_batch(x, y)
    loss2 = model.test_on_batch(x, y)[0]
    assert loss2 < loss
    assert model.predict_on_batch(x).shape == (4, 3)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, activation="tanh", dtype="float64"),
    lambda: layers.Activation("softmax", dtype="float64"),
    lambda: layers.Flatten(dtype="float64"),
    lambda: layers.Reshape((2, 3), dtype="float64"),
    lambda: layers.Permute((2, 1), dtype="float64"),
    lambda: layers.RepeatVector(3, dtype="float64"),
])
def test_core_layer_gradients(make):
    rng = np.random.default_rng(5)
    layer = make()
    shape = (2, 3, 2) if isinstance(layer, (layers.Reshape, layers.Permute, layers.Flatten)) else (2, 4)
    if isinstance(layer, layers.RepeatVector):
        shape = (2, 4)
    x = rng.standard_normal(shape)
    layer.maybe_build(shape)
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("cls,kwargs", [
    (layers.Add, {}), (layers.Subtract, {}), (layers.Multiply, {}), (layers.Average, {}),
    (layers.Maximum, {}), (layers.Minimum, {}), (layers.Concatenate, {"axis": -1}),
    (layers.Dot, {"axes": 1}), (layers.Dot, {"axes": 1, "normalize": True}),
])
def test_merge_layer_gradients(cls, kwargs):
    rng = np.random.default_rng(6)
    layer = cls(dtype="float64", **kwargs)
    xs = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    layer.maybe_build([(3, 4), (3, 4)])
    check_layer_gradients(layer, xs)


def test_functional_model_gradient_through_shared_layer():
    a = Input(shape=(3,), dtype="float64")
    shared = layers.Dense(3, activation="tanh", dtype="float64")
    y = layers.Add(dtype="float64")([shared(a), shared(shared(a))])
    model = Model(a, y)
    x = np.random.default_rng(7).standard_normal((2, 3))
    check_layer_gradients(model, x)
