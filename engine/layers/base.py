"""Layer: the unit of computation, with a forward that returns its backprop.

A layer subclass implements:

* ``build(input_shape)``: creates weights with :meth:`Layer.add_weight`.
  ``input_shape`` is a tuple with ``None`` for the batch axis (a list of
  tuples for several inputs).
* ``forward(inputs, training=False, mask=None) -> (outputs, backprop)``:
  ``inputs`` is one array or a list of arrays (as the layer was called);
  ``backprop(d_outputs) -> d_inputs`` takes gradients shaped like ``outputs``
  and returns gradients shaped like ``inputs`` (None for integer inputs),
  adding weight gradients with ``variable.add_grad(g)``. A layer called twice
  in one step (a shared layer) returns two closures; their weight grads add up.
* ``skips_input_grad = True`` (optional, with ``forward(..., need_input_grad=True)``):
  the layer can skip computing d_inputs. A model passes ``need_input_grad=False``
  when the layer reads the model's inputs during training (nothing needs their
  gradient); its backprop then returns None for the inputs.
* ``call(inputs, training=False, mask=None) -> outputs`` (optional): a
  forward-only path for inference; defaults to ``forward(...)[0]``.
* ``compute_output_shape(input_shape)`` (optional): defaults to running
  ``call`` on zeros.
* ``compute_mask(inputs, mask)`` (optional): the output mask; by default the
  input mask passes through when ``supports_masking`` is set, else None.
* ``get_config()``: Keras's config keys, merged with the base config.

Calling a layer on :class:`~engine.graph.KerasTensor` objects records a
:class:`~engine.graph.Node` (building a graph); calling it on arrays runs it.
"""
from __future__ import annotations

import numpy as np

from engine import backend, constraints, graph, initializers, naming, regularizers
from engine.variables import Variable, initial_value


class Layer:
    """Base class of every layer (and of Model)."""

    supports_masking = False
    skips_input_grad = False
    # How a saved config names the class: (module, class_name, registered_name) for models, which
    # read their own configs; None for a built-in layer ("keras.layers", its class name, None).
    saved_as = None
    # Whether get_config() is in Keras 3's form already (models, InputLayer) or is converted on saving.
    config_is_keras3 = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None,
                 activity_regularizer=None, **kwargs):
        kwargs.pop("autocast", None)
        kwargs.pop("weights", None)
        if "input_length" in kwargs and input_shape is None and type(self).__name__ != "Embedding":
            input_shape = (kwargs.pop("input_length"),)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {sorted(kwargs)}")
        if name is None:
            name = naming.uniquify(naming.to_snake_case(type(self).__name__))
        else:
            naming.register(name)
        self.name = name
        self.trainable = trainable
        self.dtype = _dtype_name(dtype)
        if batch_input_shape is None and input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self._weights: list[Variable] = []
        self._inbound_nodes = []
        self._outbound_nodes = []
        self._activity_losses: list = []

    # ----------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None,
                   constraint=None, trainable=True, dtype=None):
        """Creates a weight (a :class:`Variable`) initialized now, on the NumPy backend."""
        dtype = _dtype_name(dtype or self.dtype)
        init = initializers.get(initializer)
        value = initial_value(tuple(int(s) for s in shape), dtype, init)
        var = Variable(value, name, trainable=trainable, regularizer=regularizers.get(regularizer),
                       constraint=constraints.get(constraint), layer_name=self.name)
        self._weights.append(var)
        return var

    @property
    def weights(self) -> list[Variable]:
        """All weights in Keras's order: this layer's trainable ones, then its non-trainable ones."""
        return [w for w in self._weights if w.trainable] + [w for w in self._weights if not w.trainable]

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [w for w in self.weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"Layer {self.name!r} expects {len(params)} weights, but the given list has {len(weights)}"
            )
        for var, value in zip(params, weights):
            value = np.asarray(value)
            if tuple(value.shape) != var.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight {var.name!r} has shape {var.shape}, "
                    f"but the given weight has shape {tuple(value.shape)}"
                )
            var.assign(value)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -------------------------------------------------------------- computation
    def build(self, input_shape) -> None:
        self.built = True

    def maybe_build(self, input_shape) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True

    def forward(self, inputs, training=False, mask=None):
        raise TypeError(f"Layer {type(self).__name__} does not define forward()")

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, training=training, mask=mask)[0]

    def compute_mask(self, inputs, mask=None):
        if self.supports_masking:
            return mask
        return None

    def compute_output_shape(self, input_shape):
        """Output shape(s) for ``input_shape``, found by running ``call`` on zeros."""
        return graph.probe_output_shape(self, input_shape)

    def run(self, inputs, training=False, mask=None, need_backprop=True, need_input_grad=True):
        """``forward`` plus the activity regularizer; what models call for each node.

        ``need_input_grad=False`` reaches ``forward`` only for a layer with ``skips_input_grad``.
        """
        if need_backprop:
            if need_input_grad or not self.skips_input_grad:
                out, bp = self.forward(inputs, training=training, mask=mask)
            else:
                out, bp = self.forward(inputs, training=training, mask=mask, need_input_grad=False)
        else:
            out, bp = self.call(inputs, training=training, mask=mask), None
        if self.activity_regularizer is not None:
            # Keras 3 divides each output's activity penalty by the batch size.
            outs = out if isinstance(out, (list, tuple)) else [out]
            reg = self.activity_regularizer
            self._activity_losses.extend(float(reg(o)) / o.shape[0] for o in outs)
            if need_backprop:
                inner = bp

                def bp(d_out):
                    if isinstance(out, (list, tuple)):
                        d_out = [d + reg.gradient(o) / o.shape[0] for d, o in zip(d_out, out)]
                    else:
                        d_out = d_out + reg.gradient(out) / out.shape[0]
                    return inner(d_out)
        return out, bp

    def __call__(self, inputs, *args, **kwargs):
        if graph.is_symbolic(inputs):
            return graph.call_symbolic(self, inputs, *args, **kwargs)
        training = kwargs.pop("training", False)
        mask = kwargs.pop("mask", None)
        if kwargs or args:
            raise TypeError(f"{type(self).__name__} got unexpected arguments when called on arrays")
        self.maybe_build(graph.shape_of(inputs))
        return self.call(inputs, training=bool(training), mask=mask)

    # ------------------------------------------------------------ graph access
    def _get_node_attribute(self, node_index, attr, label):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} is not connected, so it has no {label}")
        if node_index >= len(self._inbound_nodes):
            raise ValueError(
                f"Asked for node {node_index} of layer {self.name!r}, which has only "
                f"{len(self._inbound_nodes)} inbound node(s)"
            )
        value = getattr(self._inbound_nodes[node_index], attr)
        return value[0] if len(value) == 1 else list(value)

    def get_input_at(self, node_index):
        return self._get_node_attribute(node_index, "input_tensors", "input")

    def get_output_at(self, node_index):
        return self._get_node_attribute(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index):
        t = self.get_input_at(node_index)
        return [x.shape for x in t] if isinstance(t, list) else t.shape

    def get_output_shape_at(self, node_index):
        t = self.get_output_at(node_index)
        return [x.shape for x in t] if isinstance(t, list) else t.shape

    def _single_node_attr(self, getter, label):
        if len(self._inbound_nodes) > 1:
            raise AttributeError(
                f"Layer {self.name!r} has multiple inbound nodes, hence the notion of \"layer {label}\" "
                f"is ill-defined. Use `get_{label.replace(' ', '_')}_at(node_index)` instead."
            )
        return getter(0)

    @property
    def input(self):
        return self._single_node_attr(self.get_input_at, "input")

    @property
    def output(self):
        return self._single_node_attr(self.get_output_at, "output")

    @property
    def input_shape(self):
        return self._single_node_attr(self.get_input_shape_at, "input shape")

    @property
    def output_shape(self):
        return self._single_node_attr(self.get_output_shape_at, "output shape")

    # ----------------------------------------------------------- serialization
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _dtype_name(dtype) -> str:
    """Keras 3 writes dtype policies as dicts; accept names, policies and None."""
    if isinstance(dtype, dict):
        cfg = dtype.get("config", {})
        dtype = cfg.get("name", None)
        if dtype == "mixed_float16" or dtype == "mixed_bfloat16":
            dtype = "float32"
    return backend.standardize_dtype(dtype)
