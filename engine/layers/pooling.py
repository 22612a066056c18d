"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalMax/AveragePooling1D/2D.

Each window position is one strided slice of the padded input, so a pool is
``pool_h * pool_w`` vectorized maximum/add operations; the max pool's gradient
goes to the first maximum of each window, the average pool's spreads evenly
over the window's non-padding entries (as XLA's SAME padding).
"""
from __future__ import annotations

import numpy as np

from engine import backend, kernels
from engine.layers import conv_ops as ops
from engine.layers.base import Layer
from engine.saving.layer_registry import register


class _Pooling(Layer):
    rank = 2
    _mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = ops.normalize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else ops.normalize_tuple(strides, self.rank, "strides")
        self.padding = ops.normalize_padding(padding)
        self.data_format = ops.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        cf = self.data_format == "channels_first"
        spatial = input_shape[2:] if cf else input_shape[1:-1]
        out = tuple(ops.output_length(s, k, st, 1, self.padding)
                    for s, k, st in zip(spatial, self.pool_size, self.strides))
        if any(s is not None and s <= 0 for s in out):
            raise ValueError(f"Computed output size would be negative or zero for layer {self.name!r}: input shape "
                             f"{input_shape}, pool_size={self.pool_size}, strides={self.strides}, "
                             f"padding={self.padding!r}")
        if cf:
            return (input_shape[0], input_shape[1]) + out
        return (input_shape[0],) + out + (input_shape[-1],)

    def _pair(self, t):
        return (1,) + t if self.rank == 1 else t

    def call(self, inputs, training=False, mask=None):
        return self._pool(inputs, need_backprop=False)[0]

    def forward(self, inputs, training=False, mask=None):
        return self._pool(inputs, need_backprop=True)

    def _pool(self, inputs, need_backprop):
        """``(y, backprop)``; a max pool with disjoint windows finds each window's first maximum
        here, while the input is still in cache, when a backprop is wanted."""
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                             f"ndim={self.rank + 2}, found ndim={inputs.ndim}. Full shape received: "
                             f"{tuple(inputs.shape)}")
        xp = backend.array_module(inputs)
        x = ops.to_last(inputs, self.data_format)
        x4 = x[:, None] if self.rank == 1 else x
        size, strides = self._pair(self.pool_size), self._pair(self.strides)
        pads = tuple(ops.pad_pair(s, k, st, 1, self.padding) for s, k, st in zip(x4.shape[1:3], size, strides))
        out_hw = tuple(ops.output_length(s, k, st, 1, self.padding) for s, k, st in zip(x4.shape[1:3], size, strides))
        fill = -np.inf if self._mode == "max" else 0.0
        xpad = ops.pad4(x4, pads, fill)
        windows = [ops.window_slice(i, j, strides, out_hw) for i in range(size[0]) for j in range(size[1])]
        disjoint = strides[0] >= size[0] and strides[1] >= size[1]
        # Disjoint windows that tile the padded input leave no entry of a max pool's gradient unwritten.
        tiled = disjoint and all(o * st == k * o == s for o, st, k, s in zip(out_hw, strides, size, xpad.shape[1:3]))
        if self._mode == "max" and disjoint and len(windows) <= 255 and kernels.fusable(xpad):
            return self._compiled_max_pool(xpad, size, strides, out_hw, pads, tiled)
        if self._mode == "max":
            y4 = xpad[windows[0]] if len(windows) == 1 else xp.maximum(xpad[windows[0]], xpad[windows[1]])
            for w in windows[2:]:
                xp.maximum(y4, xpad[w], out=y4)
            hits = _first_max_hits(xpad, y4, windows) if need_backprop and disjoint else None
        else:
            hits = None
            y4 = xpad[windows[0]].copy()
            for w in windows[1:]:
                y4 += xpad[w]
            if any(p for pair in pads for p in pair):
                ones = ops.pad4(xp.ones((1,) + x4.shape[1:3] + (1,), dtype=x4.dtype), pads)
                counts = sum(ones[w] for w in windows)
            else:
                counts = xp.asarray(len(windows), dtype=x4.dtype)
            y4 = y4 / counts

        def backprop(dy):
            d = ops.to_last(dy, self.data_format)
            d4 = d[:, None] if self.rank == 1 else d
            dxpad = (xp.empty if tiled and hits is not None else xp.zeros)(xpad.shape, dtype=d4.dtype)
            if self._mode == "max":
                # The gradient goes to the first maximum of each window, in row-major order (as XLA's).
                for w, hit in zip(windows, hits if hits is not None else _first_max_hits(xpad, y4, windows)):
                    if disjoint:
                        xp.multiply(hit, d4, out=dxpad[w])
                    else:
                        dxpad[w] += hit * d4
            else:
                share = d4 / counts
                for w in windows:
                    dxpad[w] += share
            dx4 = ops.unpad4(dxpad, pads)
            dx = dx4[:, 0] if self.rank == 1 else dx4
            return ops.from_last(dx, self.data_format)

        y = y4[:, 0] if self.rank == 1 else y4
        return ops.from_last(y, self.data_format), backprop

    def _compiled_max_pool(self, xpad, size, strides, out_hw, pads, tiled):
        """:meth:`_pool` of a max pool with disjoint windows on a NumPy array, by the compiled kernels:
        one pass finds each window's maximum and the position of its first maximum, one writes the gradient."""
        y4, first = kernels.max_pool(xpad, size, strides, out_hw)

        def backprop(dy):
            d = ops.to_last(dy, self.data_format)
            d4 = np.ascontiguousarray(d[:, None] if self.rank == 1 else d)
            dxpad = (np.empty if tiled else np.zeros)(xpad.shape, dtype=d4.dtype)
            kernels.max_pool_grad(d4, first, size, strides, dxpad)
            dx4 = ops.unpad4(dxpad, pads)
            return ops.from_last(dx4[:, 0] if self.rank == 1 else dx4, self.data_format)

        return ops.from_last(y4[:, 0] if self.rank == 1 else y4, self.data_format), backprop

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "padding": self.padding,
                "strides": list(self.strides), "data_format": self.data_format}


def _first_max_hits(xpad, y4, windows):
    """(k, N, oh, ow, C) bool: window position k holds its window's first maximum (row-major, as XLA's)."""
    xp = backend.array_module(y4)
    hits = xp.empty((len(windows),) + y4.shape, dtype=bool)
    found = xp.zeros(y4.shape, dtype=bool)
    for w, hit in zip(windows, hits):
        xp.equal(xpad[w], y4, out=hit)
        xp.greater(hit, found, out=hit)  # hit and not found
        found |= hit
    return hits


@register(aliases=("MaxPool1D",))
class MaxPooling1D(_Pooling):
    rank, _mode = 1, "max"


@register(aliases=("MaxPool2D",))
class MaxPooling2D(_Pooling):
    rank, _mode = 2, "max"


@register(aliases=("AvgPool1D", "AveragePooling1D"))
class AveragePooling1D(_Pooling):
    rank, _mode = 1, "average"


@register(aliases=("AvgPool2D",))
class AveragePooling2D(_Pooling):
    rank, _mode = 2, "average"


class _GlobalPooling(Layer):
    rank = 2
    _mode = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = ops.normalize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def _axes(self):
        start = 2 if self.data_format == "channels_first" else 1
        return tuple(range(start, start + self.rank))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def compute_mask(self, inputs, mask=None):
        return None

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        axes = self._axes()
        keep_shape = tuple(1 if i in axes else d for i, d in enumerate(inputs.shape))
        if self._mode == "max":
            perm = _moved_perm(inputs.ndim, axes)
            moved = inputs.transpose(perm)
            nrest = inputs.ndim - len(axes)
            flat = moved.reshape(moved.shape[:nrest] + (-1,))
            idx = flat.argmax(axis=-1)
            y = xp.take_along_axis(flat, idx[..., None], axis=-1).reshape(keep_shape)

            def backprop(dy):
                d = dy.reshape(idx.shape)[..., None]
                onehot = xp.arange(flat.shape[-1]) == idx[..., None]
                dmoved = (onehot.astype(inputs.dtype) * d).reshape(moved.shape)
                return dmoved.transpose(_inverse_perm(inputs.ndim, axes))
        elif mask is not None and self.rank == 1:
            m = xp.asarray(mask).astype(inputs.dtype)
            m = m[:, :, None] if self.data_format == "channels_last" else m[:, None, :]
            total = m.sum(axis=axes, keepdims=True)
            y = (inputs * m).sum(axis=axes, keepdims=True) / total

            def backprop(dy):
                return dy.reshape(y.shape) * m / total
        else:
            count = int(np.prod([inputs.shape[a] for a in axes]))
            y = inputs.mean(axis=axes, keepdims=True)

            def backprop(dy):
                return xp.broadcast_to(dy.reshape(y.shape) / np.float32(count), inputs.shape).astype(inputs.dtype)
        out = y if self.keepdims else y.reshape(self.compute_output_shape(inputs.shape))
        return out, backprop

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


def _moved_perm(ndim, axes):
    rest = [i for i in range(ndim) if i not in axes]
    return tuple(rest) + tuple(axes)


def _inverse_perm(ndim, axes):
    return tuple(int(i) for i in np.argsort(_moved_perm(ndim, axes)))


@register(aliases=("GlobalMaxPool1D",))
class GlobalMaxPooling1D(_GlobalPooling):
    rank, _mode = 1, "max"


@register(aliases=("GlobalMaxPool2D",))
class GlobalMaxPooling2D(_GlobalPooling):
    rank, _mode = 2, "max"


@register(aliases=("GlobalAvgPool1D",))
class GlobalAveragePooling1D(_GlobalPooling):
    rank, _mode = 1, "average"
    supports_masking = True


@register(aliases=("GlobalAvgPool2D",))
class GlobalAveragePooling2D(_GlobalPooling):
    rank, _mode = 2, "average"


# Keras 2's shorter names for the same classes.
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
