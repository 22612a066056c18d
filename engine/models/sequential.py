"""Sequential: a linear stack of layers, built as a Functional graph once its input shape is known."""
from __future__ import annotations

from engine import graph, naming
from engine.graph import KerasTensor
from engine.layers.base import Layer
from engine.layers.input_layer import InputLayer
from engine.models.model import Model
from engine.saving.layer_registry import register
from engine.saving.serialization import deserialize_layer, dtype_policy, serialize_layer


@register
class Sequential(Model):
    """``Sequential(layers=None, name=None)``; ``add`` / ``pop``; the first layer may carry ``input_shape``.

    Without an input shape the model builds on first use (``fit``, ``predict``, ``build``).
    """

    saved_as = ("keras", "Sequential", None)

    def __init__(self, layers=None, name=None, trainable=True):
        Layer.__init__(self, name=name or naming.uniquify("sequential"), trainable=trainable)
        self._init_trainer()
        self._backend = "numpy"
        self._stack: list[Layer] = []
        self._input_layer = None
        self._own_nodes: list = []
        self.inputs, self.outputs = [], []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer):
        """Appends ``layer`` (or sets the input with an ``Input`` tensor / InputLayer) and rebuilds."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("Sequential model already has an input; an InputLayer can only be the first layer")
            self._input_layer = layer
            self._rebuild()
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential model. Received: {layer!r}")
        if any(l.name == layer.name for l in self._stack):
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name {layer.name!r} is already "
                f"the name of a layer in this model. Update the `name` argument to pass a unique name."
            )
        if not self._stack and self._input_layer is None:
            shape = layer._batch_input_shape
            if shape is None and hasattr(layer, "inputs") and len(getattr(layer, "inputs", [])) == 1:
                shape = layer.inputs[0].shape
            if shape is not None:
                self._input_layer = InputLayer(batch_shape=shape, dtype=layer.dtype if layer._batch_input_shape else None)
        self._stack.append(layer)
        self._rebuild()

    def pop(self):
        """Removes the last layer."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self._rebuild()
        return layer

    def _rebuild(self):
        for node in self._own_nodes:
            if node in node.layer._inbound_nodes:
                node.layer._inbound_nodes.remove(node)
        self._own_nodes = []
        if self._input_layer is None or not self._stack:
            self.built = False
            return
        x = self._input_layer._inbound_nodes[0].output_tensors[0]
        inputs = x
        for layer in self._stack:
            x = layer(x)
            if isinstance(x, list):
                if len(x) != 1:
                    raise ValueError(
                        f"All layers in a Sequential model should have a single output tensor; layer {layer.name!r} "
                        f"has {len(x)} outputs. For multi-output layers, use the functional API."
                    )
                x = x[0]
            self._own_nodes.append(x._keras_history[0]._inbound_nodes[x._keras_history[1]])
        self._init_graph(inputs, x)

    def build(self, input_shape=None):
        """Builds the graph for ``input_shape`` (with the batch axis) when no input shape was given."""
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument to build a Sequential model")
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        self._rebuild()

    def maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)

    def _ensure_built(self, x):
        if self.built:
            return
        if not self._stack:
            raise ValueError("This Sequential model has no layers yet: add layers before using it")
        arr = x[0] if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape") else x
        if isinstance(arr, dict):
            arr = next(iter(arr.values()))
        if not hasattr(arr, "shape"):
            raise ValueError(
                "This Sequential model has no input shape yet; give the first layer `input_shape=` or call "
                "`model.build(input_shape)`"
            )
        self.build((None,) + tuple(arr.shape[1:]))

    # The graph-dependent API builds the model on first use, as Keras does.
    def fit(self, x=None, y=None, *args, **kwargs):
        self._ensure_built(x)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._ensure_built(x)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().train_on_batch(x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().test_on_batch(x, *args, **kwargs)

    def predict_on_batch(self, x):
        self._ensure_built(x)
        return super().predict_on_batch(x)

    @property
    def output_names(self):
        if not self.built:
            return [self._stack[-1].name] if self._stack else []
        return super().output_names

    @property
    def input_names(self):
        if not self.built:
            return [self._input_layer.name] if self._input_layer else ["input_layer"]
        return super().input_names

    def __call__(self, inputs, *args, **kwargs):
        if not self.built:
            shape = graph.shape_of(inputs) if not graph.is_symbolic(inputs) else inputs.shape
            self.build((None,) + tuple(shape[1:]))
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        """Keras 3's Sequential config: the InputLayer (once known) then each layer."""
        layers = []
        if self._input_layer is not None:
            layers.append(serialize_layer(self._input_layer))
        layers.extend(serialize_layer(layer) for layer in self.layers)
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy("float32"), "layers": layers}
        if self.built:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Sequential model from Keras 3, tf.keras 2.x or Keras 2.0-2.3 Sequential config."""
        if isinstance(config, list):
            config = {"layers": config}
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("A Sequential config needs a 'layers' list")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry))
        shape = config.get("build_input_shape")
        if not model.built and isinstance(shape, (list, tuple)) and model.layers:
            model.build(tuple(shape))
        return model
