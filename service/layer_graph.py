"""A built model's ``summary()`` text and its layer graph as JSON, for the dashboard's job page.

The graph has one node per layer (inputs included) and one edge per tensor passed between layers,
so shared layers (several calls) and multi-input / multi-output Functional models show as they are.
"""
from __future__ import annotations


def summary_text(model) -> str:
    """What ``model.summary()`` prints."""
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _shape(tensors) -> list:
    shapes = [list(t.shape) for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def layer_graph(model) -> dict:
    """``{"nodes": [{"name", "class_name", "params", "calls", "output_shape"}], "edges": [{"source", "target"}],
    "inputs": [...], "outputs": [...]}``, nodes in the order the model runs them."""
    nodes: dict[str, dict] = {}
    for name, tensor in zip(model.input_names, model.inputs):
        nodes[name] = {"name": name, "class_name": "InputLayer", "params": 0, "calls": 1,
                       "output_shape": list(tensor.shape)}
    edges: list[dict] = []
    for node in model._run_order:
        layer = node.layer
        entry = nodes.setdefault(layer.name, {"name": layer.name, "class_name": type(layer).__name__,
                                              "params": int(layer.count_params()), "calls": 0,
                                              "output_shape": _shape(node.output_tensors)})
        entry["calls"] += 1
        for tensor in node.input_tensors:
            edge = {"source": tensor._keras_history[0].name, "target": layer.name}
            if edge not in edges:
                edges.append(edge)
    return {"nodes": list(nodes.values()), "edges": edges, "inputs": list(model.input_names),
            "outputs": list(model.output_names)}
