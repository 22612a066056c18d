"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector."""
from __future__ import annotations

import numpy as np

from engine import activations, backend, constraints, gemm, initializers, regularizers
from engine import random as engine_random
from engine.layers.base import Layer
from engine.saving.layer_registry import register


@register
class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis.

    Input ``(batch, ..., in)`` -> output ``(batch, ..., units)``; kernel ``(in, units)``, bias ``(units,)``.
    """

    supports_masking = True
    skips_input_grad = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if lora_rank:
            raise ValueError("Dense: lora_rank is not supported")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense layer {self.name!r} needs a known last input dimension, got {input_shape}")
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _check_input(self, x):
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis -1 of "
                f"input shape to have value {self.kernel.shape[0]}, but received input with shape {tuple(x.shape)}"
            )

    def call(self, inputs, training=False, mask=None):
        self._check_input(inputs)
        z = gemm.matmul(inputs, self.kernel.value, b_is_weight=True)
        return self.activation.call_owned(z, None if self.bias is None else self.bias.value)

    def forward(self, inputs, training=False, mask=None, need_input_grad=True):
        self._check_input(inputs)
        x = inputs
        z = gemm.matmul(x, self.kernel.value)
        y, act_bp = self.activation.forward_owned(z, None if self.bias is None else self.bias.value)

        def backprop(dy):
            dz = act_bp(dy)
            dz2 = dz.reshape(-1, self.units)
            self.kernel.add_grad(gemm.matmul(x.reshape(-1, x.shape[-1]).T, dz2))
            if self.bias is not None:
                self.bias.add_grad(dz2.sum(axis=0))
            return gemm.matmul(dz, self.kernel.value.T) if need_input_grad else None

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


@register
class Activation(Layer):
    """Applies an activation function; shape unchanged."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False, mask=None):
        return self.activation(inputs)

    def forward(self, inputs, training=False, mask=None):
        return self.activation.forward(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@register
class Dropout(Layer):
    """Zeroes a ``rate`` fraction of inputs in training and scales the rest by ``1/(1-rate)``."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.seed = seed
        self._rng = engine_random.generator(seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _keep_mask(self, x):
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        keep = self._rng.random(shape, dtype=np.float32) >= self.rate
        xp = backend.array_module(x)
        scale = np.float32(1.0 / (1.0 - self.rate))
        return xp.asarray(keep.astype(np.float32) * scale)

    def call(self, inputs, training=False, mask=None):
        if not training or self.rate == 0:
            return inputs
        return inputs * self._keep_mask(inputs)

    def forward(self, inputs, training=False, mask=None):
        if not training or self.rate == 0:
            return inputs, lambda d: d
        m = self._keep_mask(inputs)
        return inputs * m, lambda d: d * m

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": list(self.noise_shape) if self.noise_shape else None, "seed": self.seed}


@register
class Flatten(Layer):
    """``(batch, d1, d2, ...)`` -> ``(batch, d1*d2*...)``."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest)) if rest else 1
        return (input_shape[0], n)

    def _to_last(self, x):
        if self.data_format == "channels_first" and x.ndim > 2:
            xp = backend.array_module(x)
            return xp.moveaxis(x, 1, -1)
        return x

    def call(self, inputs, training=False, mask=None):
        return self._to_last(inputs).reshape(inputs.shape[0], -1)

    def forward(self, inputs, training=False, mask=None):
        shape = inputs.shape
        moved = self.data_format == "channels_first" and inputs.ndim > 2
        y = self._to_last(inputs).reshape(shape[0], -1)

        def backprop(d):
            if moved:
                xp = backend.array_module(d)
                moved_shape = (shape[0],) + tuple(shape[2:]) + (shape[1],)
                return xp.moveaxis(d.reshape(moved_shape), -1, 1)
            return d.reshape(shape)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        target = list(self.target_shape)
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            rest = input_shape[1:]
            if any(d is None for d in rest):
                target[target.index(-1)] = None
            else:
                total = int(np.prod(rest))
                if total % known:
                    raise ValueError(
                        f"Reshape layer {self.name!r}: total size of the input {rest} is not divisible by {known}"
                    )
                target[target.index(-1)] = total // known
        elif all(d is not None for d in input_shape[1:]) and int(np.prod(input_shape[1:])) != int(np.prod(target)):
            raise ValueError(
                f"Reshape layer {self.name!r}: total size of new array must be unchanged, "
                f"input_shape = {list(input_shape[1:])}, output_shape = {list(self.target_shape)}"
            )
        return (input_shape[0],) + tuple(target)

    def call(self, inputs, training=False, mask=None):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def forward(self, inputs, training=False, mask=None):
        shape = inputs.shape
        return self.call(inputs), lambda d: d.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register
class Permute(Layer):
    """Permutes the non-batch axes by ``dims`` (1-based, as Keras)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. Received: dims={self.dims}")
        self._perm = (0,) + self.dims
        self._inverse = tuple(int(i) for i in np.argsort(self._perm))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[i] for i in self._perm)

    def call(self, inputs, training=False, mask=None):
        return inputs.transpose(self._perm)

    def forward(self, inputs, training=False, mask=None):
        return inputs.transpose(self._perm), lambda d: d.transpose(self._inverse)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register
class RepeatVector(Layer):
    """``(batch, features)`` -> ``(batch, n, features)``."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        return xp.repeat(inputs[:, None, :], self.n, axis=1)

    def forward(self, inputs, training=False, mask=None):
        return self.call(inputs), lambda d: d.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}
