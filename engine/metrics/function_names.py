"""Metric functions by name, for ``MeanMetricWrapper`` configs and ``metrics.get("binary_accuracy")``.

Keras's loss functions are metric functions; the modules that define the others register them
with :func:`register` as they are imported. Where both share a name (``cosine_similarity``), the
loss function is the one found.
"""
from __future__ import annotations

from typing import Callable

from engine.losses.public import ALL_FUNCTIONS, serialize_function

_METRIC_FUNCTIONS: dict[str, Callable] = {}
_LOSS_FUNCTIONS = {fn.__name__: fn for fn in ALL_FUNCTIONS}


def register(fn: Callable) -> Callable:
    """Decorator: makes metric function ``fn`` known by its name."""
    _METRIC_FUNCTIONS[fn.__name__] = fn
    return fn


def find(name) -> Callable | None:
    """The metric function called ``name``, or None."""
    if not isinstance(name, str):
        return None
    return _LOSS_FUNCTIONS.get(name) or _METRIC_FUNCTIONS.get(name)


def deserialize_function(config) -> Callable:
    """The function named by ``config``: a name, or Keras 3's ``{"class_name": "function", "config": name}``."""
    fn = find(config.get("config") if isinstance(config, dict) else config)
    if fn is None:
        raise ValueError(f"Could not interpret metric identifier: {config}")
    return fn


__all__ = ["deserialize_function", "find", "register", "serialize_function"]
