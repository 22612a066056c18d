"""Models written by real tf.keras 2.15 run in fitq with Keras 2's results.

Fixtures: ``tests/fixtures/keras2/make_tf215.py``. For each case fitq reads Keras 2's JSON,
predicts with Keras 2's trained weights (1e-5), and trains from Keras 2's initial weights with
the same compile / fit arguments: History (names and values) and final weights to 1e-4.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.saving import model_file

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "keras2" / "tf215"
CASES = ["rnn_hard_sigmoid", "bn_images", "convs", "metric_names", "seed000_two_inputs", "seed002_news"]


def _load(case):
    with np.load(HERE / f"{case}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    record = json.loads((HERE / f"{case}.history.json").read_text())

    def series(prefix):
        n = sum(1 for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit())
        return [arrays[f"{prefix}{i}"] for i in range(n)]

    return arrays, record, series


def _one_or_list(values):
    return values[0] if len(values) == 1 else values


@pytest.mark.parametrize("case", CASES)
def test_predict_with_keras2_trained_weights(case):
    arrays, _, series = _load(case)
    model = engine.model_from_json((HERE / f"{case}.json").read_text())
    model.set_weights(series("w_final_"))
    preds = model.predict(_one_or_list(series("x")), verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    for got, want in zip(preds, series("predict"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_fit_history_and_weights_match_keras2(case):
    arrays, record, series = _load(case)
    model = engine.model_from_json((HERE / f"{case}.json").read_text())
    model.set_weights(series("w_initial_"))
    model_file.compile_from_config(model, record["compile"])
    history = model.fit(_one_or_list(series("x")), _one_or_list(series("y")), **record["fit"])
    assert sorted(history.history) == sorted(record["history"])
    for key, want in record["history"].items():
        np.testing.assert_allclose(history.history[key], want, rtol=1e-4, atol=1e-5, err_msg=key)
    for i, (got, want) in enumerate(zip(model.get_weights(), series("w_final_"), strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")


def test_keras2_h5_model_loads_and_predicts():
    """``model.save("seed_cnn.h5")`` by tf.keras 2.15: architecture, weights by layer name, compile settings."""
    with np.load(HERE / "seed_cnn.npz") as data:
        x, want = data["x0"], data["predict0"]
    model = engine.load_model(HERE / "seed_cnn.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert model.compiled and model.loss == "categorical_crossentropy"


def _layer_cases():
    return sorted(json.loads((HERE / "layers.json").read_text()))


@pytest.mark.parametrize("name", _layer_cases())
def test_every_key_tf_keras_writes_is_read(name):
    """A one-layer model per supported layer class, every key tf.keras 2.15 writes: built, same output."""
    config = json.loads((HERE / "layers.json").read_text())[name]
    with np.load(HERE / "layers.npz") as data:
        x, want = data[f"{name}/x"], data[f"{name}/y"]
        weights = [data[f"{name}/w{i}"] for i in range(sum(k.startswith(f"{name}/w") for k in data.files))]
    model = engine.model_from_json(json.dumps(config))
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_keras2_0_recurrent_defaults_when_keys_are_missing():
    """Keras 2.0-2.3 files may lack keys tf.keras always writes: Keras 2's defaults then apply
    (GRU ``reset_after=False``, ``recurrent_activation="hard_sigmoid"``); a Keras 3 file gets Keras 3's."""
    from engine.activations import Keras2Activation

    def gru(version):
        config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "GRU", "config": {"name": "g", "units": 2, "batch_input_shape": [None, 3, 4]}}]}}
        if version:
            config["keras_version"] = version
        return engine.model_from_json(json.dumps(config)).layers[0]

    old = gru("2.1.6")
    assert old.reset_after is False and isinstance(old.recurrent_activation, Keras2Activation)
    assert old.recurrent_activation.name == "hard_sigmoid"
    new = gru("3.3.3")
    assert new.reset_after is True and new.recurrent_activation.name == "sigmoid"


def test_keras2_weights_file_of_a_nested_model_with_batchnorm():
    """Keras 2's ``save_weights("w.h5")``: a nested model's weights are its trainable ones, then the moving statistics."""
    model = engine.model_from_json((HERE / "nested_bn.json").read_text())
    model.load_weights(HERE / "nested_bn.h5")
    with np.load(HERE / "nested_bn.npz") as data:
        np.testing.assert_allclose(model.predict(data["x0"], verbose=0), data["predict0"], rtol=1e-5, atol=1e-6)
