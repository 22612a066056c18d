"""InputLayer and ``Input``: where a Functional graph starts."""
from __future__ import annotations

from engine import naming
from engine.graph import KerasTensor, Node
from engine.layers.base import Layer
from engine.saving.layer_registry import register


@register
class InputLayer(Layer):
    """The layer behind ``Input``: holds the input's shape and dtype; no computation."""

    config_is_keras3 = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, name=None, input_shape=None, batch_input_shape=None, ragged=None,
                 optional=False, **kwargs):
        if name is None:
            name = naming.uniquify("input_layer")
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is None:
            if shape is None:
                shape = input_shape
            if shape is None:
                raise ValueError("Input needs `shape` or `batch_shape`")
            batch_shape = (batch_size,) + tuple(shape)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self._batch_input_shape = tuple(batch_shape)
        self.built = True
        tensor = KerasTensor(self._batch_input_shape, self.dtype, name=name, keras_history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [tensor]))

    @property
    def batch_shape(self):
        return self._batch_input_shape

    def forward(self, inputs, training=False, mask=None):
        return inputs, lambda d: d

    def call(self, inputs, training=False, mask=None):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self._batch_input_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=None, batch_shape=None,
          tensor=None, ragged=None, optional=False):
    """A symbolic input tensor of ``shape`` (without the batch axis), as ``keras.Input``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer._inbound_nodes[0].output_tensors[0]
