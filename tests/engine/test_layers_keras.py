"""Every layer and option against real Keras 3: the same weights and inputs give Keras's
outputs (1e-5 relative), input and weight gradients (1e-4 relative) and, in training,
BatchNormalization's moving statistics. Fixtures: tests/fixtures/keras/make_layers.py."""
import json
from pathlib import Path

import numpy as np
import pytest

from engine import Input, Model, layers, model_from_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "keras" / "layers"
CASES = json.loads((FIXTURES / "cases.json").read_text())


def build_layer(spec):
    cls, kw = spec
    kwargs = {}
    for key, value in kw.items():
        if isinstance(value, dict) and "__layer__" in value:
            value = build_layer(value["__layer__"])
        elif isinstance(value, dict) and "__model__" in value:
            inner_in = Input(tuple(value["input_shape"]))
            t = inner_in
            for s in value["__model__"]:
                t = build_layer(s)(t)
            value = Model(inner_in, t)
        kwargs[key] = value
    return getattr(layers, cls)(**kwargs)


def build_model(case):
    inputs = [Input(tuple(s["shape"]), dtype="int32" if s["kind"].startswith("int") else "float32")
              for s in case["inputs"]]
    t = inputs[0]
    chain = [build_layer(s) for s in case["layers"]]
    for i, layer in enumerate(chain):
        t = layer([t] + inputs[1:] if i == len(chain) - 1 and len(inputs) > 1 else t)
    return Model(inputs, t)


def _close(actual, expected, rtol, what):
    expected = np.asarray(expected)
    scale = max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=rtol * 0.1 * scale, err_msg=what)


def _arrays(data, prefix):
    keys = sorted((k for k in data.files if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    return {int(k[len(prefix):]): data[k] for k in keys}


def run_and_compare(model, case, data):
    xs = [data[f"x_{i}"] for i in range(len(case["inputs"]))]
    model.set_weights([data[f"w_{i}"] for i in range(len(_arrays(data, "w_")))])
    for w in model.weights:
        w.grad = None
    outs, _, backprop = model.run_graph(xs, training=case["training"])
    ys, cots = _arrays(data, "y_"), _arrays(data, "cot_")
    assert len(outs) == len(ys)
    for i, o in enumerate(outs):
        assert o.dtype == np.float32, f"output {i} is {o.dtype}"
        _close(o, ys[i], 1e-5, f"output {i}")
    d_in = backprop([cots[i] for i in range(len(outs))])
    for i, g in _arrays(data, "dx_").items():
        _close(d_in[i], g, 1e-4, f"gradient of input {i}")
    trainable = model.trainable_weights
    expected_dw = _arrays(data, "dw_")
    assert len(trainable) == len(expected_dw)
    for i, w in enumerate(trainable):
        _close(w.grad if w.grad is not None else np.zeros(w.shape), expected_dw[i], 1e-4, f"gradient of {w.path}")
    for i, v in _arrays(data, "nt_").items():
        _close(model.non_trainable_weights[i].value, v, 1e-5, f"non-trainable weight {i} after the call")


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras(name):
    case = CASES[name]
    data = np.load(FIXTURES / f"{name}.npz")
    model = build_model(case)
    assert [tuple(w.shape) for w in model.get_weights()] == [data[f"w_{i}"].shape for i in
                                                           range(len(_arrays(data, "w_")))]
    run_and_compare(model, case, data)


# Keras 3 writes a mask computed in the graph as op nodes ("NotEqual", "Any") and a ``mask``
# call argument; model_from_json does not read those yet, so masked cases are built directly above.
JSON_CASES = sorted(n for n, c in CASES.items()
                    if not any(s[0] == "Masking" or s[1].get("mask_zero") for s in c["layers"]))


@pytest.mark.parametrize("name", JSON_CASES)
def test_layer_loaded_from_keras_json_matches_keras(name):
    case = CASES[name]
    data = np.load(FIXTURES / f"{name}.npz")
    model = model_from_json(case["model_json"])
    run_and_compare(model, case, data)


def test_layer_configs_have_keras_keys_and_values():
    """get_config() of each layer equals the config Keras wrote for the same constructor arguments."""
    from engine.saving.serialization import keras3_layer_config

    for name, case in sorted(CASES.items()):
        model = build_model(case)
        written = [l for l in json.loads(case["model_json"])["config"]["layers"]
                   if l["class_name"] not in ("InputLayer", "NotEqual", "Any")]
        ours = [l for l in model.layers if type(l).__name__ != "InputLayer"]
        assert [l["class_name"] for l in written] == [type(l).__name__ for l in ours], name
        for kl, layer in zip(written, ours):
            if type(layer).__module__ == "engine.layers.core":
                continue
            expected = {k: v for k, v in kl["config"].items() if k not in ("name", "layer", "backward_layer")}
            actual = {k: v for k, v in keras3_layer_config(layer).items()
                      if k not in ("name", "layer", "backward_layer")}
            for config in (expected, actual):
                if isinstance(config.get("dtype"), dict):
                    config["dtype"] = config["dtype"]["config"]["name"]
            assert actual == expected, f"{name}: {kl['class_name']}"
            for key in ("layer", "backward_layer"):
                inner_class = kl["config"].get(key, {}).get("class_name")
                if inner_class and inner_class != "Sequential" and \
                        layers.get_class(inner_class).__module__ != "engine.layers.core":
                    inner_written = {k: v for k, v in kl["config"][key]["config"].items() if k != "name"}
                    inner_ours = {k: v for k, v in keras3_layer_config(layer).get(key, {}).get("config", {}).items()
                                  if k != "name"}
                    assert inner_ours == inner_written, f"{name}: {key}"
