"""Functional graph execution: a Model built from input and output KerasTensors.

The graph is mapped once (Keras's depth ordering, so ``model.layers`` and the
weight order equal Keras's); ``forward`` runs the nodes in that order and
returns a backprop closure that walks them in reverse, summing gradients of
tensors used more than once.
"""
from __future__ import annotations

import collections

from engine import backend
from engine.graph import KerasTensor
from engine.layers import conv_pool
from engine.layers.base import Layer


def _flatten_struct(x):
    """(flat list of tensors, kind) where kind is "single", "list" or a tuple of dict keys."""
    if isinstance(x, KerasTensor):
        return [x], "single"
    if isinstance(x, dict):
        return list(x.values()), tuple(x.keys())
    if isinstance(x, (list, tuple)):
        flat = list(x)
        for t in flat:
            if not isinstance(t, KerasTensor):
                raise ValueError(f"Expected KerasTensors (from Input or layers), got {type(t).__name__}: {t!r}")
        return flat, "list"
    raise ValueError(f"Expected a KerasTensor (from keras Input or a layer), got {type(x).__name__}: {x!r}")


def map_graph(inputs, outputs):
    """Nodes in execution order and layers in Keras's order for a graph from ``inputs`` to ``outputs``."""
    finished, in_progress, ordered, layer_index = set(), set(), [], {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor} from layer '{layer.name}' is part of a cycle.")
        layer_index.setdefault(id(layer), (len(layer_index), layer))
        in_progress.add(id(node))
        if not node.is_input and id(tensor) not in input_ids:
            for t in node.input_tensors:
                visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for t in outputs:
        visit(t)

    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    nodes_by_id = {id(n): n for n in ordered}
    for t in inputs:
        layer = t._keras_history[0]
        if id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            layer_index[id(layer)] = (-1, layer)
            node_depth[id(layer._inbound_nodes[0])] = 0
            nodes_by_id[id(layer._inbound_nodes[0])] = layer._inbound_nodes[0]

    by_depth = collections.defaultdict(list)
    for lid, depth in layer_depth.items():
        by_depth[depth].append(layer_index[lid])
    layers = []
    for depth in sorted(by_depth, reverse=True):
        layers.extend(layer for _, layer in sorted(by_depth[depth], key=lambda p: p[0]))

    nodes_at = collections.defaultdict(list)
    for nid, depth in node_depth.items():
        nodes_at[depth].append(nodes_by_id[nid])
    computable = set(input_ids)
    run_order = []
    for depth in sorted(nodes_at, reverse=True):
        for node in nodes_at[depth]:
            if node.is_input:
                for t in node.output_tensors:
                    if id(t) not in computable and t not in inputs:
                        raise ValueError(
                            f"Graph disconnected: cannot obtain value for tensor {t} at layer "
                            f"'{node.layer.name}'. The model's inputs are {[x.name for x in inputs]}"
                        )
                continue
            if any(id(t) in input_ids for t in node.output_tensors):
                continue
            for t in node.input_tensors:
                if id(t) not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot find parent for tensor {t} at layer "
                        f"'{node.layer.name}'. The model's inputs are {[x.name for x in inputs]}"
                    )
            computable.update(id(t) for t in node.output_tensors)
            run_order.append(node)
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(
                f'The name "{name}" is used {names.count(name)} times in the model. All layer names should be unique.'
            )
    return run_order, layers


class _PlannedNode:
    """One node of the run order, with the value slots it reads and writes.

    ``from_model_inputs``: every input is a model input (so d_inputs is only needed when the
    caller asks for input gradients); ``plain_mask``: the layer keeps Layer's compute_mask, whose
    output mask is None when the input mask is None.
    """

    __slots__ = ("node", "layer", "in_slots", "out_slots", "single_input", "single_output", "from_model_inputs",
                 "plain_mask")

    def __init__(self, node, in_slots, out_slots, model_input_slots):
        self.node = node
        self.layer = node.layer
        self.in_slots = in_slots
        self.out_slots = out_slots
        self.single_input = node.single_input and len(in_slots) == 1
        self.single_output = node.single_output and len(out_slots) == 1
        self.from_model_inputs = all(s in model_input_slots for s in in_slots) and getattr(
            node.layer, "skips_input_grad", False)
        self.plain_mask = type(node.layer).compute_mask is Layer.compute_mask

    def fused_with(self, after):
        """One step running this step's layer then ``after``'s (fed only by this one) as a ConvPool."""
        step = object.__new__(_PlannedNode)
        step.node, step.layer = after.node, conv_pool.ConvPool(self.layer, after.layer)
        step.in_slots, step.out_slots = self.in_slots, after.out_slots
        step.single_input, step.single_output = self.single_input, after.single_output
        step.from_model_inputs, step.plain_mask = self.from_model_inputs, True
        return step


def _fuse_conv_pools(steps, output_slots):
    """``steps`` with each Conv2D whose output only feeds a MaxPooling2D planned as one step with it."""
    readers = collections.Counter(s for step in steps for s in step.in_slots)
    reader_of = {step.in_slots[0]: step for step in steps if len(step.in_slots) == 1}
    fused, skip = [], set()
    for step in steps:
        if id(step) in skip:
            continue
        out = step.out_slots[0] if step.single_output else None
        after = reader_of.get(out)
        if (after is not None and readers[out] == 1 and out not in output_slots and after.single_input
                and conv_pool.pairs(step.layer, after.layer)):
            skip.add(id(after))
            step = step.fused_with(after)
        fused.append(step)
    return fused


class FunctionalGraph(Layer):
    """The graph half of a Functional model: structure, layers, weights and forward/backward."""

    def _init_graph(self, inputs, outputs):
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs, self._input_kind = _flatten_struct(inputs)
        self.outputs, self._output_kind = _flatten_struct(outputs)
        if not self.inputs:
            raise ValueError("`inputs` argument cannot be empty.")
        if not self.outputs:
            raise ValueError("`outputs` argument cannot be empty.")
        self._run_order, self._layers = map_graph(self.inputs, self.outputs)
        self._plan = None
        self.built = True

    # ------------------------------------------------------------------ naming
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def input_names(self) -> list[str]:
        if isinstance(self._input_kind, tuple):
            return list(self._input_kind)
        return [t._keras_history[0].name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._output_kind, tuple):
            return list(self._output_kind)
        return [t._keras_history[0].name for t in self.outputs]

    def get_layer(self, name=None, index=None) -> Layer:
        """The layer at ``index`` in ``model.layers``, or called ``name``; with both, ``index`` wins (Keras 2)."""
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ----------------------------------------------------------------- weights
    @property
    def weights(self):
        seen, out = set(), []
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        seen, out = set(), []
        for layer in self.layers:
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def set_weights(self, weights):
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"You called `set_weights(weights)` on model {self.name!r} with a weight list of length "
                f"{len(weights)}, but the model expects {len(params)} weights."
            )
        for var, value in zip(params, weights):
            value = backend.to_numpy(value)
            if tuple(value.shape) != var.shape:
                raise ValueError(
                    f"Weight {var.path!r} has shape {var.shape}, but the given weight has shape {tuple(value.shape)}"
                )
            var.assign(value)

    # ------------------------------------------------------------- execution
    def _pack_outputs(self, flat):
        if self._output_kind == "single":
            return flat[0]
        if isinstance(self._output_kind, tuple):
            return dict(zip(self._output_kind, flat))
        return list(flat)

    def _execution_plan(self):
        """The run order as :class:`_PlannedNode` steps over numbered value slots (made once per graph)."""
        if self._plan is None:
            slot = {}
            for t in self.inputs:
                slot.setdefault(id(t), len(slot))
            input_slots = set(slot.values())
            steps = []
            for node in self._run_order:
                ins = [slot[id(t)] for t in node.input_tensors]
                for t in node.output_tensors:
                    slot[id(t)] = len(slot)
                steps.append(_PlannedNode(node, ins, [slot[id(t)] for t in node.output_tensors], input_slots))
            output_slots = [slot[id(t)] for t in self.outputs]
            steps = _fuse_conv_pools(steps, set(output_slots))
            self._plan = (steps, len(slot), [slot[id(t)] for t in self.inputs], output_slots)
        return self._plan

    def run_graph(self, flat_inputs, training=False, masks=None, need_backprop=True, need_input_grads=True):
        """Runs the graph on ``flat_inputs``; returns (flat outputs, flat output masks, backprop or None).

        ``backprop(flat d_outputs) -> flat d_inputs`` (None where no gradient reaches an input).
        With ``need_input_grads=False`` (training) the layers fed by the model's inputs skip
        computing d_inputs where they can, and ``backprop`` returns None for every input.
        """
        steps, n_slots, input_slots, output_slots = self._execution_plan()
        values = [None] * n_slots
        mask_of = [None] * n_slots
        for i, (s, v) in enumerate(zip(input_slots, flat_inputs)):
            values[s] = v
            mask_of[s] = masks[i] if masks is not None else None
        tape = []
        for step in steps:
            node, layer = step.node, step.layer
            if step.single_input:
                s = step.in_slots[0]
                x, m = values[s], mask_of[s]
            else:
                x = [values[s] for s in step.in_slots]
                ms = [mask_of[s] for s in step.in_slots]
                m = None if all(mm is None for mm in ms) else ms
            if need_backprop and not need_input_grads and step.from_model_inputs:
                out, bp = layer.run(x, training=training, mask=m, need_backprop=True, need_input_grad=False)
            else:
                out, bp = layer.run(x, training=training, mask=m, need_backprop=need_backprop)
            out_mask = None if (m is None and step.plain_mask) else layer.compute_mask(x, m)
            if step.single_output:
                s = step.out_slots[0]
                values[s] = out
                mask_of[s] = out_mask[0] if isinstance(out_mask, (list, tuple)) else out_mask
                if need_backprop:
                    tape.append((step, bp, None))
                continue
            outs = node.unpack_outputs(out)
            out_masks = out_mask if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
            for s, o, om in zip(step.out_slots, outs, out_masks):
                values[s] = o
                mask_of[s] = om
            if need_backprop:
                tape.append((step, bp, outs))
        flat_out = [values[s] for s in output_slots]
        flat_masks = [mask_of[s] for s in output_slots]
        if not need_backprop:
            return flat_out, flat_masks, None
        del values, mask_of

        def backprop(d_outputs):
            grads = [None] * n_slots
            for s, d in zip(output_slots, d_outputs):
                if d is not None:
                    grads[s] = d if grads[s] is None else grads[s] + d
            for step, bp, outs in reversed(tape):
                if outs is None:
                    s = step.out_slots[0]
                    d_out = grads[s]
                    if d_out is None:
                        continue
                    grads[s] = None
                else:
                    d_outs = [grads[s] for s in step.out_slots]
                    if all(d is None for d in d_outs):
                        continue
                    for s in step.out_slots:
                        grads[s] = None
                    d_out = [backend.array_module(o).zeros_like(o) if d is None else d for d, o in zip(d_outs, outs)]
                d_in = bp(d_out)
                if step.single_input:
                    d_in = [d_in]
                for s, g in zip(step.in_slots, d_in):
                    if g is not None:
                        grads[s] = g if grads[s] is None else grads[s] + g
            if not need_input_grads:
                return [None] * len(input_slots)
            return [grads[s] for s in input_slots]

        return flat_out, flat_masks, backprop

    # Layer protocol, for a model used as a layer inside another model.
    def forward(self, inputs, training=False, mask=None):
        flat = inputs if len(self.inputs) > 1 else [inputs]
        masks = None if mask is None else (mask if len(self.inputs) > 1 else [mask])
        outs, _, bp = self.run_graph(flat, training=training, masks=masks)
        single_out = len(self.outputs) == 1

        def backprop(d):
            d_in = bp([d] if single_out else list(d))
            return d_in if len(self.inputs) > 1 else d_in[0]

        return (outs[0] if single_out else outs), backprop

    def call(self, inputs, training=False, mask=None):
        flat = inputs if len(self.inputs) > 1 else [inputs]
        masks = None if mask is None else (mask if len(self.inputs) > 1 else [mask])
        outs, _, _ = self.run_graph(flat, training=training, masks=masks, need_backprop=False)
        return outs[0] if len(self.outputs) == 1 else outs

    def run(self, inputs, training=False, mask=None, need_backprop=True):
        if need_backprop:
            return self.forward(inputs, training=training, mask=mask)
        return self.call(inputs, training=training, mask=mask), None

    def compute_mask(self, inputs, mask=None):
        if mask is None and not any(getattr(l, "supports_masking", False) or type(l).__name__ in ("Embedding", "Masking") for l in self.layers):
            return None
        flat = inputs if len(self.inputs) > 1 else [inputs]
        masks = None if mask is None else (mask if len(self.inputs) > 1 else [mask])
        _, out_masks, _ = self.run_graph(flat, training=False, masks=masks, need_backprop=False)
        return out_masks[0] if len(self.outputs) == 1 else out_masks

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def output_dtype(self, flat_inputs):
        return self.outputs[0].dtype


__all__ = ["FunctionalGraph", "map_graph"]
