"""Model JSON: Keras 3's ``to_json`` format written; Keras 3 and Keras 2 formats read.

A Keras 3 Functional config lists its layers, each with ``inbound_nodes``:
``[{"args": [tensor or [tensors]], "kwargs": {...}}]``, where a tensor is
``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer_name, node_index, tensor_index]}}``, its node index
counting the producing layer's calls within this model from 0. In
``input_layers`` / ``output_layers`` (``[layer_name, node_index,
tensor_index]``) the calls of a nested Functional model count from 1 (Keras
reserves 0 for the node linking its own inputs to its outputs); those of a
nested Sequential count from 0. fitq's layers count only the calls, so
reading subtracts that offset and writing adds it.

Keras 2 configs (tf.keras 2.x and standalone Keras 2.3) are first rewritten
into this form by :mod:`engine.saving.keras2`.
"""
from __future__ import annotations

import json

from engine.saving import keras2
from engine.saving.code_layers import carries_code

_TENSOR = "__keras_tensor__"
# Recurrent layers take initial states as extra list inputs in fitq and as ``initial_state=`` in Keras 3.
_STATEFUL_CALL_LAYERS = ("RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
                         "ConvLSTM3D")


# ------------------------------------------------------------------- writing
def to_json(model, **kwargs) -> str:
    """``model`` as Keras 3 ``to_json()`` text (``kwargs`` go to ``json.dumps``).

    A model read from a Keras 1/2 file keeps that file's ``keras_version`` at the top, so
    fitq reads it back with Keras 2's semantics (Keras 3 ignores the key).
    """
    return json.dumps(serialize_model(model), **kwargs)


def serialize_model(model) -> dict:
    """``serialize_layer(model)`` plus the ``keras_version`` of the Keras 1/2 file it came from."""
    config = serialize_layer(model)
    version = getattr(model, "keras_version", None)
    if keras2.is_keras2_version(version):
        config["keras_version"] = version
    return config


def _is_sequential(layer) -> bool:
    from engine.models.sequential import Sequential

    return isinstance(layer, Sequential)


def _is_functional(layer) -> bool:
    from engine.models.model import Model

    return isinstance(layer, Model) and not _is_sequential(layer)


def dtype_policy(name: str) -> dict:
    """Keras 3's serialized dtype policy for ``name``."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def keras3_layer_config(layer) -> dict:
    """``layer.get_config()`` in Keras 3's form: dtype policy dict, no ``batch_input_shape``."""
    from engine.graph import InputLayer

    config = dict(layer.get_config())
    if isinstance(layer, InputLayer):
        return config
    config.pop("batch_input_shape", None)
    if isinstance(config.get("dtype"), str):
        config["dtype"] = dtype_policy(config["dtype"])
    return config


def serialize_layer(layer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` of a layer or model, as Keras 3 writes it."""
    if _is_sequential(layer):
        return {"module": "keras", "class_name": "Sequential", "config": sequential_config(layer),
                "registered_name": None}
    if _is_functional(layer):
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": functional_config(layer), "registered_name": "Functional"}
    return {"module": "keras.layers", "class_name": type(layer).__name__, "config": keras3_layer_config(layer),
            "registered_name": None}


def sequential_config(model) -> dict:
    """Keras 3's Sequential config: the InputLayer (once known) then each layer."""
    layers = []
    if model._input_layer is not None:
        layers.append(serialize_layer(model._input_layer))
    layers.extend(serialize_layer(layer) for layer in model.layers)
    config = {"name": model.name, "trainable": model.trainable, "dtype": dtype_policy("float32"), "layers": layers}
    if model.built:
        config["build_input_shape"] = list(model._input_layer.batch_shape)
    return config


def functional_config(model) -> dict:
    """Keras 3's Functional config: layers with their inbound nodes, input and output references."""
    kept = {id(n) for n in model._run_order} | {id(t.node) for t in model.inputs}
    new_index = {}
    for layer in model.layers:
        count = 0
        for i, node in enumerate(layer._inbound_nodes):
            if id(node) in kept:
                new_index[(id(layer), i)] = count
                count += 1

    def history(t, io=False):
        layer, node_index, tensor_index = t._keras_history
        first = 1 if io and _is_functional(layer) else 0
        return [layer.name, new_index[(id(layer), node_index)] + first, tensor_index]

    def tensor(t):
        return {"class_name": _TENSOR, "config": {"shape": list(t.shape), "dtype": t.dtype,
                                                  "keras_history": history(t)}}

    def node_config(node):
        ts = node.input_tensors
        if type(node.layer).__name__ in _STATEFUL_CALL_LAYERS and len(ts) > 1:
            return {"args": [tensor(ts[0])], "kwargs": {"initial_state": [tensor(t) for t in ts[1:]]}}
        if node.single_input:
            return {"args": [tensor(ts[0])], "kwargs": {}}
        return {"args": [[tensor(t) for t in ts]], "kwargs": {}}

    layers = []
    for layer in model.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [node_config(n) for n in layer._inbound_nodes
                                  if id(n) in kept and not n.is_input]
        layers.append(entry)

    def refs(kind, tensors):
        if kind == "single":
            return history(tensors[0], io=True)
        if isinstance(kind, tuple):
            return {k: history(t, io=True) for k, t in zip(kind, tensors)}
        return [history(t, io=True) for t in tensors]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": refs(model._input_kind, model.inputs),
            "output_layers": refs(model._output_kind, model.outputs)}


# ------------------------------------------------------------------- reading
def model_from_json(json_string, custom_objects=None):
    """A model from Keras 3 or Keras 2 ``to_json()`` text (str, bytes or an already parsed dict)."""
    if isinstance(json_string, dict):
        config = json_string
    else:
        try:
            config = json.loads(json_string)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The model JSON could not be parsed: {exc}") from exc
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("The model JSON must be an object with a 'class_name' and a 'config' (Keras to_json output)")
    return deserialize_layer(config)


def _refuse_code(class_name, config):
    if carries_code(class_name, config):
        raise ValueError(
            f"Layer class '{class_name}' carries Python code; code in models is not allowed "
            "(fitq never runs code from a model file)"
        )


def deserialize_layer(config, custom_objects=None, keras_version=None):
    """A layer or model from ``{"class_name", "config", ...}`` in Keras 3 or Keras 2 form.

    A config written by Keras 1/2 (``keras_version``, given or in the config, or Keras 2's
    form) is read with Keras 2's definitions where Keras 3 changed them; models keep that
    version as ``model.keras_version`` (None for Keras 3).
    """
    if keras2.is_reading():
        return _deserialize(config)
    version = keras2.keras_version_of(config, keras_version)
    with keras2.reading(version):
        return _deserialize(config)


def _deserialize(config):
    import engine.layers  # noqa: F401 - every layer module registers its classes on import
    from engine.layers import registry

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A layer config must be a dict with 'class_name' and 'config', got {config!r}")
    class_name = config["class_name"]
    inner = config.get("config")
    if class_name in ("Functional", "Model", "Sequential"):
        model = (sequential_from_config if class_name == "Sequential" else functional_from_config)(inner)
        model.keras_version = keras2.version_being_read()
        return model
    _refuse_code(class_name, inner)
    registered = config.get("registered_name")
    if registered not in (None, class_name):
        raise ValueError(f"Unknown layer: '{registered}' (a custom layer); fitq loads only Keras's built-in layers")
    if not isinstance(class_name, str):
        raise ValueError(f"Layer 'class_name' must be a string, got {class_name!r}")
    cls = registry.get_class(class_name)
    if not isinstance(inner, dict):
        raise ValueError(f"Layer '{class_name}' needs a 'config' dict, got {inner!r}")
    keras2_file = keras2.is_keras2_version(keras2.version_being_read())
    if keras2_file:
        inner = keras2.keras2_semantics(cls.__name__, inner)
    kwargs = keras2.translate_layer_config(cls, inner, class_name)
    try:
        layer = cls.from_config(kwargs)
    except TypeError as exc:
        raise ValueError(f"Layer '{class_name}' cannot be built from its config: {exc}") from exc
    return keras2.keras2_layer(layer) if keras2_file else layer


def sequential_from_config(config):
    """A Sequential model from Keras 3, tf.keras 2.x or Keras 2.0-2.3 Sequential config."""
    from engine.models.sequential import Sequential

    if isinstance(config, list):
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("A Sequential config needs a 'layers' list")
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config["layers"]:
        model.add(deserialize_layer(entry))
    shape = config.get("build_input_shape")
    if not model.built and isinstance(shape, (list, tuple)) and model.layers:
        model.build(tuple(shape))
    return model


def _is_ref(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 3 and isinstance(x[0], str)


def _entry_name(entry):
    if not isinstance(entry, dict):
        raise ValueError(f"Each entry of 'layers' must be a dict, got {entry!r}")
    name = entry.get("name") or (entry.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise ValueError(f"Layer entry without a name: {entry!r}")
    return name


def _flat_refs(refs):
    if _is_ref(refs):
        return [refs]
    if isinstance(refs, dict):
        return [r for v in refs.values() for r in _flat_refs(v)]
    if isinstance(refs, list):
        return [r for v in refs for r in _flat_refs(v)]
    return []


def _call_refs(node):
    """Every keras_history triple in a Keras 3 node's arguments other than ``mask`` / ``training``."""
    if not isinstance(node, dict):
        return []
    values = list(node.get("args") or [])
    values += [v for k, v in (node.get("kwargs") or {}).items() if k not in ("mask", "training")]
    refs = []
    for value in values:
        refs.extend(_tensor_refs(value) or [])
    return refs


def _needed_layers(config):
    """Names of the layers the outputs depend on (through call arguments, not masks).

    Keras 3 records how it computed an implicit mask (``NotEqual`` / ``Any`` op
    nodes after a Masking layer) as layers feeding only ``mask=`` arguments;
    fitq propagates masks itself, so those are left out.
    """
    deps = {}
    for entry in config["layers"]:
        name = _entry_name(entry)
        deps[name] = {ref[0] for node in (entry.get("inbound_nodes") or []) for ref in _call_refs(node)}
    needed = set()
    stack = [r[0] for r in _flat_refs(config.get("output_layers")) + _flat_refs(config.get("input_layers"))]
    while stack:
        name = stack.pop()
        if name not in needed and name in deps:
            needed.add(name)
            stack.extend(deps[name])
    return needed


def functional_from_config(config):
    """A Functional model from a Keras 3 (or Keras 2) Functional config.

    Nodes are created in Keras's order: layers in config order, each layer's
    pending nodes in order until one needs a tensor that does not exist yet,
    repeated until every node exists.
    """
    from engine.models.model import Model

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("A Functional config needs a 'layers' list")
    config = keras2.upgrade_functional_config(config)
    needed = _needed_layers(config)
    created, pending, offset, order = {}, {}, {}, []
    for entry in config["layers"]:
        name = _entry_name(entry)
        if name not in needed:
            continue
        if name in created:
            raise ValueError(f'The name "{name}" is used 2 times in the model. All layer names should be unique.')
        created[name] = deserialize_layer(entry)
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"'inbound_nodes' of layer {name!r} must be a list")
        pending[name] = list(nodes)
        offset[name] = 1 if entry["class_name"] in ("Functional", "Model") else 0
        order.append(name)

    def tensor_at(ref, user, io=False):
        layer_name, node_index, tensor_index = ref
        if layer_name not in created:
            raise ValueError(f"Layer {user!r} refers to an unknown layer {layer_name!r}")
        layer = created[layer_name]
        index = int(node_index) - (offset[layer_name] if io else 0)
        if index < 0:
            raise ValueError(f"Layer {user!r} refers to node {node_index} of {layer_name!r}, which does not exist")
        if index >= len(layer._inbound_nodes):
            return None
        outputs = layer._inbound_nodes[index].output_tensors
        if int(tensor_index) >= len(outputs):
            raise ValueError(f"Layer {user!r} refers to output {tensor_index} of {layer_name!r}, which has "
                             f"{len(outputs)} output(s)")
        return outputs[int(tensor_index)]

    while any(pending.values()):
        progressed = False
        for name in order:
            while pending[name]:
                call_inputs = _node_inputs(pending[name][0], name, tensor_at)
                if call_inputs is None:
                    break
                created[name](call_inputs)
                pending[name].pop(0)
                progressed = True
        if not progressed:
            stuck = next(n for n in order if pending[n])
            raise ValueError(f"The model config cannot be built: an inbound node of layer {stuck!r} needs a tensor "
                             "that no layer produces")

    def build(refs, what):
        if _is_ref(refs):
            t = tensor_at(refs, what, io=True)
            if t is None:
                raise ValueError(f"The model's {what} refer to node {refs[1]} of {refs[0]!r}, which does not exist")
            return t
        if isinstance(refs, dict):
            return {k: build(v, what) for k, v in refs.items()}
        if isinstance(refs, list):
            return [build(r, what) for r in refs]
        raise ValueError(f"Invalid {what} reference: {refs!r}")

    inputs = build(config.get("input_layers"), "input_layers")
    outputs = build(config.get("output_layers"), "output_layers")
    return Model(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _node_refs(node, user):
    """(keras_history triples of a Keras 3 inbound node's inputs, whether it is a single-tensor call)."""
    if not isinstance(node, dict):
        raise ValueError(f"Invalid inbound node of layer {user!r}: {node!r}")
    args = node.get("args") or []
    kwargs = node.get("kwargs") or {}
    flat, single = [], True
    for i, arg in enumerate(args):
        tensors = _tensor_refs(arg)
        if tensors is None:
            raise ValueError(f"Layer {user!r} is called with a non-tensor argument {arg!r}; fitq cannot rebuild it")
        single = single and i == 0 and isinstance(arg, dict) and len(args) == 1
        flat.extend(tensors)
    for key, value in kwargs.items():
        tensors = _tensor_refs(value)
        if key in ("mask", "training") or not tensors:
            continue
        if key != "initial_state":
            raise ValueError(f"Layer {user!r} is called with tensor argument {key!r}, which fitq cannot rebuild")
        single = False
        flat.extend(tensors)
    if not flat:
        raise ValueError(f"An inbound node of layer {user!r} has no input tensors")
    return flat, single


def _node_inputs(node, user, tensor_at):
    """What to call a layer with for one Keras 3 inbound node: a tensor or a list; None if not ready."""
    flat, single = _node_refs(node, user)
    resolved = [tensor_at(ref, user) for ref in flat]
    if any(t is None for t in resolved):
        return None
    return resolved[0] if single else resolved


def _tensor_refs(x):
    """The keras_history triples of the tensors in ``x`` (a tensor dict or a nested list); None for other values."""
    if isinstance(x, dict) and x.get("class_name") == _TENSOR:
        history = (x.get("config") or {}).get("keras_history")
        if not _is_ref(history):
            raise ValueError(f"Invalid keras_history in tensor {x!r}")
        return [history]
    if isinstance(x, (list, tuple)):
        out = []
        for item in x:
            refs = _tensor_refs(item)
            if refs is None:
                return None
            out.extend(refs)
        return out
    return None
