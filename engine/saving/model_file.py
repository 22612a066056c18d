"""Whole-model files as real Keras writes them.

``.keras`` (any name but ``.h5`` / ``.hdf5``): Keras 3's zip archive, members ``config.json``
(the Keras 3 model config, plus ``compile_config`` when the model is compiled),
``metadata.json`` and ``model.weights.h5`` (Keras 3's weights layout); ``keras.saving.load_model``
reads it. ``.h5`` / ``.hdf5``: the HDF5 model file Keras 2 and Keras 3 write (``model_config`` /
``training_config`` attributes, weights by layer in ``model_weights``).
``load_model`` reads both, from fitq or real Keras (a Keras 2 ``.h5`` with Keras 2's semantics),
and the zips with ``model.weights.npz`` that earlier fitq versions wrote.
The optimizer's state (slots, iteration count) is not saved.
"""
from __future__ import annotations

import io
import json
import os
import time
import zipfile

import numpy as np

from engine import __version__
from engine import losses as losses_module
from engine import metrics as metrics_module
from engine import optimizers as optimizers_module
from engine.saving import keras2, serialization, weights_io

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS_NPZ = "model.weights.npz"
WEIGHTS_H5 = "model.weights.h5"


def _serialize_spec(spec, serialize):
    """A loss / metric spec (name, object, list or dict of them) as JSON."""
    if spec is None or isinstance(spec, (str, int, float)):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_serialize_spec(s, serialize) for s in spec]
    if isinstance(spec, dict):
        return {k: _serialize_spec(v, serialize) for k, v in spec.items()}
    return serialize(spec)


def _deserialize_spec(spec, deserialize):
    if isinstance(spec, list):
        return [_deserialize_spec(s, deserialize) for s in spec]
    if isinstance(spec, dict):
        if "class_name" in spec:
            return deserialize(spec)
        return {k: _deserialize_spec(v, deserialize) for k, v in spec.items()}
    return spec


def compile_config(model) -> dict:
    """What ``compile`` was given, in Keras 3's ``compile_config`` form."""
    metrics, weighted = model._compiled_metrics._user
    config = {"optimizer": optimizers_module.serialize(model.optimizer),
              "loss": _serialize_spec(model.loss, losses_module.serialize),
              "loss_weights": list(model._compiled_loss.weights),
              "metrics": _serialize_spec(metrics, metrics_module.serialize),
              "weighted_metrics": _serialize_spec(weighted, metrics_module.serialize)}
    if model._sample_weight_mode is not None:  # Keras 2's argument; Keras 3's compile does not take it
        config["sample_weight_mode"] = model._sample_weight_mode
    return config


def compile_from_config(model, config: dict) -> None:
    """``model.compile`` with a ``compile_config`` (fitq's or Keras 3's)."""
    model.compile(optimizer=optimizers_module.get(config.get("optimizer") or "rmsprop"),
                  loss=_deserialize_spec(config.get("loss"), losses_module.deserialize),
                  loss_weights=config.get("loss_weights"),
                  metrics=_deserialize_spec(config.get("metrics"), metrics_module.deserialize),
                  weighted_metrics=_deserialize_spec(config.get("weighted_metrics"), metrics_module.deserialize),
                  sample_weight_mode=config.get("sample_weight_mode"))


def _metadata(model) -> dict:
    return {"keras_version": model.keras_version or "3", "fitq_version": __version__,
            "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}


def save_model(model, filepath, overwrite=True) -> None:
    """Writes ``model`` (config, weights, compile settings) to ``filepath``: ``.h5`` / ``.hdf5`` as HDF5, else ``.keras``."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise ValueError(f"File {filepath!r} already exists and overwrite=False")
    if filepath.endswith((".h5", ".hdf5")):
        save_h5_model(model, filepath)
        return
    config = serialization.serialize_model(model)
    if model.compiled:
        config["compile_config"] = compile_config(model)
    h5py = weights_io._h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        weights_io.write_keras_h5(f, model)
    tmp = f"{filepath}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(METADATA, json.dumps(_metadata(model)))
        zf.writestr(CONFIG, json.dumps(config))
        zf.writestr(WEIGHTS_H5, buf.getvalue())
    os.replace(tmp, filepath)


def save_h5_model(model, filepath) -> None:
    """Writes the HDF5 model file Keras writes for ``model.save("m.h5")``."""
    with weights_io._atomic_h5(filepath) as f:
        for key, value in _metadata(model).items():
            f.attrs[key] = value
        f.attrs["backend"] = "numpy"
        config = serialization.serialize_model(model)
        f.attrs["model_config"] = json.dumps({"class_name": config["class_name"], "config": config["config"]})
        if model.compiled:
            training = compile_config(model)
            training["optimizer_config"] = training.pop("optimizer")
            f.attrs["training_config"] = json.dumps(training)
        weights_io.write_legacy_h5(f.create_group("model_weights"), model)


def load_legacy_h5_model(filepath, compile=True):
    """A model from a Keras 2 ``.h5`` model file."""
    h5py = weights_io._h5py()
    with h5py.File(filepath, "r") as f:
        if "model_config" not in f.attrs:
            raise ValueError(f"{filepath!r} is a weights file, not a model file (no model_config)")
        config = json.loads(weights_io._text(f.attrs["model_config"]))
        training = f.attrs.get("training_config")
        version = f.attrs.get("keras_version")
    model = serialization.deserialize_layer(config, keras_version=version)
    weights_io.load_legacy_h5(model, filepath)
    if compile and training is not None:
        compile_from_config(model, keras2.compile_config(json.loads(weights_io._text(training))))
    return model


def load_model(filepath, compile=True):
    """The model saved at ``filepath`` by :func:`save_model` (or by Keras 3's ``model.save``, or Keras 2's)."""
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and weights_io._is_h5(filepath):
        return load_legacy_h5_model(filepath, compile=compile)
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"{filepath!r} is not a model file (a zip archive written by model.save)")
    with zipfile.ZipFile(filepath) as zf:
        names = set(zf.namelist())
        if CONFIG not in names:
            raise ValueError(f"{filepath!r} has no {CONFIG}")
        config = json.loads(zf.read(CONFIG))
        model = serialization.deserialize_layer(config)
        if WEIGHTS_NPZ in names:
            with np.load(io.BytesIO(zf.read(WEIGHTS_NPZ)), allow_pickle=False) as data:
                stored = {k: data[k] for k in data.files}
            weights_io.assign_weights(model, stored, source=filepath)
        elif WEIGHTS_H5 in names:
            weights_io.load_keras_h5(model, io.BytesIO(zf.read(WEIGHTS_H5)))
        else:
            raise ValueError(f"{filepath!r} holds no weights ({WEIGHTS_NPZ} or {WEIGHTS_H5})")
    if compile and config.get("compile_config"):
        compile_from_config(model, config["compile_config"])
    return model
