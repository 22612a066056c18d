"""A Functional model's config, Keras 3's form written, Keras 3 and Keras 2 forms read.

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
"""
from __future__ import annotations

from engine.saving import keras2
from engine.saving.serialization import deserialize_layer, keras_class_name, serialize_layer

_TENSOR = "__keras_tensor__"
# Recurrent layers take initial states as extra list inputs in fitq and as ``initial_state=`` in Keras 3.
_STATEFUL_CALL_LAYERS = ("RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
                         "ConvLSTM3D")


def get_config(model) -> dict:
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
        first = 1 if io and keras_class_name(layer) == "Functional" else 0
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


def from_config(cls, config):
    """A ``cls`` (Model) from a Keras 3 (or Keras 2) Functional config.

    Nodes are created in Keras's order: layers in config order, each layer's
    pending nodes in order until one needs a tensor that does not exist yet,
    repeated until every node exists.
    """
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
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


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
