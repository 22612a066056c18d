"""Noise and structured dropout layers, active only in training (identity at inference):
SpatialDropout1D/2D, GaussianNoise, GaussianDropout, AlphaDropout."""
from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine import random as engine_random
from engine.layers import conv_ops as ops
from engine.layers.base import Layer
from engine.layers.core import Dropout
from engine.saving.layer_registry import register

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check_rate(rate):
    if not 0 <= rate <= 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                         f"Received: rate={rate}")
    return float(rate)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep/drop draw per (sample, channel)."""

    rank = 1

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = ops.normalize_data_format(data_format)

    def _keep_mask(self, x):
        if self.data_format == "channels_first" and self.rank > 1:
            self.noise_shape = (x.shape[0], x.shape[1]) + (1,) * self.rank
        else:
            self.noise_shape = (x.shape[0],) + (1,) * self.rank + (x.shape[-1],)
        return super()._keep_mask(x)

    def get_config(self):
        cfg = {**Layer.get_config(self), "rate": self.rate, "seed": self.seed}
        cfg.pop("trainable")
        if self.rank > 1:
            cfg["data_format"] = self.data_format
        return cfg


@register
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)``."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


@register
class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of ``(batch, rows, cols, channels)``."""

    rank = 2


class _NoiseLayer(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = engine_random.generator(seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@register
class GaussianNoise(_NoiseLayer):
    """Adds zero-mean Gaussian noise of ``stddev`` in training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = float(stddev)

    def forward(self, inputs, training=False, mask=None):
        if not training or self.stddev <= 0:
            return inputs, lambda d: d
        xp = backend.array_module(inputs)
        noise = self._rng.standard_normal(inputs.shape, dtype=np.float32) * np.float32(self.stddev)
        return inputs + xp.asarray(noise, dtype=inputs.dtype), lambda d: d

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@register
class GaussianDropout(_NoiseLayer):
    """Multiplies by Gaussian noise of mean 1 and stddev ``sqrt(rate / (1 - rate))`` in training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate)

    def forward(self, inputs, training=False, mask=None):
        if not training or self.rate <= 0:
            return inputs, lambda d: d
        xp = backend.array_module(inputs)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = xp.asarray(1.0 + self._rng.standard_normal(inputs.shape, dtype=np.float32) * np.float32(stddev),
                           dtype=inputs.dtype)
        return inputs * noise, lambda d: d * noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register
class AlphaDropout(_NoiseLayer):
    """Dropout that keeps SELU's self-normalizing mean and variance: dropped units take
    ``-alpha * scale`` and the result is affinely rescaled."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate)
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None

    def forward(self, inputs, training=False, mask=None):
        if not training or self.rate <= 0:
            return inputs, lambda d: d
        xp = backend.array_module(inputs)
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        kept = xp.asarray(self._rng.random(shape, dtype=np.float32) >= self.rate).astype(inputs.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        y = (a * (inputs * kept + alpha_p * (1 - kept)) + b).astype(inputs.dtype)
        scale = (a * kept).astype(inputs.dtype)
        return y, lambda d: d * scale

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": list(self.noise_shape) if self.noise_shape else None, "seed": self.seed}
