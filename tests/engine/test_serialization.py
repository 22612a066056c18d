"""Model JSON, weights files and model files: Keras 3 and Keras 2 formats in, Keras 3 format out.

Fixtures: tests/fixtures/keras/make_core.py (real Keras 3), tests/fixtures/keras2/make_keras2.py
(Keras 2 twins of the same models) and tests/fixtures/keras/fitq_models.py (fitq's own JSON,
which real Keras loaded).
"""
from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import Input, Model, Sequential, layers
from engine.layers.base import Layer
from engine.saving.layer_registry import register

FIXTURES = Path(__file__).parent.parent / "fixtures"
CORE = FIXTURES / "keras" / "core"
MODELS = json.loads((CORE / "models.json").read_text())
ARRAYS = np.load(CORE / "models.npz", allow_pickle=False)
KERAS2 = FIXTURES / "keras2"

_spec = importlib.util.spec_from_file_location("fitq_models", FIXTURES / "keras" / "fitq_models.py")
fitq_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fitq_models)


def arrays(prefix):
    out, i = [], 0
    while f"{prefix}/{i}" in ARRAYS.files:
        out.append(ARRAYS[f"{prefix}/{i}"])
        i += 1
    return out


def single(values):
    return values[0] if len(values) == 1 else values


def as_list(preds):
    return preds if isinstance(preds, list) else [preds]


# ------------------------------------------------------------ Keras 2 twins
@pytest.mark.parametrize("flavor", ["tf_keras", "keras_2_3"])
@pytest.mark.parametrize("name", sorted(p.stem for p in (KERAS2 / "tf_keras").glob("*.json")))
def test_keras2_json_predicts_like_its_keras3_twin(flavor, name):
    text = (KERAS2 / flavor / f"{name}.json").read_text()
    model = engine.model_from_json(text)
    twin = engine.model_from_json(MODELS[name])
    assert [layer.name for layer in model.layers] == [layer.name for layer in twin.layers]
    model.set_weights(arrays(f"{name}/w"))
    preds = model.predict(single(arrays(f"{name}/x")), verbose=0)
    expected = arrays(f"{name}/pred")
    # Keras 2 returns one array for a one-output model, a list otherwise.
    assert isinstance(preds, list) == (len(expected) > 1)
    for p, e in zip(as_list(preds), expected, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-5, atol=1e-6)


def test_keras2_regularizers_and_constraints_are_loaded():
    model = engine.model_from_json((KERAS2 / "keras_2_3" / "core_layers.json").read_text())
    dense = model.get_layer("reg_dense")
    assert dense.get_config()["kernel_regularizer"]["config"] == pytest.approx({"l1": 0.01, "l2": 0.01})
    assert dense.get_config()["kernel_constraint"]["class_name"] == "MaxNorm"
    assert dense.activity_regularizer is not None
    assert dense.get_config()["kernel_initializer"]["class_name"] in ("VarianceScaling", "GlorotUniform")


def test_keras2_nested_sequential_and_functional_nodes_are_renumbered():
    model = engine.model_from_json((KERAS2 / "tf_keras" / "nested_shared.json").read_text())
    inner_seq, inner_fun = model.get_layer("inner_seq"), model.get_layer("inner_functional")
    assert len(inner_seq._inbound_nodes) == 2 and len(inner_fun._inbound_nodes) == 2
    # The second output comes from inner_functional's second call, on inner_seq's second output.
    second_call = inner_fun._inbound_nodes[1]
    assert second_call.input_tensors[0] is inner_seq._inbound_nodes[1].output_tensors[0]


def test_standalone_keras_2_0_sequential_config_as_a_plain_list():
    config = json.loads((KERAS2 / "keras_2_3" / "mlp.json").read_text())
    config["config"] = config["config"]["layers"]
    model = engine.model_from_json(json.dumps(config))
    model.set_weights(arrays("mlp/w"))
    np.testing.assert_allclose(model.predict(arrays("mlp/x")[0], verbose=0), arrays("mlp/pred")[0], rtol=1e-5)


def test_keras1_layer_keys_are_translated():
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Dense", "config": {"output_dim": 3, "init": "zero", "batch_input_shape": [None, 2],
                                           "bias": False, "W_regularizer": None, "name": "old"}},
        {"class_name": "Dropout", "config": {"p": 0.25, "name": "old_drop"}}]}
    model = engine.model_from_json(json.dumps(config))
    dense, drop = model.layers
    assert dense.units == 3 and dense.use_bias is False and drop.rate == 0.25
    assert model.get_weights()[0].shape == (2, 3) and not model.get_weights()[0].any()


# ----------------------------------------------------------- Keras 3 input
def test_keras3_shared_layer_and_nested_models_keep_their_calls():
    model = engine.model_from_json(MODELS["nested_shared"])
    assert len(model.get_layer("shared")._inbound_nodes) == 2
    assert [t._keras_history[0].name for t in model.outputs] == ["first", "second"]
    assert model.count_params() == sum(a.size for a in arrays("nested_shared/w"))


def test_keras3_mask_op_layers_are_left_out():
    config = json.loads(MODELS["masked_rnn"])
    assert {"NotEqual", "Any"} <= {e["class_name"] for e in config["config"]["layers"]}
    model = engine.model_from_json(MODELS["masked_rnn"])
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Masking", "LSTM", "Dense"]


def test_keras3_dtype_policies_module_keys_and_unknown_off_options_are_accepted():
    config = json.loads(MODELS["mlp"])
    dense = config["config"]["layers"][1]
    assert dense["config"]["dtype"]["class_name"] == "DTypePolicy" and "module" in dense
    dense["config"]["quantization_config"] = None
    model = engine.model_from_json(json.dumps(config))
    assert model.layers[0].dtype == "float32"


@register
class StatePlus(Layer):
    """Test layer: ``inputs[0] + sum(inputs[1:])``, as an RNN takes ``[x] + initial states``."""

    def call(self, inputs, training=False, mask=None):
        out = inputs[0]
        for s in inputs[1:]:
            out = out + s
        return out

    def forward(self, inputs, training=False, mask=None):
        return self.call(inputs), lambda d: [d] * len(inputs)


def _tensor(name, node=0):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 2], "dtype": "float32",
                                                        "keras_history": [name, node, 0]}}


def _input_entry(name):
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": name,
            "config": {"batch_shape": [None, 2], "dtype": "float32", "name": name}, "inbound_nodes": []}


def test_keras_initial_state_kwargs_load_as_extra_inputs_and_are_written_back():
    model = engine.model_from_json(MODELS["rnn_initial_state"])
    assert [t._keras_history[0].name for t in model.get_layer("lstm")._inbound_nodes[0].input_tensors] == [
        "seq", "h0", "c0"]
    written = json.loads(model.to_json())["config"]["layers"]
    lstm = next(e for e in written if e["name"] == "lstm")["inbound_nodes"][0]
    assert [t["config"]["keras_history"][0] for t in lstm["kwargs"]["initial_state"]] == ["h0", "c0"]
    assert lstm["args"][0]["config"]["keras_history"][0] == "seq"


def test_initial_state_kwargs_become_extra_list_inputs_and_mask_training_are_ignored():
    config = {"class_name": "Functional", "config": {"name": "states", "layers": [
        _input_entry("x"), _input_entry("h"), _input_entry("c"),
        {"class_name": "StatePlus", "name": "rnn", "config": {"name": "rnn"}, "inbound_nodes": [
            {"args": [_tensor("x")], "kwargs": {"initial_state": [_tensor("h"), _tensor("c")], "mask": None,
                                                "training": False}}]}],
        "input_layers": [["x", 0, 0], ["h", 0, 0], ["c", 0, 0]], "output_layers": ["rnn", 0, 0]}}
    model = engine.model_from_json(json.dumps(config))
    node = model.get_layer("rnn")._inbound_nodes[0]
    assert [t._keras_history[0].name for t in node.input_tensors] == ["x", "h", "c"]
    ones = np.ones((1, 2), "float32")
    np.testing.assert_allclose(model.predict([ones, 2 * ones, 3 * ones], verbose=0), 6 * ones)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("text, message", [
    ("{not json", "could not be parsed"),
    ("[1, 2]", "class_name"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [{"class_name": "Conv9D", "config": {}}]}}),
     "Conv9D"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {"function": ["4wEAAAAA", None, None], "function_type": "lambda"}}]}}),
     "code in models is not allowed"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "MyDense", "config": {"function": "evil"}}]}}), "code in models is not allowed"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"module": "mine", "class_name": "Dense", "registered_name": "Custom>Dense", "config": {"units": 1}}]}}),
     "Custom>Dense"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": 2, "kernel_size": 3}}]}}), "Dense"),
])
def test_bad_model_json_is_a_value_error_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        engine.model_from_json(text)


def test_a_node_referring_to_a_missing_layer_is_a_value_error():
    config = json.loads(MODELS["binary"])
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "ghost"
    with pytest.raises(ValueError, match="ghost"):
        engine.model_from_json(json.dumps(config))


# ------------------------------------------------------------ to_json out
@pytest.mark.parametrize("name", sorted(fitq_models.BUILDERS))
def test_to_json_is_the_text_real_keras_loaded(name):
    """fitq_to_json.json is what keras.models.model_from_json loaded (roundtrip.json says what it built)."""
    verified = json.loads((CORE / "fitq_to_json.json").read_text())[name]
    model = fitq_models.BUILDERS[name]()
    assert model.to_json() == verified
    keras_built = json.loads((CORE / "roundtrip.json").read_text())[name]
    assert keras_built["params"] == model.count_params()
    assert keras_built["layers"] == [layer.name for layer in model.layers]


def test_keras_reads_fitq_weights_file_and_predicts_like_fitq():
    model = fitq_models.nested_with_weights()
    keras_preds = np.load(CORE / "roundtrip.npz")
    for i, p in enumerate(model.predict(fitq_models.nested_inputs(), verbose=0)):
        np.testing.assert_allclose(p, keras_preds[f"nested/pred/{i}"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(fitq_models.BUILDERS))
def test_to_json_round_trips_in_fitq(name):
    model = fitq_models.BUILDERS[name]()
    again = engine.model_from_json(model.to_json())
    assert again.to_json() == model.to_json()
    again.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    if isinstance(model._input_kind, tuple):
        x = {t._keras_history[0].name: rng.normal(size=(3,) + t.shape[1:]).astype("float32") for t in model.inputs}
    else:
        x = single([rng.normal(size=(3,) + t.shape[1:]).astype("float32") for t in model.inputs])
    got, want = again.predict(x, verbose=0), model.predict(x, verbose=0)
    if isinstance(want, dict):
        got, want = [got[k] for k in sorted(want)], [want[k] for k in sorted(want)]
    for g, w in zip(as_list(got), as_list(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_keras3_json_round_trips_through_fitq_to_keras3_json():
    for name, text in MODELS.items():
        model = engine.model_from_json(text)
        again = engine.model_from_json(model.to_json())
        assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers], name
        assert again.to_json() == model.to_json(), name


def test_get_config_from_config_for_sequential_and_functional():
    seq = fitq_models.sequential()
    clone = Sequential.from_config(seq.get_config())
    assert [type(layer).__name__ for layer in clone.layers] == ["Dense", "Dropout", "Dense"]
    fun = fitq_models.merges()
    clone = Model.from_config(fun.get_config())
    assert clone.count_params() == fun.count_params() and len(clone.inputs) == 2


def test_unbuilt_sequential_writes_no_input_layer_and_builds_on_load():
    seq = Sequential([layers.Dense(2, name="lazy")], name="lazy_seq")
    config = json.loads(seq.to_json())
    assert [e["class_name"] for e in config["config"]["layers"]] == ["Dense"]
    seq.build((None, 3))
    loaded = engine.model_from_json(seq.to_json())
    assert loaded.get_weights()[0].shape == (3, 2)


# ------------------------------------------------------------ weights files
def test_npz_weights_round_trip_in_order_and_by_name(tmp_path):
    model = engine.model_from_json(MODELS["merges"])
    model.set_weights(arrays("merges/w"))
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path) as data:
        assert data.files[:2] == ["da/kernel", "da/bias"]
    other = engine.model_from_json(MODELS["merges"])
    other.load_weights(path)
    for a, b in zip(other.get_weights(), arrays("merges/w"), strict=True):
        np.testing.assert_array_equal(a, b)
    other = engine.model_from_json(MODELS["merges"])
    other.load_weights(path, by_name=True)
    np.testing.assert_array_equal(other.get_layer("merged").get_weights()[0], model.get_layer("merged").get_weights()[0])


def test_weights_that_do_not_fit_raise_unless_skipped(tmp_path):
    small = Sequential([Input((3,)), layers.Dense(2, name="d")])
    big = Sequential([Input((4,)), layers.Dense(2, name="d")])
    small.save_weights(tmp_path / "small.npz")
    before = big.get_weights()
    with pytest.raises(ValueError, match="shape"):
        big.load_weights(tmp_path / "small.npz")
    big.load_weights(tmp_path / "small.npz", skip_mismatch=True)
    np.testing.assert_array_equal(big.get_weights()[0], before[0])
    np.testing.assert_array_equal(big.get_weights()[1], small.get_weights()[1])
    with pytest.raises(ValueError, match="already exists"):
        small.save_weights(tmp_path / "small.npz", overwrite=False)


def test_reads_a_keras3_weights_h5_file():
    pytest.importorskip("h5py")
    model = engine.model_from_json(MODELS["nested_shared"])
    model.load_weights(CORE / "keras_nested_shared.weights.h5")
    for a, b in zip(model.get_weights(), arrays("nested_shared/w"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_h5_weights_round_trip_in_fitq(tmp_path):
    pytest.importorskip("h5py")
    model = fitq_models.nested_with_weights()
    model.save_weights(tmp_path / "m.weights.h5")
    other = fitq_models.nested()
    other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- model files
def test_model_file_keeps_config_weights_and_compile_settings(tmp_path):
    model = engine.model_from_json(MODELS["two_output"])
    model.set_weights(arrays("two_output/w"))
    model.compile(optimizer=engine.optimizers.Adam(learning_rate=0.01), loss={"out_a": "categorical_crossentropy",
                  "out_b": "mse"}, loss_weights={"out_a": 1.0, "out_b": 0.5},
                  metrics={"out_a": ["accuracy"], "out_b": [engine.metrics.MeanAbsoluteError(name="mae")]})
    path = tmp_path / "m.keras"
    model.save(path)
    assert {"config.json", "metadata.json", "model.weights.h5"} <= set(zipfile.ZipFile(path).namelist())
    loaded = engine.load_model(path)
    x = arrays("two_output/x")[0]
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    y = [np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0]], np.zeros((7, 1), "float32")]
    assert sorted(loaded.evaluate(x, y, verbose=0, return_dict=True)) == sorted(
        model.evaluate(x, y, verbose=0, return_dict=True))
    assert engine.load_model(path, compile=False).compiled is False


def test_loads_a_keras3_model_file_compiled():
    pytest.importorskip("h5py")
    model = engine.load_model(CORE / "keras_two_output.keras")
    x = arrays("two_output/x")[0]
    for p, e in zip(model.predict(x, verbose=0), arrays("two_output/pred"), strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-5, atol=1e-6)
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    y = [np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0]], np.zeros((7, 1), "float32")]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert {"loss", "out_a_loss", "out_b_loss", "out_a_accuracy", "out_b_mae"} <= set(logs)


def test_keras_2_3_optimizer_keys_in_a_compile_config(tmp_path):
    model = fitq_models.sequential()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["compile_config"]["optimizer"] = {"class_name": "Adam", "config": {"lr": 0.02, "decay": 0.0,
                                                                              "amsgrad": False}}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    loaded = engine.load_model(path)
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.02)


def test_loads_a_keras2_h5_model_file_compiled_and_its_weights():
    pytest.importorskip("h5py")
    path = CORE / "keras_two_output_legacy.h5"
    model = engine.load_model(path)
    x = arrays("two_output/x")[0]
    for p, e in zip(model.predict(x, verbose=0), arrays("two_output/pred"), strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-5, atol=1e-6)
    assert model.compiled and model.optimizer.get_config()["learning_rate"] == pytest.approx(0.003)
    fresh = engine.model_from_json(MODELS["two_output"])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), arrays("two_output/w"), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = engine.model_from_json(MODELS["two_output"])
    fresh.load_weights(path, by_name=True)
    np.testing.assert_array_equal(fresh.get_layer("out_b").get_weights()[0], arrays("two_output/w")[4])


def test_h5_model_file_round_trip_keeps_weights_compile_and_keras2_semantics(tmp_path):
    """``model.save("m.h5")`` writes Keras's HDF5 model file; a Keras 2 model stays a Keras 2 one."""
    import h5py

    model = engine.load_model(Path(__file__).resolve().parents[1] / "fixtures/keras2/tf215/seed_cnn.h5")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        assert {"model_config", "training_config", "keras_version"} <= set(f.attrs)
        assert [n.decode() if isinstance(n, bytes) else n for n in f["model_weights"].attrs["layer_names"]] == [l.name for l in model.layers]
    loaded = engine.load_model(tmp_path / "m.h5")
    assert loaded.keras_version == model.keras_version == "2.15.0"
    x = np.random.default_rng(0).random((2, 20, 20, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and loaded.loss == "categorical_crossentropy"


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5", "w.npz"])
def test_weights_file_format_follows_its_name(tmp_path, name):
    """``.weights.h5``: Keras 3's layout; other ``.h5``: Keras 2's; anything else: npz. Never a zip."""
    import h5py

    model = engine.model_from_json(MODELS["two_output"])
    model.set_weights(arrays("two_output/w"))
    model.save_weights(tmp_path / name)
    assert not zipfile.is_zipfile(tmp_path / name) or name.endswith(".npz")
    if name.endswith(".h5"):
        with h5py.File(tmp_path / name) as f:
            assert ("layers" in f) == name.endswith(".weights.h5")
            assert ("layer_names" in f.attrs) == (not name.endswith(".weights.h5"))
    other = engine.model_from_json(MODELS["two_output"])
    other.load_weights(tmp_path / name)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
