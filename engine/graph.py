"""Symbolic graph: KerasTensor, Node, and calling a layer on KerasTensors.

Calling a layer on KerasTensors creates a Node recording which tensors went
in and which came out; a Functional model walks these nodes. Shapes are
tuples with ``None`` for unknown sizes (the batch axis always).
"""
from __future__ import annotations

import numpy as np

from engine import backend


class KerasTensor:
    """A symbolic tensor: shape, dtype, and the (layer, node_index, tensor_index) that made it."""

    def __init__(self, shape, dtype="float32", name=None, keras_history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = backend.standardize_dtype(dtype)
        self.name = name
        self._keras_history = keras_history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self):
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of ``layer``: ``input_tensors`` (flat) in, ``output_tensors`` (flat) out.

    ``single_input`` / ``single_output`` remember whether the call took and gave a
    single tensor or a list; ``call_kwargs`` keeps extra non-tensor arguments.
    """

    def __init__(self, layer, input_tensors, output_tensors, single_input=True, single_output=True,
                 call_kwargs=None):
        self.layer = layer
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.single_input = single_input
        self.single_output = single_output
        self.call_kwargs = dict(call_kwargs or {})
        self.parent_nodes = [t.node for t in self.input_tensors]

    @property
    def is_input(self) -> bool:
        return not self.input_tensors

    def unpack_outputs(self, outputs):
        return [outputs] if self.single_output else list(outputs)


def is_symbolic(x) -> bool:
    """Whether ``x`` (a tensor, or a list/tuple of them) is symbolic."""
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)) and x:
        return any(is_symbolic(t) for t in x)
    return False


def shape_of(x):
    """Shape tuple of an array, or list of shapes for a list of arrays."""
    if isinstance(x, (list, tuple)):
        return [shape_of(t) for t in x]
    return tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)


def call_symbolic(layer, inputs, *args, **kwargs):
    """Records ``layer(inputs)`` on KerasTensors as a Node and returns its output tensor(s)."""
    kwargs.pop("training", None)
    kwargs.pop("mask", None)
    if args:
        raise TypeError(f"Layer {layer.name!r} got unexpected positional arguments when called")
    single_input = isinstance(inputs, KerasTensor)
    flat = [inputs] if single_input else list(inputs)
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise ValueError(
                f"Layer {layer.name!r} was called with a mix of symbolic tensors and arrays: {type(t).__name__}"
            )
    input_shape = flat[0].shape if single_input else [t.shape for t in flat]
    layer.maybe_build(input_shape)
    out_shape = layer.compute_output_shape(input_shape)
    out_dtype = layer.output_dtype(flat) if hasattr(layer, "output_dtype") else layer.dtype
    single_output = not (isinstance(out_shape, list) and (not out_shape or isinstance(out_shape[0], (tuple, list))))
    out_shapes = [out_shape] if single_output else list(out_shape)
    node_index = len(layer._inbound_nodes)
    outputs = [
        KerasTensor(s, out_dtype, name=f"{layer.name}_{node_index}_{i}" if i else layer.name,
                    keras_history=(layer, node_index, i))
        for i, s in enumerate(out_shapes)
    ]
    node = Node(layer, flat, outputs, single_input=single_input, single_output=single_output, call_kwargs=kwargs)
    layer._inbound_nodes.append(node)
    for t in flat:
        t.node.layer._outbound_nodes.append(node)
    return outputs[0] if single_output else outputs


_PROBE_BATCH = 2
_PROBE_FREE = (1009, 1013, 1019, 1021)


def probe_output_shape(layer, input_shape):
    """Output shape of ``layer`` by running ``call`` on zeros; probe sizes mapping back to None."""
    multi = isinstance(input_shape, list)
    shapes = input_shape if multi else [input_shape]
    free = iter(_PROBE_FREE)
    concrete, probes = [], set()
    for s in shapes:
        dims = []
        for i, d in enumerate(s):
            if d is None:
                d = _PROBE_BATCH if i == 0 else next(free)
                if i:
                    probes.add(d)
            dims.append(d)
        concrete.append(np.zeros(dims, dtype="float32"))
    out = layer.call(concrete if multi else concrete[0], training=False)

    def back(a):
        shape = tuple(a.shape)
        return tuple(None if i == 0 or d in probes else d for i, d in enumerate(shape))

    if isinstance(out, (list, tuple)):
        return [back(o) for o in out]
    return back(out)
