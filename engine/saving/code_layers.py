"""Layers that carry Python code (``Lambda`` and TensorFlow's op layers): fitq never builds or runs them.

One list, read by the deserializer (which refuses such a layer) and by the service (which names
the offending layer's place in a submitted model before anything is built).
"""
from __future__ import annotations

from typing import Any

CODE_LAYERS = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda"})


def carries_code(class_name: str, config: Any) -> bool:
    """Whether a layer of ``class_name`` with ``config`` would carry code (a known code layer, or a
    config holding a serialized ``function``)."""
    return class_name in CODE_LAYERS or (isinstance(config, dict) and "function" in config)


def first_code_layer(config: Any, path: str = "model") -> str | None:
    """The path (``model.config.layers[2]``) of the first layer in a model config that carries code, or None."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str) and carries_code(config["class_name"], config.get("config")):
            return path
        for key, value in config.items():
            found = first_code_layer(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(config, list):
        for i, value in enumerate(config):
            found = first_code_layer(value, f"{path}[{i}]")
            if found:
                return found
    return None
