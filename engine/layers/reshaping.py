"""Spatial reshaping layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

UpSampling2D's "bilinear" interpolation is Keras 3's image resize: half-pixel
centres, edges clamped; computed as one interpolation matrix per axis.

1-D layers take ``(batch, steps, features)``; 2-D layers ``(batch, rows,
cols, channels)`` (or channels first).
"""
from __future__ import annotations

import numpy as np

from engine import backend
from engine.layers import conv_ops as ops
from engine.layers.base import Layer
from engine.saving.layer_registry import register


def _pairs(value, n, name):
    """Keras's padding/cropping argument as ``n`` (before, after) pairs."""
    if isinstance(value, int):
        return ((value, value),) * n
    value = tuple(value)
    if n == 1:
        if len(value) != 2:
            raise ValueError(f"`{name}` should have two elements. Received: {name}={value}")
        return ((int(value[0]), int(value[1])),)
    if len(value) != n:
        raise ValueError(f"`{name}` should have {n} elements. Received: {name}={value}")
    out = []
    for v in value:
        if isinstance(v, int):
            out.append((v, v))
        else:
            v = tuple(v)
            if len(v) != 2:
                raise ValueError(f"`{name}` should be a tuple of {n} tuples of 2 integers. Received: {name}={value}")
            out.append((int(v[0]), int(v[1])))
    return tuple(out)


class _Spatial(Layer):
    """Helpers for layers acting on the spatial axes (1-D layers are always channels last)."""

    rank = 2
    supports_masking = False

    def _spatial_axes(self):
        if self.rank == 1 or self.data_format == "channels_last":
            return tuple(range(1, 1 + self.rank))
        return tuple(range(2, 2 + self.rank))


class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, "padding")
        self.data_format = ops.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for ax, (a, b) in zip(self._spatial_axes(), self.padding):
            out[ax] = None if out[ax] is None else out[ax] + a + b
        return tuple(out)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        widths = [(0, 0)] * inputs.ndim
        for ax, pair in zip(self._spatial_axes(), self.padding):
            widths[ax] = pair
        y = xp.pad(inputs, widths)
        index = tuple(slice(a, y.shape[i] - b) for i, (a, b) in enumerate(widths))
        return y, lambda d: d[index]

    def get_config(self):
        cfg = {**super().get_config(), "padding": [list(p) for p in self.padding]}
        if self.rank == 1:
            cfg["padding"] = list(self.padding[0])
        cfg["data_format"] = self.data_format
        return cfg


@register
class ZeroPadding1D(_ZeroPadding):
    """Zeros before/after the steps axis."""

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


@register
class ZeroPadding2D(_ZeroPadding):
    """Zero rows/columns around each image: ``padding`` int, (rows, cols) or ((top, bottom), (left, right))."""

    rank = 2


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping")
        self.data_format = ops.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for ax, (a, b) in zip(self._spatial_axes(), self.cropping):
            if out[ax] is not None:
                if out[ax] - a - b <= 0:
                    raise ValueError(f"Layer {self.name!r}: cropping {self.cropping} is too large for input shape "
                                     f"{tuple(input_shape)}")
                out[ax] = out[ax] - a - b
        return tuple(out)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        index = [slice(None)] * inputs.ndim
        for ax, (a, b) in zip(self._spatial_axes(), self.cropping):
            index[ax] = slice(a, inputs.shape[ax] - b)
        index = tuple(index)
        self.compute_output_shape(inputs.shape)

        def backprop(d):
            dx = xp.zeros(inputs.shape, dtype=d.dtype)
            dx[index] = d
            return dx

        return inputs[index], backprop

    def get_config(self):
        cfg = {**super().get_config(), "cropping": [list(p) for p in self.cropping]}
        if self.rank == 1:
            cfg["cropping"] = list(self.cropping[0])
        else:
            cfg["data_format"] = self.data_format
        return cfg


@register
class Cropping1D(_Cropping):
    """Drops steps from the start/end of the steps axis."""

    rank = 1

    def __init__(self, cropping=(1, 1), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)


@register
class Cropping2D(_Cropping):
    """Drops rows/columns around each image."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)


class _UpSampling(_Spatial):
    def _sizes(self):
        return self.size

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for ax, s in zip(self._spatial_axes(), self._sizes()):
            out[ax] = None if out[ax] is None else out[ax] * s
        return tuple(out)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        y = inputs
        axes = self._spatial_axes()
        for ax, s in zip(axes, self._sizes()):
            y = xp.repeat(y, s, axis=ax)

        def backprop(d):
            for ax, s in zip(axes, self._sizes()):
                shape = d.shape[:ax] + (d.shape[ax] // s, s) + d.shape[ax + 1:]
                d = d.reshape(shape).sum(axis=ax + 1)
            return d

        return y, backprop


@register
class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = (int(size),)

    def get_config(self):
        return {**super().get_config(), "size": self.size[0]}


def _linear_resize_matrix(n_in, factor, xp, dtype):
    """(n_in * factor, n_in) weights of linear interpolation with half-pixel centres, clamped at the edges."""
    n_out = n_in * factor
    pos = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return xp.asarray(m, dtype=dtype)


@register
class UpSampling2D(_UpSampling):
    """Upsamples rows and columns by ``size``: "nearest" repeats them, "bilinear" interpolates."""

    rank = 2
    _interpolations = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = ops.normalize_tuple(size, 2, "size")
        self.data_format = ops.normalize_data_format(data_format)
        if interpolation not in self._interpolations:
            raise ValueError(f"UpSampling2D layer {self.name!r}: `interpolation` must be one of "
                             f"{list(self._interpolations)}. Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def forward(self, inputs, training=False, mask=None):
        if self.interpolation == "nearest":
            return super().forward(inputs, training=training, mask=mask)
        xp = backend.array_module(inputs)
        x = ops.to_last(inputs, self.data_format)
        a_h = _linear_resize_matrix(x.shape[1], self.size[0], xp, x.dtype)
        a_w = _linear_resize_matrix(x.shape[2], self.size[1], xp, x.dtype)
        y = xp.einsum("bw,nawc->nabc", a_w, xp.einsum("ah,nhwc->nawc", a_h, x))

        def backprop(dy):
            d = ops.to_last(dy, self.data_format)
            dx = xp.einsum("bw,nhbc->nhwc", a_w, xp.einsum("ah,nabc->nhbc", a_h, d))
            return ops.from_last(dx, self.data_format)

        return ops.from_last(y, self.data_format), backprop

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
