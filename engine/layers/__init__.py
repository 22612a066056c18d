"""Keras layers by Keras's names (``engine.layers.Dense``, ``engine.layers.concatenate``, ...)."""
from engine.graph import Input, InputLayer
from engine.layers.base import Layer
from engine.layers.core import Activation, Dense, Dropout, Flatten, Permute, RepeatVector, Reshape
from engine.layers.merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                                 average, concatenate, dot, maximum, minimum, multiply, subtract)
from engine.layers.registry import get_class, register

register(InputLayer)


def deserialize(config, custom_objects=None):
    """A layer from ``{"class_name", "config"}`` (Keras 3 or Keras 2 form)."""
    from engine.saving.serialization import deserialize_layer

    return deserialize_layer(config)
