"""Weights files: Keras 3's ``.weights.h5``, Keras 2's ``.h5`` weights (both read and written with
h5py) and fitq's ``.npz`` (keys "layer_name/weight_name", in ``get_weights`` order) for other names.

Keras 3's h5 layout: ``layers/<key>/vars/<i>``, where ``<key>`` is the layer's
class name in snake case, numbered within its parent ("dense", "dense_1", ...;
a Functional model is "functional", a Sequential "sequential"), ``<i>`` counts
the layer's variables in creation order; recurrent layers keep theirs in
``<key>/cell/vars``, wrappers nest their layers (``forward_layer`` / ``backward_layer``,
``layer``) and nested models add ``layers/<key>/layers/...`` (see :func:`_walk`).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from engine import __version__, naming
from engine.saving.serialization import keras_class_name

_CELL_LAYERS = ("SimpleRNN", "LSTM", "GRU")


# ---------------------------------------------------------------------- npz
def weight_keys(model) -> list[str]:
    """Keys of ``model.weights``: "layer_name/weight_name", numbered when a name repeats."""
    keys, seen = [], {}
    for var in model.weights:
        key = var.path
        if key in seen:
            seen[key] += 1
            key = f"{key}_{seen[key]}"
        else:
            seen[key] = 0
        keys.append(key)
    return keys


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise ValueError(f"File {filepath!r} already exists and overwrite=False")


def save_weights(model, filepath, overwrite=True) -> None:
    """Writes ``model``'s weights to ``filepath`` in the format its name asks for.

    ``*.weights.h5``: Keras 3's layout (``keras.Model.load_weights`` reads it); other ``*.h5`` /
    ``*.hdf5``: Keras 2's (``layer_names`` / ``weight_names``, which Keras 2 and Keras 3 read);
    anything else: fitq's ``.npz``. :func:`load_weights` tells them apart by their content.
    """
    filepath = os.fspath(filepath)
    _check_overwrite(filepath, overwrite)
    if filepath.endswith(".weights.h5"):
        save_keras_h5(model, filepath)
        return
    if filepath.endswith((".h5", ".hdf5")):
        with _atomic_h5(filepath) as f:
            write_legacy_h5(f, model)
        return
    arrays = dict(zip(weight_keys(model), model.get_weights()))
    tmp = f"{filepath}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, filepath)


def load_weights(model, filepath, skip_mismatch=False, by_name=False) -> None:
    """Reads weights written by :func:`save_weights` (or Keras 3's ``.weights.h5``) into ``model``.

    ``.npz``: in order, or by key when ``by_name``; ``skip_mismatch`` skips weights whose
    shape (or presence, by name) does not fit instead of raising ValueError.
    """
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath!r}")
    if _is_h5(filepath):
        h5py = _h5py()
        with h5py.File(filepath, "r") as f:
            legacy = "layer_names" in f.attrs or "model_weights" in f
        if legacy:
            load_legacy_h5(model, filepath, skip_mismatch=skip_mismatch, by_name=by_name)
        else:
            load_keras_h5(model, filepath, skip_mismatch=skip_mismatch)
        return
    with np.load(filepath, allow_pickle=False) as data:
        stored = {k: data[k] for k in data.files}
    assign_weights(model, stored, skip_mismatch=skip_mismatch, by_name=by_name, source=filepath)


def assign_weights(model, stored: dict, skip_mismatch=False, by_name=False, source="the file") -> None:
    """Sets ``model``'s weights from ``{key: array}`` (ordered as saved)."""
    params, keys = model.weights, weight_keys(model)
    if by_name:
        pairs = []
        for var, key in zip(params, keys):
            if key not in stored:
                if skip_mismatch:
                    continue
                raise ValueError(f"Weight {key!r} of the model is not in {source}")
            pairs.append((var, key, stored[key]))
    else:
        if len(stored) != len(params):
            raise ValueError(f"{source} holds {len(stored)} weights, but the model has {len(params)}")
        pairs = [(var, key, value) for (var, key), value in zip(zip(params, keys), stored.values())]
    for var, key, value in pairs:
        if tuple(value.shape) != var.shape:
            if skip_mismatch:
                continue
            raise ValueError(f"Weight {key!r} has shape {var.shape}, but {source} holds shape {tuple(value.shape)}")
    for var, key, value in pairs:
        if tuple(value.shape) == var.shape:
            var.assign(value)


# ----------------------------------------------------------------- Keras h5
def _is_h5(filepath) -> bool:
    with open(filepath, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _h5py():
    import h5py

    return h5py


@contextlib.contextmanager
def _atomic_h5(filepath):
    """An h5py file written to ``filepath + ".tmp"`` and renamed onto ``filepath`` when complete."""
    h5py = _h5py()
    tmp = f"{filepath}.tmp"
    with h5py.File(tmp, "w") as f:
        yield f
    os.replace(tmp, filepath)


def _h5_key(layer) -> str:
    return naming.to_snake_case(keras_class_name(layer))


def _own_variables(layer):
    """A layer's own variables in creation order (a model's sub-layers hold theirs)."""
    return list(getattr(layer, "_weights", []))


def _walk(layers, prefix):
    """(vars group path, layer, its own variables) for every layer and nested layer, as Keras 3's
    saving nests them: ``<key>/vars``; a recurrent layer's variables in ``<key>/cell/vars``; a
    Bidirectional's layers under ``forward_layer`` / ``backward_layer``, a TimeDistributed's under
    ``layer``, a nested model's under ``layers``."""
    counts = {}
    for layer in layers:
        base = _h5_key(layer)
        n = counts.get(base, 0)
        counts[base] = n + 1
        yield from _groups(f"{prefix}/{base}" if n == 0 else f"{prefix}/{base}_{n}", layer)


def _groups(path, layer):
    kind = type(layer).__name__
    if hasattr(layer, "inputs") and hasattr(layer, "layers"):
        yield f"{path}/vars", layer, []
        yield from _walk(layer.layers, f"{path}/layers")
    elif kind == "Bidirectional":
        yield f"{path}/vars", layer, []
        yield from _groups(f"{path}/forward_layer", layer.forward_layer)
        yield from _groups(f"{path}/backward_layer", layer.backward_layer)
    elif kind == "TimeDistributed":
        yield f"{path}/vars", layer, []
        yield from _groups(f"{path}/layer", layer.layer)
    elif kind in _CELL_LAYERS:
        yield f"{path}/vars", layer, []
        yield f"{path}/cell/vars", layer, _own_variables(layer)
    else:
        yield f"{path}/vars", layer, _own_variables(layer)


def write_keras_h5(f, model) -> None:
    """Writes ``model``'s variables into the open h5py file ``f`` in Keras 3's layout."""
    f.create_group("layers")
    f.create_group("vars").attrs["name"] = model.name
    for path, layer, own in _walk(model.layers, "layers"):
        group = f.require_group(path)
        group.attrs["name"] = layer.name if not path.endswith("/cell/vars") else (
            f"{naming.to_snake_case(type(layer).__name__)}_cell")
        for i, var in enumerate(own):
            group.create_dataset(str(i), data=var.numpy())


def save_keras_h5(model, filepath) -> None:
    """Writes a Keras 3 ``.weights.h5`` file that ``keras.Model.load_weights`` reads."""
    with _atomic_h5(filepath) as f:
        write_keras_h5(f, model)


def load_keras_h5(model, filepath, skip_mismatch=False) -> None:
    """Reads a Keras 3 ``.weights.h5`` file (a path or a binary file object) into ``model``."""
    h5py = _h5py()
    with h5py.File(filepath, "r") as f:
        if "layers" not in f:
            raise ValueError(f"{filepath!r} is not a Keras 3 weights file (no 'layers' group)")
        updates = []
        for path, layer, own in _walk(model.layers, "layers"):
            if not own:
                continue
            # Files from earlier fitq versions kept a recurrent layer's variables beside its cell.
            other = path.replace("/cell/vars", "/vars") if path.endswith("/cell/vars") else path
            group = next((f[g] for g in (path, other) if g in f and len(f[g]) == len(own)), f.get(path))
            if group is None or len(group) != len(own):
                if skip_mismatch:
                    continue
                found = 0 if group is None else len(group)
                raise ValueError(f"Layer {layer.name!r} expects {len(own)} variables, but {filepath!r} holds "
                                 f"{found} at {path!r}")
            for i, var in enumerate(own):
                value = np.asarray(group[str(i)])
                if tuple(value.shape) != var.shape:
                    if skip_mismatch:
                        continue
                    raise ValueError(f"Weight {var.path!r} has shape {var.shape}, but {filepath!r} holds "
                                     f"shape {tuple(value.shape)}")
                updates.append((var, value))
    for var, value in updates:
        var.assign(value)


# ------------------------------------------------------------ Keras 2 h5
def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _legacy_weights(layer):
    """A layer's weights in Keras's h5 order: trainable ones, then the others (a nested model's all together)."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def write_legacy_h5(group, model) -> None:
    """Writes ``model``'s weights into the h5py ``group`` in Keras 2's layout, which Keras 2 and 3 read.

    ``group.attrs["layer_names"]`` lists every layer; each layer's group lists its ``weight_names``
    (in :func:`_legacy_weights` order) and holds one dataset per name.
    """
    group.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
    group.attrs["backend"] = "numpy"
    group.attrs["keras_version"] = model.keras_version or "3"
    group.attrs["fitq_version"] = __version__
    for layer in model.layers:
        g = group.create_group(layer.name)
        names, seen = [], set()
        for i, var in enumerate(_legacy_weights(layer)):
            name = var.path if var.path not in seen else f"{var.path}_{i}"
            seen.add(name)
            names.append(name)
            g.create_dataset(name, data=var.numpy())
        g.attrs["weight_names"] = [n.encode("utf8") for n in names]


def load_legacy_h5(model, filepath, skip_mismatch=False, by_name=False) -> None:
    """Reads Keras 2's h5 weights (``save_weights("x.h5")`` or the ``model_weights`` of a saved model).

    The file lists ``layer_names``; each layer's group lists its ``weight_names``. Layers
    with weights are matched to ``model.layers`` with weights in order, or by name when
    ``by_name`` (layers missing from the file are left alone).
    """
    h5py = _h5py()
    with h5py.File(filepath, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        stored = []
        for name in (_text(n) for n in group.attrs["layer_names"]):
            weight_names = [_text(w) for w in group[name].attrs["weight_names"]]
            if weight_names:
                stored.append((name, [np.asarray(group[name][w]) for w in weight_names]))
    targets = [layer for layer in model.layers if layer.weights]
    if by_name:
        by = {layer.name: layer for layer in targets}
        pairs = [(by[name], name, values) for name, values in stored if name in by]
    else:
        if len(stored) != len(targets):
            raise ValueError(f"{filepath!r} holds weights for {len(stored)} layers, but the model has "
                             f"{len(targets)} layers with weights")
        pairs = [(layer, name, values) for layer, (name, values) in zip(targets, stored)]
    updates = []
    for layer, name, values in pairs:
        shapes = [tuple(v.shape) for v in values]
        targets = _legacy_weights(layer)
        if shapes != [w.shape for w in targets]:
            if skip_mismatch:
                continue
            raise ValueError(f"Layer {layer.name!r} has weight shapes {[w.shape for w in targets]}, but "
                             f"{filepath!r} holds {shapes} for layer {name!r}")
        updates.extend(zip(targets, values))
    for var, value in updates:
        var.assign(value)
