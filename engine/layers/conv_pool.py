"""A Conv2D with a relu followed by a MaxPooling2D of disjoint windows, run as one graph step.

Each batch piece of the convolution's GEMM is biased, activated and pooled while it is in cache,
so the convolution's output is never whole: the step keeps the pooled output and each window's
first-maximum position (uint8). The backward pass, piece by piece again, routes ``dy`` into the
piece's convolution-output gradient and multiplies it into the kernel and window gradients.
Models plan the pair with :func:`pairs`; :class:`ConvPool` runs the two layers one after the
other wherever the fused path does not apply (CuPy arrays, other dtypes, channels first, padded
pools, an activity regularizer, another activation, groups).
"""
from __future__ import annotations

import numpy as np

from engine import activations, conv_kernels, gemm, kernels
from engine.layers import conv_ops as ops
from engine.layers.base import Layer
from engine.layers.convolutional import Conv2D, _Conv
from engine.layers.pooling import MaxPooling2D


def pairs(first, second) -> bool:
    """Whether ``first`` then ``second`` can be planned as one :class:`ConvPool` step."""
    return (isinstance(first, Conv2D) and type(first)._conv_forward is _Conv._conv_forward
            and isinstance(second, MaxPooling2D) and type(second)._pool is MaxPooling2D._pool
            and type(first).compute_mask is Layer.compute_mask and type(second).compute_mask is Layer.compute_mask)


class ConvPool:
    """The graph step of ``conv`` then ``pool``: :meth:`run` and :meth:`compute_mask` as a layer's."""

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool
        self.skips_input_grad = conv.skips_input_grad

    def compute_mask(self, inputs, mask=None):
        return self.pool.compute_mask(None, self.conv.compute_mask(inputs, mask))

    def run(self, inputs, training=False, mask=None, need_backprop=True, need_input_grad=True):
        geometry = self._geometry(inputs)
        if geometry is None:
            return self._run_apart(inputs, training, mask, need_backprop, need_input_grad)
        return self._run_fused(inputs, geometry, need_backprop, need_input_grad)

    def _run_apart(self, inputs, training, mask, need_backprop, need_input_grad):
        z, conv_bp = self.conv.run(inputs, training=training, mask=mask, need_backprop=need_backprop,
                                   need_input_grad=need_input_grad)
        y, pool_bp = self.pool.run(z, training=training, mask=self.conv.compute_mask(inputs, mask),
                                   need_backprop=need_backprop)
        if not need_backprop:
            return y, None
        return y, lambda dy: conv_bp(pool_bp(dy))

    def _geometry(self, x):
        """``(pads, (oh, ow) computed, pooled (ph, pw))`` when the fused path applies to ``x``, else None."""
        conv, pool = self.conv, self.pool
        if not (conv.built and conv.groups == 1 and type(conv.activation) is activations.Activation and conv.activation.is_plain_relu
                and conv.activity_regularizer is None and pool.activity_regularizer is None
                and conv.data_format == "channels_last" and pool.data_format == "channels_last"
                and pool.padding == "valid" and pool.strides[0] >= pool.pool_size[0]
                and pool.strides[1] >= pool.pool_size[1] and pool.pool_size[0] * pool.pool_size[1] <= 255):
            return None
        kernel = conv.kernel.value
        if not (isinstance(x, np.ndarray) and x.ndim == 4 and kernels.fusable(kernel)
                and x.dtype == kernel.dtype and (not conv.use_bias or conv.bias.value.dtype == kernel.dtype)):
            return None
        pads = conv._pads(x)
        hp, wp = x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1])
        out = tuple(ops.output_length(s, k, st, d, "valid") for s, k, st, d in
                    zip((hp, wp), conv.kernel_size, conv.strides, conv.dilation_rate))
        pooled = tuple(ops.output_length(s, k, st, 1, "valid") for s, k, st in
                       zip(out, pool.pool_size, pool.strides))
        if x.shape[-1] != kernel.shape[2] or min(out + pooled) <= 0:
            return None
        # Only the convolution outputs up to the last window are computed (10 x 10 of 11 x 11 for a
        # 2 x 2 pool): the rest is never pooled and gets no gradient.
        covered = tuple((p - 1) * st + k for p, st, k in zip(pooled, pool.strides, pool.pool_size))
        return pads, covered, pooled

    def _run_fused(self, x, geometry, need_backprop, need_input_grad):
        conv, pool = self.conv, self.pool
        pads, out_hw, pooled = geometry
        xpad = np.ascontiguousarray(ops.pad4(x, pads))
        kernel = conv.kernel.value
        bias = np.ascontiguousarray(conv.bias.value) if conv.use_bias else np.empty(0, kernel.dtype)
        n, f = x.shape[0], kernel.shape[-1]
        strides, dilation = conv.strides, conv.dilation_rate
        window = pool.pool_size + pool.strides
        y = np.empty((n,) + pooled + (f,), kernel.dtype)
        first = np.empty(y.shape if need_backprop else (0,) + y.shape[1:], np.uint8)  # the backward pass's

        def epilogue(lo, hi, z):
            conv_kernels.pool(z.reshape((hi - lo,) + out_hw + (f,)), bias, *window, y[lo:hi], first[lo:hi])

        ops.conv_gemm(xpad, kernel, strides, dilation, out_hw, keep=False, epilogue=epilogue)
        if not need_backprop:
            return y, None

        def backprop(dy):
            dy = np.ascontiguousarray(dy, dtype=y.dtype)
            dk, db, dxpad = _backward_pieces(dy, y, first, window, xpad, kernel, need_input_grad, strides, dilation,
                                             out_hw)
            conv.kernel.add_grad(dk)
            if conv.use_bias:
                conv.bias.add_grad(db)
            return None if dxpad is None else ops.unpad4(dxpad, pads)

        return y, backprop


def _backward_pieces(dy, y, first, window, xpad, kernel, need_input_grad, strides, dilation, out_hw):
    """``(dkernel, dbias, dxpad)`` from the pooled ``dy`` (N, ph, pw, F), batch piece by batch piece:
    the piece's convolution-output gradient and im2col matrix are formed again (a gather costs less
    than keeping the whole matrix out of cache) and multiplied into the kernel gradient and, with
    ``need_input_grad``, into window gradients summed into ``dxpad`` while in cache (else None)."""
    n, f = dy.shape[0], dy.shape[-1]
    kh, kw, c, _ = kernel.shape
    rows, k = out_hw[0] * out_hw[1], kh * kw * c
    step = max(1, ops._PIECE_ENTRIES // (rows * max(k, f)))
    m = min(n, step)
    view = ops.windows(xpad, (kh, kw), strides, dilation, out_hw)  # (N, oh, ow, kh, kw, C)
    position_major = c <= ops._POSITION_MAJOR_MAX_CHANNELS  # gathered as conv_gemm does, a.T contiguous
    if position_major:
        cols, view = np.empty((kh, kw, c, m) + tuple(out_hw), xpad.dtype), view.transpose(3, 4, 5, 0, 1, 2)
    else:
        cols = np.empty((m,) + tuple(out_hw) + (kh, kw, c), xpad.dtype)
    dz = np.empty((m,) + tuple(out_hw) + (f,), dy.dtype)
    # The kernel gradient as (k, F) products a.T @ dz, or for channel-minor windows (F, k) ones dz.T @ a
    # (20 percent faster through MKL for cnn's second convolution).
    shape = (k, f) if position_major else (f, k)
    dk, part, db = np.zeros(shape, dy.dtype), np.empty(shape, dy.dtype), np.zeros(f, dy.dtype)
    if need_input_grad:
        dxpad = np.empty(xpad.shape, dy.dtype)
        dcols, wt = np.empty((m * rows, k), dy.dtype), kernel.reshape(k, f).T
    else:
        dxpad = None
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        piece = dz[:hi - lo]
        conv_kernels.pool_grad(dy[lo:hi], y[lo:hi], first[lo:hi], *window, piece)
        d2 = piece.reshape(-1, f)
        if position_major:
            cols[:, :, :, :hi - lo] = view[:, :, :, lo:hi]
            gemm.matmul(cols[:, :, :, :hi - lo].reshape(k, -1), d2, out=part)
        else:
            conv_kernels.gather_windows(xpad, lo, strides, dilation, cols[:hi - lo])
            gemm.matmul(d2.T, cols[:hi - lo].reshape(-1, k), out=part)
        dk += part
        db += ops.channel_sums(d2)
        if dxpad is not None:
            grads = dcols[:(hi - lo) * rows]
            gemm.matmul(d2, wt, out=grads)
            out = dxpad[lo:hi]
            kernels.col2im(grads.reshape((hi - lo,) + tuple(out_hw) + (kh, kw, c)), out.shape, strides, dilation,
                           out=out)
    return (dk if position_major else np.ascontiguousarray(dk.T)).reshape(kernel.shape), db, dxpad
