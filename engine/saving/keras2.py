"""Keras 2 model configs rewritten into Keras 3's form, and Keras 1/2 layer keys translated.

Keras 2 (tf.keras 2.x, class "Functional"; standalone Keras 2.3 and older
tf.keras, class "Model") writes inbound nodes as lists of
``[layer_name, node_index, tensor_index, kwargs]`` (one list per call: one
entry for a single-tensor call, several for a list call; an RNN's initial
states are already extra entries), and ``input_layers`` / ``output_layers``
as lists of triples even for one input. Keras 2 counts the calls of every
nested model built on an Input (Functional, Model, and Sequential with a
known input shape) from 1, everywhere; Keras 3 counts calls from 0 in
inbound nodes, and from 1 for a nested Functional only in ``input_layers`` /
``output_layers``.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect

from engine import activations

_MODEL_CLASSES = ("Functional", "Model")
# Keras 1 argument names kept working by Keras 2's legacy interfaces.
_KERAS1_KEYS = {
    "output_dim": "units", "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
    "bias": "use_bias", "p": "rate", "input_dtype": "dtype", "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation", "U_regularizer": "recurrent_regularizer",
    "U_constraint": "recurrent_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
    "nb_filter": "filters", "subsample": "strides", "border_mode": "padding", "dim_ordering": "data_format",
    "pool_length": "pool_size", "subsample_length": "strides", "filter_length": "kernel_size",
}
_DATA_FORMATS = {"tf": "channels_last", "th": "channels_first", "default": None}
# Keys Keras writes that change nothing in fitq's computation.
_IGNORED_KEYS = frozenset({"quantization_config", "autocast", "ragged", "sparse", "optional", "implementation"})
# Keys Keras 2 writes with a value that means "off": dropped at that value where the layer does not take them.
_NEUTRAL_VALUES = {"groups": 1}
# Keys Keras 2 writes for a layer that never uses them (SeparableConv's base class writes kernel_*).
_UNUSED_KEYS = {
    "SeparableConv1D": frozenset({"kernel_initializer", "kernel_regularizer", "kernel_constraint"}),
    "SeparableConv2D": frozenset({"kernel_initializer", "kernel_regularizer", "kernel_constraint"}),
}
_ACTIVATION_KEYS = ("activation", "recurrent_activation")
_RECURRENT = ("LSTM", "GRU", "LSTMCell", "GRUCell")
_UNSET = object()
_READING = contextvars.ContextVar("keras_version_being_read", default=_UNSET)


# ------------------------------------------------------------------ dialect
def is_keras2_version(version) -> bool:
    """Whether a ``keras_version`` string names Keras 1 or 2 ("2.15.0", "2.3.0-tf", "1.2.2")."""
    return isinstance(version, str) and version.split(".")[0] in ("1", "2")


def _has_keras2_form(obj) -> bool:
    """Keys or node lists only Keras 2 writes (``batch_input_shape``, inbound nodes as lists)."""
    if isinstance(obj, dict):
        if "batch_input_shape" in obj:
            return True
        nodes = obj.get("inbound_nodes")
        if isinstance(nodes, list) and any(_is_keras2_node(n) for n in nodes):
            return True
        return any(_has_keras2_form(v) for v in obj.values() if isinstance(v, (dict, list)))
    if isinstance(obj, list):
        return any(_has_keras2_form(v) for v in obj)
    return False


def keras_version_of(config: dict, version=None):
    """The Keras version a model config was written by: ``version`` (a file's attribute), the config's
    ``keras_version``, "2" when only its form tells it is Keras 2's, else None (Keras 3)."""
    version = version or (config.get("keras_version") if isinstance(config, dict) else None)
    if isinstance(version, bytes):
        version = version.decode("utf8")
    if isinstance(version, str):
        return version
    return "2" if _has_keras2_form(config) else None


@contextlib.contextmanager
def reading(version):
    """Layers deserialized inside take the semantics of Keras ``version`` (Keras 3's when None)."""
    token = _READING.set(version)
    try:
        yield
    finally:
        _READING.reset(token)


def is_reading() -> bool:
    """Whether a model is being deserialized (its Keras version already decided)."""
    return _READING.get() is not _UNSET


def version_being_read():
    """The ``keras_version`` of the model being deserialized (None: Keras 3's, or nothing is being read)."""
    version = _READING.get()
    return None if version is _UNSET else version


def compile_config(training_config: dict) -> dict:
    """A Keras 2 ``.h5`` ``training_config`` as ``compile`` arguments (``compile_config`` form).

    tf.keras 2.11+ writes its optimizers as ``"Custom>Adam"`` there; the prefix is dropped.
    """
    config = dict(training_config)
    optimizer = config.pop("optimizer_config", None)
    if isinstance(optimizer, dict) and str(optimizer.get("class_name", "")).startswith("Custom>"):
        optimizer = {**optimizer, "class_name": optimizer["class_name"][len("Custom>"):]}
    config["optimizer"] = optimizer
    return config


def keras2_layer(layer):
    """``layer`` set to compute as Keras 2 did where that is not in its config (fused BatchNormalization)."""
    if hasattr(layer, "unbiased_fused_variance"):
        layer.unbiased_fused_variance = True
    return layer


def keras2_semantics(class_name: str, config: dict) -> dict:
    """A Keras 1/2 layer config with Keras 2's definitions where Keras 3 changed them.

    hard_sigmoid is Keras 2's ``clip(0.2 x + 0.5, 0, 1)``; a GRU without ``reset_after``
    (Keras 2.0-2.3 files) is Keras 2's ``reset_after=False`` one, and a recurrent layer without
    ``recurrent_activation`` uses Keras 2.0-2.3's default, hard_sigmoid.
    """
    config = dict(config)
    if class_name in _RECURRENT:
        config.setdefault("recurrent_activation", "hard_sigmoid")
        if class_name.startswith("GRU"):
            config.setdefault("reset_after", False)
    for key in _ACTIVATION_KEYS:
        if key in config:
            config[key] = activations.keras2(config[key])
    return config


def _is_keras2_node(node) -> bool:
    return isinstance(node, list)


def is_keras2_functional(config: dict) -> bool:
    """Whether a Functional config is in Keras 2's form: its inbound nodes are lists, not args/kwargs dicts."""
    entries = [e for e in config["layers"] if isinstance(e, dict)]
    return any(_is_keras2_node(n) for e in entries for n in (e.get("inbound_nodes") or []))


def _sequential_has_input(config) -> bool:
    layers = config if isinstance(config, list) else (config or {}).get("layers") or []
    if not layers or not isinstance(layers[0], dict):
        return False
    first = layers[0]
    return first.get("class_name") == "InputLayer" or "batch_input_shape" in (first.get("config") or {})


def _ref_tensor(layer_name, node_index, tensor_index):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": None, "keras_history": [layer_name, node_index, tensor_index]}}


def _upgrade_node(node, skipped, user):
    """A Keras 2 node (list of ``[name, node_index, tensor_index(, kwargs)]``) as Keras 3's args/kwargs."""
    if isinstance(node, dict):
        node = list(node.values())
    refs = []
    for item in node:
        if not isinstance(item, list) or len(item) not in (3, 4) or not isinstance(item[0], str):
            raise ValueError(f"Invalid inbound node of layer {user!r}: {node!r}")
        name, node_index, tensor_index = item[:3]
        refs.append(_ref_tensor(name, int(node_index) - skipped.get(name, 0), int(tensor_index)))
    if not refs:
        raise ValueError(f"An inbound node of layer {user!r} has no input tensors")
    return {"args": [refs[0] if len(refs) == 1 else refs], "kwargs": {}}


def _unwrap_single(refs):
    if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], list):
        return refs[0]
    return refs


def upgrade_functional_config(config: dict) -> dict:
    """``config`` unchanged if it is Keras 3's; else the same model in Keras 3's Functional form."""
    if not is_keras2_functional(config):
        return config
    skipped, skipped_io = {}, {}
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if entry.get("class_name") in _MODEL_CLASSES:
            skipped[name] = 1
        elif entry.get("class_name") == "Sequential":
            skipped[name] = skipped_io[name] = int(_sequential_has_input(entry.get("config")))
    layers = []
    for entry in config["layers"]:
        entry = dict(entry)
        if entry.get("class_name") == "Model":
            entry["class_name"] = "Functional"
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        nodes = entry.get("inbound_nodes") or []
        entry["inbound_nodes"] = [n if isinstance(n, dict) and "args" in n else _upgrade_node(n, skipped, name)
                                  for n in nodes]
        layers.append(entry)
    return {**config, "layers": layers,
            "input_layers": _upgrade_refs(_unwrap_single(config.get("input_layers")), skipped_io),
            "output_layers": _upgrade_refs(_unwrap_single(config.get("output_layers")), skipped_io)}


def _upgrade_refs(refs, skipped_io):
    """``input_layers`` / ``output_layers`` references with Keras 3's node numbering."""
    if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
        return [refs[0], int(refs[1]) - skipped_io.get(refs[0], 0), refs[2]]
    if isinstance(refs, dict):
        return {k: _upgrade_refs(v, skipped_io) for k, v in refs.items()}
    if isinstance(refs, list):
        return [_upgrade_refs(r, skipped_io) for r in refs]
    return refs


@functools.lru_cache(maxsize=None)
def accepted_keys(cls) -> frozenset:
    """Keyword arguments the constructors along ``cls``'s MRO name."""
    keys = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                keys.add(p.name)
    return frozenset(keys)


def translate_layer_config(cls, config: dict, class_name: str | None = None) -> dict:
    """Constructor kwargs for ``cls`` from a Keras 1/2/3 layer config (``class_name`` as written).

    Keras 1 names become Keras 2/3 names where ``cls`` takes them; keys that
    ``cls`` does not take are dropped when they are off (None / False, ``groups: 1``),
    change nothing (``_IGNORED_KEYS``) or are never used by that layer (``_UNUSED_KEYS``);
    any other key is kept, so the constructor names it in its error.
    """
    accepted = accepted_keys(cls)
    unused = _UNUSED_KEYS.get(class_name or cls.__name__, frozenset())
    out = {}
    for key, value in config.items():
        if key not in accepted and _KERAS1_KEYS.get(key) in accepted:
            key = _KERAS1_KEYS[key]
            if key == "data_format":
                value = _DATA_FORMATS.get(value, value)
        if key not in accepted and (value is None or value is False or key in _IGNORED_KEYS or key in unused
                                    or (key in _NEUTRAL_VALUES and value == _NEUTRAL_VALUES[key])):
            continue
        out[key] = value
    return out
