"""Keras 3 optimizers on engine Variables, and ``get`` / ``serialize``.

``get("adam")`` (any case), ``get({"class_name": "Adam", "config": {...}})`` (Keras 3
or Keras 2 configs: "lr", "decay" and legacy keys accepted) or an instance.
"""
from __future__ import annotations

from engine.optimizers import schedules
from engine.optimizers.adadelta import Adadelta
from engine.optimizers.adafactor import Adafactor
from engine.optimizers.adagrad import Adagrad
from engine.optimizers.adam import Adam, AdamW
from engine.optimizers.adamax import Adamax
from engine.optimizers.base import Optimizer
from engine.optimizers.ftrl import Ftrl
from engine.optimizers.lamb import Lamb
from engine.optimizers.lion import Lion
from engine.optimizers.nadam import Nadam
from engine.optimizers.rmsprop import RMSprop
from engine.optimizers.sgd import SGD
from engine.registry import serialized

ALL_OBJECTS = (Adam, SGD, RMSprop, Adadelta, AdamW, Adagrad, Adamax, Adafactor, Nadam, Ftrl, Lion, Lamb)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def serialize(optimizer):
    """An optimizer in Keras 3's form ``{"module", "class_name", "config", "registered_name"}``."""
    return serialized("keras.optimizers", optimizer)


def deserialize(config):
    cls = ALL_OBJECTS_DICT.get(str(config.get("class_name", "")).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """The optimizer for a name (case-insensitive), a serialized dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
        return cls()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")


__all__ = [
    "Optimizer", "get", "serialize", "deserialize", "schedules", "ALL_OBJECTS_DICT",
    "Adam", "SGD", "RMSprop", "Adadelta", "AdamW", "Adagrad", "Adamax", "Adafactor", "Nadam", "Ftrl", "Lion", "Lamb",
]
