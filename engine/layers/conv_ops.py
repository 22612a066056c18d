"""Convolution arithmetic shared by the convolution and pooling layers.

Everything works on channels-last 4-D arrays ``(batch, height, width,
channels)``; 1-D layers use a height of 1. A convolution is a GEMM of the
im2col matrix of its windows (copies of a strided view), taken in batch pieces
that stay in cache. The input gradient is one GEMM into window gradients, which
``col2im`` sums back into the padded input.
"""
from __future__ import annotations

import math

import numpy as np

from engine import backend, conv_kernels, gemm, kernels

# Up to this many channels, gathering the windows kernel-position-major (runs along the output
# width) is faster than channel-minor rows (runs of kernel_width * channels).
_POSITION_MAJOR_MAX_CHANNELS = 3
# Window entries per batch piece of a convolution's GEMM (4 MiB of float32): the piece's im2col
# rows are still in cache (L2 / L3) when they are multiplied, and its product in L2 for the fused
# bias / relu / pool pass. Smaller pieces starve the threaded product of rows: cnn's second
# convolution (7744 x 288 @ 288 x 64, 2 threads) takes 3.2 ms in pieces of 1 MiB, 2.3 in 4 MiB;
# cnn predict 9.5k -> 10.1k samples/s, training 3.2k -> 3.5k (bench/README.md).
_PIECE_ENTRIES = 1 << 20


def normalize_tuple(value, n, name):
    """``value`` (int or sequence of ``n`` ints) as a tuple of ``n`` ints; ValueError naming ``name``."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError as exc:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: {name}={value}") from exc
    if len(out) != n:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: {name}={value}")
    return out


def normalize_padding(padding, allowed=("valid", "same")):
    p = str(padding).lower()
    if p not in allowed:
        raise ValueError(f"The `padding` argument must be one of {list(allowed)}. Received: padding={padding}")
    return p


def normalize_data_format(data_format):
    if data_format is None:
        return "channels_last"
    df = str(data_format).lower()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(
            f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
            f"Received: data_format={data_format}"
        )
    return df


def output_length(size, kernel, stride, dilation, padding):
    """Keras's output length of one spatial axis (None stays None)."""
    if size is None:
        return None
    keff = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    if padding == "causal":
        return (size - 1) // stride + 1
    return max((size - keff) // stride + 1, 0)


def pad_pair(size, kernel, stride, dilation, padding):
    """(before, after) zero padding of one axis, as XLA's SAME/VALID and Keras's causal padding."""
    keff = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (keff - 1, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + keff - size, 0)
    return (total // 2, total - total // 2)


def to_last(x, data_format):
    """Channels-first input -> channels-last."""
    if data_format == "channels_first":
        return backend.array_module(x).moveaxis(x, 1, -1)
    return x


def from_last(x, data_format):
    if data_format == "channels_first":
        return backend.array_module(x).moveaxis(x, -1, 1)
    return x


def pad4(x, pads, value=0.0):
    """Pads the two spatial axes of ``x`` (N, H, W, C) by ``pads`` = ((top, bottom), (left, right))."""
    if not any(pads[0]) and not any(pads[1]):
        return x
    xp = backend.array_module(x)
    return xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def unpad4(x, pads):
    (t, b), (l, r) = pads
    return x[:, t:x.shape[1] - b, l:x.shape[2] - r, :]


def windows(xpad, kernel, strides, dilation, out_hw):
    """Strided view (N, oh, ow, kh, kw, C) of the windows of ``xpad`` (N, Hp, Wp, C); no copy."""
    xp = backend.array_module(xpad)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilation, out_hw
    keh, kew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    view = xp.lib.stride_tricks.sliding_window_view(xpad, (keh, kew), axis=(1, 2))
    view = view[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, :, ::dh, ::dw]
    return view.transpose(0, 1, 2, 4, 5, 3)


def im2col(xpad, kernel, strides, dilation, out_hw):
    """Windows of ``xpad`` (N, Hp, Wp, C) -> contiguous (N, oh, ow, kh, kw, C)."""
    return backend.array_module(xpad).ascontiguousarray(windows(xpad, kernel, strides, dilation, out_hw))


def conv_gemm(xpad, kernel, strides, dilation, out_hw, bias=None, keep=True, epilogue=None):
    """``(y, a)``: the convolution (groups 1) plus ``bias`` (F,) if given, as the product ``a @ w`` of
    its im2col matrix ``a`` (N*oh*ow, kh*kw*C), entry ((n, y, x), (i, j, c)), and the kernel
    matrix ``w``; y is (N*oh*ow, F).

    With ``epilogue(lo, hi, z)``, y is never whole: each batch piece's product z (samples lo to
    hi, (hi-lo)*oh*ow rows, without the bias) goes to it while in cache, and y is None.

    Batch piece by batch piece: each piece's rows of ``a`` are gathered and multiplied while
    they are in cache; ``a`` is held whole only with ``keep`` (else None). Few channels: ``a``
    is the transpose of a contiguous (kh*kw*C + 1, N*oh*ow) array, whose gather runs along
    the output width, with a last column of ones matching the bias as the last row of ``w``
    (y includes the bias without a pass of its own; the last row of ``a.T @ dy`` is the bias
    gradient). Otherwise ``a`` is contiguous (a 289-column matrix would slow its products)
    and the bias is added to y.
    """
    xp = backend.array_module(xpad)
    view = windows(xpad, kernel.shape[:2], strides, dilation, out_hw)
    n, oh, ow, kh, kw, c = view.shape
    rows, k, f = oh * ow, kh * kw * c, kernel.shape[-1]
    w = kernel.reshape(k, f)
    position_major = c <= _POSITION_MAJOR_MAX_CHANNELS
    folded = position_major and bias is not None and epilogue is None
    if folded:
        w = xp.concatenate([w, bias.reshape(1, f).astype(w.dtype, copy=False)])
    cols = k + folded
    step = max(1, _PIECE_ENTRIES // (rows * (max(cols, f) if epilogue else cols)))  # the piece's z in cache too
    m = n if keep else min(n, step)
    y = xp.empty((min(n, step) * rows if epilogue else n * rows, f), dtype=xp.result_type(xpad.dtype, kernel.dtype))
    if position_major:
        buf = xp.empty((cols, m, oh, ow), dtype=xpad.dtype)
        gather, view = buf[:k].reshape(kh, kw, c, m, oh, ow), view.transpose(3, 4, 5, 0, 1, 2)
        buf[k:] = 1
        lead = (slice(None),) * 3
    else:
        buf = xp.empty((m, oh, ow, cols), dtype=xpad.dtype)
        gather, lead = buf.reshape(m, oh, ow, kh, kw, c), ()
    compiled_gather = not position_major and kernels.fusable(xpad)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        piece = slice(lo, hi) if keep else slice(0, hi - lo)
        if compiled_gather:
            conv_kernels.gather_windows(xpad, lo, strides, dilation, gather[piece])
        else:
            gather[lead + (piece,)] = view[lead + (slice(lo, hi),)]
        a = buf[:, piece].reshape(cols, -1).T if position_major else buf[piece].reshape(-1, cols)
        if epilogue:
            z = y[:(hi - lo) * rows]
            gemm.matmul(a, w, out=z)
            epilogue(lo, hi, z)
        else:
            gemm.matmul(a, w, out=y[lo * rows:hi * rows])
    if epilogue:
        y = None
    elif bias is not None and not folded:
        add_bias(y, bias)
    if not keep:
        return y, None
    return y, (buf.reshape(cols, n * rows).T if position_major else buf.reshape(n * rows, cols))


def channel_rows(z):
    """Contiguous ``z`` (..., F) as 2-D rows of up to 128 whole channel vectors each: long inner loops."""
    f = z.shape[-1]
    return z.reshape(-1, f * math.gcd(z.size // f, 128))


def add_bias(z, bias):
    """``z += bias`` along the last axis of contiguous ``z``, in place."""
    rows = channel_rows(z)
    rows += backend.array_module(z).tile(bias, rows.shape[1] // bias.shape[0])


def channel_sums(dz):
    """Sum of ``dz`` (..., F) over all axes but the last, as one product ``ones (1, rows) @ dz (rows, F)``
    (through :func:`engine.gemm.matmul`, so that oneMKL takes it where it takes the others)."""
    xp = backend.array_module(dz)
    d2 = dz.reshape(-1, dz.shape[-1])
    return gemm.matmul(xp.ones((1, d2.shape[0]), dz.dtype), d2)[0]


def window_slice(i, j, strides, out_hw, dilation=(1, 1)):
    """Index of kernel position (i, j) in a padded (N, Hp, Wp, C) array: the (N, oh, ow, C) inputs it sees."""
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    return (slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (ow - 1) * sw + 1, sw), slice(None))


def col2im(dcols, padded_shape, strides, dilation):
    """Adjoint of :func:`im2col`: (N, oh, ow, kh, kw, C) -> (N, Hp, Wp, C) summing overlaps, kernel
    position by kernel position (row-major); contiguous NumPy arrays in one compiled pass instead of
    a strided add per position."""
    if kernels.fusable(dcols):
        return kernels.col2im(dcols, padded_shape, strides, dilation)
    xp = backend.array_module(dcols)
    _, oh, ow, kh, kw, _ = dcols.shape
    (sh, sw), (dh, dw) = strides, dilation
    dx = xp.zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[window_slice(i, j, strides, (oh, ow), dilation)] += dcols[:, :, :, i, j, :]
    return dx


def conv(xpad, kernel, strides, dilation, groups=1, bias=None, need_backprop=True):
    """Convolution of padded ``xpad`` (N, Hp, Wp, C) with ``kernel`` (kh, kw, C/groups, F), plus ``bias`` (F,) if given.

    Returns ``(y, backprop)``: y is (N, oh, ow, F); ``backprop(dy, need_dx=True) -> (dxpad, dkernel, dbias)``
    (dxpad None when not needed, dbias None without a bias); without ``need_backprop``, backprop is None.
    """
    xp = backend.array_module(xpad)
    kh, kw, cg, f = kernel.shape
    n, hp, wp, c = padded_shape = xpad.shape
    oh = (hp - ((kh - 1) * dilation[0] + 1)) // strides[0] + 1
    ow = (wp - ((kw - 1) * dilation[1] + 1)) // strides[1] + 1
    p = n * oh * ow
    if groups == 1:
        y, a = conv_gemm(xpad, kernel, strides, dilation, (oh, ow), bias, keep=need_backprop)
        y = y.reshape(n, oh, ow, f)
        if not need_backprop:
            return y, None

        def backprop(dy, need_dx=True):
            d2 = dy.reshape(p, f)
            dw = gemm.matmul(a.T, d2)
            dk = dw[:kh * kw * c].reshape(kernel.shape)
            if bias is None:
                db = None
            else:  # a's extra column, if it has one, is the bias's column of ones
                db = dw[-1] if dw.shape[0] > kh * kw * c else channel_sums(d2)
            if not need_dx:
                return None, dk, db
            return conv_input_grad(d2, kernel, padded_shape, strides, dilation, (oh, ow)), dk, db

        return y, backprop

    cols = im2col(xpad, (kh, kw), strides, dilation, (oh, ow))
    g, fg = groups, f // groups
    a = cols.reshape(p, kh * kw, g, cg).transpose(2, 0, 1, 3).reshape(g, p, kh * kw * cg)
    wm = kernel.reshape(kh * kw, cg, g, fg).transpose(2, 0, 1, 3).reshape(g, kh * kw * cg, fg)
    y = xp.ascontiguousarray((a @ wm).transpose(1, 0, 2).reshape(n, oh, ow, f))
    if bias is not None:
        add_bias(y, bias)

    def backprop_grouped(dy, need_dx=True):
        db = None if bias is None else channel_sums(dy)
        d3 = dy.reshape(p, g, fg).transpose(1, 0, 2)
        dk = (a.transpose(0, 2, 1) @ d3).reshape(g, kh * kw, cg, fg).transpose(1, 2, 0, 3).reshape(kernel.shape)
        if not need_dx:
            return None, dk, db
        da = (d3 @ wm.transpose(0, 2, 1)).reshape(g, p, kh * kw, cg).transpose(1, 2, 0, 3)
        dcols = da.reshape(n, oh, ow, kh, kw, c)
        return col2im(dcols, padded_shape, strides, dilation), dk, db

    return y, backprop_grouped


def conv_input_grad(d2, kernel, padded_shape, strides, dilation, out_hw):
    """Gradient (N, Hp, Wp, C) of the padded input of :func:`conv` (groups 1) from ``d2`` (N*oh*ow, F).

    One product ``d2 @ kernel.T`` gives the window gradients (N, oh, ow, kh, kw, C); col2im sums
    them into place.
    """
    kh, kw, c, f = kernel.shape
    oh, ow = out_hw
    dcols = gemm.matmul(d2, kernel.reshape(kh * kw * c, f).T).reshape(-1, oh, ow, kh, kw, c)
    return col2im(dcols, padded_shape, strides, dilation)


def dilate4(x, strides):
    """Inserts ``stride - 1`` zeros between the spatial samples of ``x`` (N, H, W, C)."""
    sh, sw = strides
    if sh == 1 and sw == 1:
        return x
    xp = backend.array_module(x)
    n, h, w, c = x.shape
    out = xp.zeros((n, (h - 1) * sh + 1, (w - 1) * sw + 1, c), dtype=x.dtype)
    out[:, ::sh, ::sw, :] = x
    return out


def transpose_pad_pair(kernel, stride, dilation, padding, output_padding):
    """Keras's (left, right) padding of the stride-dilated input of a transposed convolution."""
    keff = (kernel - 1) * dilation + 1
    if padding == "valid":
        op = max(keff, stride) - keff if output_padding is None else output_padding
        return keff - 1, keff - 1 + op
    pad_len = stride + keff - 2 if output_padding is None else keff + keff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, keff - 1)
    return left, pad_len - left


def transpose_output_length(size, kernel, stride, dilation, padding, output_padding):
    if size is None:
        return None
    left, right = transpose_pad_pair(kernel, stride, dilation, padding, output_padding)
    keff = (kernel - 1) * dilation + 1
    return (size - 1) * stride + 1 + left + right - keff + 1


def crop_or_pad4(x, pads):
    """Pads (positive) or crops (negative) the spatial axes of ``x`` by ``pads``."""
    pos = tuple((max(a, 0), max(b, 0)) for a, b in pads)
    x = pad4(x, pos)
    neg = tuple((max(-a, 0), max(-b, 0)) for a, b in pads)
    return unpad4(x, neg) if any(v for p in neg for v in p) else x
