"""Masking: marks timesteps whose features all equal ``mask_value`` as skipped."""
from __future__ import annotations

from engine import backend
from engine.layers.base import Layer
from engine.saving.layer_registry import register


@register
class Masking(Layer):
    """``(batch, steps, features)`` -> same, zeroing masked steps; mask ``(batch, steps)`` for later layers."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        xp = backend.array_module(inputs)
        return xp.any(inputs != self.mask_value, axis=-1)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        keep = xp.any(inputs != self.mask_value, axis=-1, keepdims=True).astype(inputs.dtype)
        return inputs * keep, lambda d: d * keep

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
