"""Weights files: fitq's ``.npz`` (keys "layer_name/weight_name", in ``get_weights`` order),
Keras 3's ``.weights.h5`` (read and written with h5py when it is installed) and Keras 2's
``.h5`` weights (read).

Keras 3's h5 layout: ``layers/<key>/vars/<i>``, where ``<key>`` is the layer's
class name in snake case, numbered within its parent ("dense", "dense_1", ...;
a Functional model is "functional", a Sequential "sequential"), ``<i>`` counts
the layer's variables in creation order, and nested models add
``layers/<key>/layers/...``.
"""
from __future__ import annotations

import os

import numpy as np

from engine import naming


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


def _has_h5py() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def save_weights(model, filepath, overwrite=True) -> None:
    """Writes ``model``'s weights to ``filepath``: Keras 3 h5 for ``*.h5`` when h5py is installed, else ``.npz``.

    :func:`load_weights` tells the two apart by their content, not their name.
    """
    filepath = os.fspath(filepath)
    _check_overwrite(filepath, overwrite)
    if filepath.endswith(".h5") and _has_h5py():
        save_keras_h5(model, filepath)
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
    try:
        import h5py
    except ImportError as exc:
        raise ValueError("Reading or writing Keras .h5 weights files needs h5py (pip install h5py)") from exc
    return h5py


def _h5_key(layer) -> str:
    from engine.models.model import Model
    from engine.models.sequential import Sequential

    if isinstance(layer, Sequential):
        return "sequential"
    if isinstance(layer, Model):
        return "functional"
    return naming.to_snake_case(type(layer).__name__)


def _own_variables(layer):
    """A layer's own variables in creation order (a model's sub-layers hold theirs)."""
    return list(getattr(layer, "_weights", []))


def _walk(layers, prefix):
    """(group path, layer) for every layer and nested layer, as Keras 3's saving walks them."""
    counts = {}
    for layer in layers:
        base = _h5_key(layer)
        n = counts.get(base, 0)
        counts[base] = n + 1
        path = f"{prefix}/{base}" if n == 0 else f"{prefix}/{base}_{n}"
        yield path, layer
        if hasattr(layer, "inputs") and hasattr(layer, "layers"):
            yield from _walk(layer.layers, f"{path}/layers")


def save_keras_h5(model, filepath) -> None:
    """Writes a Keras 3 ``.weights.h5`` file that ``keras.Model.load_weights`` reads."""
    h5py = _h5py()
    tmp = f"{filepath}.tmp"
    with h5py.File(tmp, "w") as f:
        f.create_group("layers")
        f.create_group("vars").attrs["name"] = model.name
        for path, layer in _walk(model.layers, "layers"):
            group = f.require_group(f"{path}/vars")
            group.attrs["name"] = layer.name
            for i, var in enumerate(_own_variables(layer)):
                group.create_dataset(str(i), data=var.numpy())
    os.replace(tmp, filepath)


def load_keras_h5(model, filepath, skip_mismatch=False) -> None:
    """Reads a Keras 3 ``.weights.h5`` file (a path or a binary file object) into ``model``."""
    h5py = _h5py()
    with h5py.File(filepath, "r") as f:
        if "layers" not in f:
            raise ValueError(f"{filepath!r} is not a Keras 3 weights file (no 'layers' group)")
        updates = []
        for path, layer in _walk(model.layers, "layers"):
            own = _own_variables(layer)
            if not own:
                continue
            # Keras 3 recurrent layers keep their variables in their cell.
            group = next((f[g] for g in (f"{path}/vars", f"{path}/cell/vars") if g in f and len(f[g]) == len(own)),
                         f.get(f"{path}/vars"))
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
    for layer, name, values in pairs:
        shapes = [tuple(v.shape) for v in values]
        if shapes != [w.shape for w in layer.weights]:
            if skip_mismatch:
                continue
            raise ValueError(f"Layer {layer.name!r} has weight shapes {[w.shape for w in layer.weights]}, but "
                             f"{filepath!r} holds {shapes} for layer {name!r}")
        layer.set_weights(values)
