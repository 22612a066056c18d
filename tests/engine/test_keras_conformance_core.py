"""The engine core against real Keras 3.15 (fixtures from tests/fixtures/keras/make_core.py).

Models are loaded from Keras's own ``to_json()`` text with Keras's initial weights:
predictions must equal Keras's to 1e-5 relative; after ``fit(shuffle=False)`` the
History, weights, ``evaluate`` and on-batch results must equal Keras's to 1e-4 relative.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine

FIXTURES = Path(__file__).parent.parent / "fixtures" / "keras" / "core"
MODELS = json.loads((FIXTURES / "models.json").read_text())
MODEL_ARRAYS = np.load(FIXTURES / "models.npz", allow_pickle=False)
FITS = json.loads((FIXTURES / "fits.json").read_text())
FIT_ARRAYS = np.load(FIXTURES / "fits.npz", allow_pickle=False)


def arrays(store, prefix):
    """``store[prefix/0]``, ``store[prefix/1]``, ... as a list."""
    out, i = [], 0
    while f"{prefix}/{i}" in store.files:
        out.append(store[f"{prefix}/{i}"])
        i += 1
    return out


def single(values):
    return values[0] if len(values) == 1 else values


def load_model(name, backend="numpy"):
    """The model from Keras's JSON, with Keras's initial weights, on ``backend``."""
    model = engine.model_from_json(MODELS[name])
    model.set_weights(arrays(MODEL_ARRAYS, f"{name}/w"))
    model.use_backend(backend)
    return model


def host(value):
    """Model outputs as NumPy arrays (they are CuPy arrays on the GPU)."""
    return engine.backend.to_numpy(value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predictions_equal_keras(name, backend):
    model = load_model(name, backend)
    x = arrays(MODEL_ARRAYS, f"{name}/x")
    preds = model.predict(single(x), verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    expected = arrays(MODEL_ARRAYS, f"{name}/pred")
    assert len(preds) == len(expected)
    rtol = 1e-5 if backend == "numpy" else 1e-4
    for p, e in zip(preds, expected):
        np.testing.assert_allclose(host(p), e, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layers_and_weight_shapes_equal_keras(name):
    config = json.loads(MODELS[name])["config"]
    model = load_model(name)
    # Keras's model.layers leaves out ops (the mask's NotEqual / Any).
    keras_layers = [entry["config"]["name"] for entry in config["layers"] if not entry["module"].startswith("keras.src.ops")]
    if json.loads(MODELS[name])["class_name"] == "Sequential":
        keras_layers = keras_layers[1:]  # Keras's Sequential.layers leaves out the InputLayer
    assert [layer.name for layer in model.layers] == keras_layers
    assert [w.shape for w in model.get_weights()] == [a.shape for a in arrays(MODEL_ARRAYS, f"{name}/w")]


def _metric(m):
    return engine.metrics.get(m) if isinstance(m, dict) else m


def _metrics(spec):
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: [_metric(m) for m in v] for k, v in spec.items()}
    return [_metric(m) for m in spec]


def _fit_kwargs(case, extra):
    kw = dict(case["fit"])
    if kw.get("validation_data") == "val2":
        kw["validation_data"] = (single(extra["vx"]), single(extra["vy"]))
    elif kw.get("validation_data") == "val3":
        kw["validation_data"] = (single(extra["vx"]), single(extra["vy"]), extra["vsw"][0])
    if kw.get("sample_weight") == "sw":
        kw["sample_weight"] = extra["sw"][0]
    if "class_weight" in kw:
        kw["class_weight"] = {int(k): v for k, v in kw["class_weight"].items()}
    return kw


def _close(actual: dict, expected: dict, what):
    assert sorted(actual) == sorted(expected), what
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, rtol=1e-4, atol=1e-6, err_msg=f"{what}: {key}")


@pytest.mark.parametrize("case", FITS, ids=[c["id"] for c in FITS])
def test_fit_evaluate_and_on_batch_equal_keras(case, backend):
    cid = case["id"]
    model = load_model(case["model"], backend)
    c = case["compile"]
    model.compile(optimizer=c["optimizer"], loss=c["loss"], loss_weights=c.get("loss_weights"),
                  metrics=_metrics(c.get("metrics")), weighted_metrics=_metrics(c.get("weighted_metrics")),
                  sample_weight_mode=c.get("sample_weight_mode"))
    x = arrays(FIT_ARRAYS, f"{cid}/x")
    y = arrays(FIT_ARRAYS, f"{cid}/y")
    extra = {k: arrays(FIT_ARRAYS, f"{cid}/{k}") for k in case["extra"]}

    history = model.fit(single(x), single(y), shuffle=False, verbose=0, **_fit_kwargs(case, extra))
    assert history.epoch == case["epochs_run"]
    _close(history.history, case["history"], "History")
    for got, want in zip(model.get_weights(), arrays(FIT_ARRAYS, f"{cid}/final"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    _close(model.evaluate(single(x), single(y), batch_size=16, verbose=0, return_dict=True), case["evaluate"],
           "evaluate")
    bx, by = [a[:10] for a in x], [a[:10] for a in y]
    _close(model.train_on_batch(single(bx), single(by), return_dict=True), case["train_on_batch"], "train_on_batch")
    _close(model.test_on_batch(single(bx), single(by), return_dict=True), case["test_on_batch"], "test_on_batch")
    for got, want in zip(model.get_weights(), arrays(FIT_ARRAYS, f"{cid}/after_batch"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
