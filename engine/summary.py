"""``model.summary()``: Keras 2's text table of layers, output shapes and parameter counts."""
from __future__ import annotations

import numpy as np


def _is_sequential_like(model) -> bool:
    if type(model).__name__ == "Sequential":
        return True
    for layer in model.layers:
        nodes = [n for n in layer._inbound_nodes if n in getattr(model, "_run_order", [])]
        if len(nodes) > 1 or any(len(n.input_tensors) > 1 for n in nodes):
            return False
    return True


def _shape_text(layer, model):
    nodes = [n for n in layer._inbound_nodes if n in model._run_order or (n.is_input and n.output_tensors[0] in model.inputs)]
    if not nodes:
        return "?"
    shapes = [tuple(t.shape) for t in nodes[0].output_tensors]
    text = shapes[0] if len(shapes) == 1 else shapes
    return str(text)


def _count(weights) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _row(fields, positions, line_length):
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        line += str(field)
        line = line[: positions[i]]
        line += " " * (positions[i] - len(line))
    return line[:line_length]


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False):
    """Prints the summary table of ``model`` through ``print_fn`` (default ``print``)."""
    print_fn = print_fn or print
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(headers, positions, line_length))
    print_fn("=" * line_length)
    layers = model.layers
    for i, layer in enumerate(layers):
        name = f"{layer.name} ({type(layer).__name__})"
        fields = [name, _shape_text(layer, model), f"{layer.count_params():,}"]
        if sequential_like:
            print_fn(_row(fields, positions, line_length))
        else:
            sources = []
            for node in layer._inbound_nodes:
                if node not in model._run_order:
                    continue
                for t in node.input_tensors:
                    src, node_index, tensor_index = t._keras_history
                    sources.append(f"{src.name}[{node_index}][{tensor_index}]")
            print_fn(_row(fields + [sources[0] if sources else ""], positions, line_length))
            for extra in sources[1:]:
                print_fn(_row(["", "", "", extra], positions, line_length))
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = _count(model.trainable_weights)
    total = _count(model.weights)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)
