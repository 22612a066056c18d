"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (shape unchanged)."""
from __future__ import annotations

from engine import activations, backend, constraints, initializers, regularizers
from engine.layers.base import Layer
from engine.saving.layer_registry import register


class _ElementwiseActivation(Layer):
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, inputs, training=False, mask=None):
        return self._activation().forward(inputs)


@register
class ReLU(_ElementwiseActivation):
    """``max(x, 0)`` with ``max_value``, ``negative_slope`` below ``threshold``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError(f"negative_slope of a ReLU layer cannot be a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError(f"threshold of a ReLU layer cannot be a negative value. Received: threshold={threshold}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def _activation(self):
        return activations.Activation("relu", negative_slope=self.negative_slope, max_value=self.max_value,
                                      threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@register
class LeakyReLU(_ElementwiseActivation):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below (Keras 2's ``alpha`` is accepted)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None:
            negative_slope = alpha
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative value. "
                             f"Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = float(negative_slope)

    def _activation(self):
        return activations.Activation("leaky_relu", negative_slope=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@register
class ELU(_ElementwiseActivation):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def _activation(self):
        return activations.Activation("elu", alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class PReLU(Layer):
    """``max(x, 0) - alpha * max(-x, 0)`` with a learned ``alpha`` shaped like one sample
    (size 1 along ``shared_axes``, 1-based)."""

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU layer {self.name!r} needs known non-batch dimensions (or shared_axes over the "
                             f"unknown ones), got input shape {tuple(input_shape)}")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer,
                                     self.alpha_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        alpha = self.alpha.value
        neg = xp.minimum(inputs, 0)
        y = xp.maximum(inputs, 0) + alpha * neg

        def backprop(dy):
            reduce_axes = (0,) + tuple(i + 1 for i, s in enumerate(alpha.shape) if s == 1 and inputs.shape[i + 1] != 1)
            self.alpha.add_grad((dy * neg).sum(axis=reduce_axes, keepdims=True)[0])
            return dy * xp.where(inputs > 0, 1.0, xp.where(inputs < 0, alpha, 0.0)).astype(inputs.dtype)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


@register
class Softmax(Layer):
    """Softmax along ``axis``; masked positions (mask broadcast from the right) get probability 0."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        x = inputs
        if mask is not None:
            m = xp.asarray(mask)
            m = m if m.dtype == bool else m > 0.5
            x = xp.where(m, x, xp.asarray(-1e9, dtype=x.dtype))
        shifted = x - x.max(axis=axis, keepdims=True)
        e = xp.exp(shifted)
        y = e / e.sum(axis=axis, keepdims=True)
        if mask is not None:
            y = xp.where(m, y, xp.asarray(0.0, dtype=y.dtype))

        def backprop(dy):
            if mask is not None:
                dy = xp.where(m, dy, 0.0).astype(y.dtype)
            soft = e / e.sum(axis=axis, keepdims=True)
            dx = soft * (dy - (dy * soft).sum(axis=axis, keepdims=True))
            if mask is not None:
                dx = xp.where(m, dx, 0.0).astype(y.dtype)
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
