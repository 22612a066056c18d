"""Wrappers: TimeDistributed (a layer or a whole model applied to every timestep) and
Bidirectional (a recurrent layer run forwards and backwards, outputs merged)."""
from __future__ import annotations

from engine import backend
from engine.layers.base import Layer
from engine.saving.layer_registry import register
from engine.saving.serialization import deserialize_layer, serialize_layer


class _Wrapper(Layer):
    """Holds an inner layer; weights are the inner layer's."""

    @property
    def weights(self):
        return self._inner_weights()

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self._wrapped() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self._wrapped() for w in layer.non_trainable_weights]

    def _inner_weights(self):
        return [w for layer in self._wrapped() for w in layer.weights]


@register
class TimeDistributed(_Wrapper):
    """Applies ``layer`` to each timestep: ``(batch, time, ...)`` -> ``(batch, time, ...out)``.

    The inner layer (or model) runs once on the ``(batch * time, ...)`` reshaped input.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer}")
        self.layer = layer

    def _wrapped(self):
        return [self.layer]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                             f"dimensions, received: {input_shape}")
        self.layer.maybe_build((None,) + input_shape[2:])
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        inner = self.layer.compute_output_shape((None,) + input_shape[2:])
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    skips_input_grad = True

    def forward(self, inputs, training=False, mask=None, need_input_grad=True):
        n, t = inputs.shape[:2]
        flat = inputs.reshape((n * t,) + tuple(inputs.shape[2:]))
        if need_input_grad or not getattr(self.layer, "skips_input_grad", False):
            y, inner_bp = self.layer.run(flat, training=training)
        else:
            y, inner_bp = self.layer.run(flat, training=training, need_input_grad=False)
        out = y.reshape((n, t) + tuple(y.shape[1:]))

        def backprop(dy):
            d = inner_bp(dy.reshape((n * t,) + tuple(dy.shape[2:])))
            return None if d is None else d.reshape(inputs.shape)

        return out, backprop

    def call(self, inputs, training=False, mask=None):
        n, t = inputs.shape[:2]
        y, _ = self.layer.run(inputs.reshape((n * t,) + tuple(inputs.shape[2:])), training=training,
                              need_backprop=False)
        return y.reshape((n, t) + tuple(y.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "layer": serialize_layer(self.layer)}


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


@register
class Bidirectional(_Wrapper):
    """Runs a copy of ``layer`` forwards and one backwards (``go_backwards`` flipped, or
    ``backward_layer``); the backward sequence output is flipped back in time and merged by
    ``merge_mode`` ("concat", "sum", "mul", "ave", or None for a list of both).

    Weights: the forward layer's, then the backward layer's. Initial states, given as
    ``[x, *forward_states, *backward_states]``, split in half.
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if isinstance(backward_layer, dict):
            backward_layer = deserialize_layer(backward_layer)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"Please initialize `Bidirectional` layer with a recurrent layer instance. "
                             f"Received: {layer}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                             f'{{"sum", "mul", "ave", "concat", None}}')
        self.forward_layer = self._copy(layer, f"forward_{_removeprefix(layer.name, 'forward_')}",
                                        layer.go_backwards)
        if backward_layer is None:
            self.backward_layer = self._copy(layer, f"backward_{_removeprefix(layer.name, 'backward_')}",
                                             not layer.go_backwards)
        else:
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Forward layer and backward layer should have different `go_backwards` value. "
                             f"Received: forward_layer.go_backwards {self.forward_layer.go_backwards}, "
                             f"backward_layer.go_backwards={self.backward_layer.go_backwards}")
        for attr in ("return_sequences", "return_state"):
            if getattr(self.forward_layer, attr) != getattr(self.backward_layer, attr):
                raise ValueError(f"Forward layer and backward layer are expected to have the same value for "
                                 f"attribute `{attr}`.")
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = weights

    @staticmethod
    def _copy(layer, name, go_backwards):
        config = dict(layer.get_config())
        config["name"] = name
        config["go_backwards"] = go_backwards
        config.pop("batch_input_shape", None)
        for key in ("activation", "recurrent_activation"):  # the functions themselves (a Keras 2 model's too)
            if key in config:
                config[key] = getattr(layer, key)
        return type(layer).from_config(config)

    def _wrapped(self):
        return [self.forward_layer, self.backward_layer]

    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs] + list(initial_state)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        seq = tuple(input_shape[0]) if isinstance(input_shape, list) else tuple(input_shape)
        self.forward_layer.maybe_build(seq)
        self.backward_layer.maybe_build(seq)
        if self._initial_weights is not None:
            weights = self._initial_weights
            half = len(weights) // 2
            self.forward_layer.set_weights(weights[:half])
            self.backward_layer.set_weights(weights[half:])
            self._initial_weights = None
        self.built = True

    def compute_output_shape(self, input_shape):
        seq = tuple(input_shape[0]) if isinstance(input_shape, list) else tuple(input_shape)
        fwd = self.forward_layer.compute_output_shape(seq)
        bwd = self.backward_layer.compute_output_shape(seq)
        f_out, f_states = (fwd[0], fwd[1:]) if self.return_state else (fwd, [])
        b_out, b_states = (bwd[0], bwd[1:]) if self.return_state else (bwd, [])
        if self.merge_mode == "concat":
            out = [tuple(f_out[:-1]) + (f_out[-1] + b_out[-1],)]
        elif self.merge_mode is None:
            out = [tuple(f_out), tuple(b_out)]
        else:
            out = [tuple(f_out)]
        if self.return_state or self.merge_mode is None:
            return out + [tuple(s) for s in f_states] + [tuple(s) for s in b_states]
        return out[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.return_sequences:
            out = [mask, mask] if self.merge_mode is None else [mask]
        else:
            out = [None, None] if self.merge_mode is None else [None]
        if self.return_state:
            n_states = self.forward_layer._state_count
            return out + [None] * (2 * n_states)
        return out if self.merge_mode is None else out[0]

    def _split(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
            half = len(states) // 2
            return x, states[:half], states[half:]
        return inputs, None, None

    def forward(self, inputs, training=False, mask=None):
        x, f_states, b_states = self._split(inputs)
        xp = backend.array_module(x)
        f_in = [x] + f_states if f_states else x
        b_in = [x] + b_states if b_states else x
        seq_mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        y, f_bp = self.forward_layer.run(f_in, training=training, mask=seq_mask)
        y_rev, b_bp = self.backward_layer.run(b_in, training=training, mask=seq_mask)
        if self.return_state:
            f_st, b_st = list(y[1:]), list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        else:
            f_st, b_st = [], []
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        units = y.shape[-1]
        if self.merge_mode == "concat":
            merged = [xp.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            merged = [y + y_rev]
        elif self.merge_mode == "ave":
            merged = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            merged = [y * y_rev]
        else:
            merged = [y, y_rev]
        outputs = merged + f_st + b_st
        single = len(outputs) == 1

        def backprop(d):
            d = [d] if single else list(d)
            d = [xp.zeros_like(o) if g is None else g for g, o in zip(d, outputs)]
            n_m = len(merged)
            dm, d_fst, d_bst = d[:n_m], d[n_m:n_m + len(f_st)], d[n_m + len(f_st):]
            if self.merge_mode == "concat":
                dy, dy_rev = dm[0][..., :units], dm[0][..., units:]
            elif self.merge_mode == "sum":
                dy, dy_rev = dm[0], dm[0]
            elif self.merge_mode == "ave":
                dy, dy_rev = dm[0] / 2, dm[0] / 2
            elif self.merge_mode == "mul":
                dy, dy_rev = dm[0] * y_rev, dm[0] * y
            else:
                dy, dy_rev = dm
            if self.return_sequences:
                dy_rev = dy_rev[:, ::-1]
            df = f_bp([dy] + d_fst if self.return_state else dy)
            db = b_bp([dy_rev] + d_bst if self.return_state else dy_rev)
            if isinstance(df, list):
                return [df[0] + db[0]] + df[1:] + db[1:]
            return df + db

        return (outputs[0] if single else outputs), backprop

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode, "layer": serialize_layer(self.forward_layer),
                "backward_layer": serialize_layer(self.backward_layer)}
