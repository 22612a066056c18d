"""Compiled loops (numba) for a convolution with a relu followed by a max pool of disjoint windows,
run as one step (see engine.layers.conv_pool): each batch piece of the convolution's output is
biased, activated and pooled while it is in cache, and its gradient is formed piece by piece.

Arrays are C-contiguous NumPy, channels last, float32 or float64 (uint8 for window positions).
A pool is ``pool_h x pool_w`` windows taken every ``stride_h x stride_w`` (strides >= pool) over
the convolution's output ``z``. The step keeps the pooled output ``y`` and ``first``, the row-major
position in its window of each window's first maximum. The gradient of ``z`` is ``dy`` at its
window's first maximum when that maximum is positive, ``dy * 0`` when it is not (the relu's
gradient), and 0 elsewhere: the bits of the relu layer's then the max pool's gradients.

:func:`pool`, :func:`pool_grad` and :func:`gather_windows` run their loop over the batch in
:func:`engine.threads.parts_for` parts side by side (numba ``prange``) where it allows (the
products beside them on oneMKL's Intel OpenMP workers), else on the calling thread: the same
operations on each sample either way, so the same bits.
"""
from __future__ import annotations

import numba

from engine import threads
from engine.kernels import _JIT


@numba.njit(**_JIT)
def bias_relu_pool(z, bias, pool_h, pool_w, stride_h, stride_w, y, first):
    """Pools ``relu(z + bias)`` of ``z`` (N, oh, ow, F) into ``y`` (N, ph, pw, F) and ``first`` (uint8,
    same shape; empty (0, ...) for inference, which then skips the positions: a loop LLVM vectorises,
    1.07-1.28x faster on cnn's shapes); an empty ``bias`` adds nothing. The sum and the relu are the bias and relu
    layers' (NaN and -0 become +0), so the window maximum and its first position are the max pool's."""
    n, ph, pw, f = y.shape
    zero = z.dtype.type(0)
    with_bias = bias.shape[0] > 0
    if first.shape[0] == 0:
        for b in range(n):
            for r in range(ph):
                best = y[b, r]  # (pw, F)
                best[:] = zero  # the relu's floor: max(relu(v)) over a window is max(0, v...)
                for i in range(pool_h):
                    row = z[b, r * stride_h + i]  # (ow, F)
                    for j in range(pool_w):
                        for q in range(pw):
                            for ch in range(f):
                                v = row[q * stride_w + j, ch] + bias[ch] if with_bias else row[q * stride_w + j, ch]
                                best[q, ch] = v if v > best[q, ch] else best[q, ch]
        return
    for b in range(n):
        for r in range(ph):
            best, hit = y[b, r], first[b, r]  # (pw, F)
            for i in range(pool_h):
                row = z[b, r * stride_h + i]  # (ow, F)
                for j in range(pool_w):
                    p = i * pool_w + j
                    for q in range(pw):
                        for ch in range(f):
                            v = row[q * stride_w + j, ch] + bias[ch] if with_bias else row[q * stride_w + j, ch]
                            v = v if v > zero else zero
                            if p == 0 or v > best[q, ch]:  # ties keep the first
                                best[q, ch] = v
                                hit[q, ch] = p


@numba.njit(**_JIT)
def relu_pool_grad(dy, y, first, pool_h, pool_w, stride_h, stride_w, dz):
    """Gradient ``dz`` (N, oh, ow, F) of the ``z`` of :func:`bias_relu_pool` from ``dy`` (N, ph, pw, F);
    entries outside every window get 0."""
    n, ph, pw, f = dy.shape
    zero = dz.dtype.type(0)
    if stride_h != pool_h or stride_w != pool_w or dz.shape[1] != ph * pool_h or dz.shape[2] != pw * pool_w:
        dz[:] = zero  # entries outside the windows; the windows' entries are all written below
    for b in range(n):
        for r in range(ph):
            d, top, hit = dy[b, r], y[b, r], first[b, r]  # (pw, F)
            for i in range(pool_h):
                row = dz[b, r * stride_h + i]  # (ow, F)
                for j in range(pool_w):
                    p = i * pool_w + j
                    for q in range(pw):
                        for ch in range(f):
                            g = d[q, ch] if top[q, ch] > zero else d[q, ch] * zero
                            row[q * stride_w + j, ch] = g if hit[q, ch] == p else zero


@numba.njit(**_JIT)
def _gather_windows(xpad, start, sh, sw, dh, dw, out):
    kh, kw = out.shape[3], out.shape[4]
    for b in range(out.shape[0]):
        for r in range(out.shape[1]):
            for q in range(out.shape[2]):
                for i in range(kh):
                    src, dst = xpad[start + b, r * sh + i * dh], out[b, r, q, i]  # (Wp, C), (kw, C)
                    for j in range(kw):
                        for ch in range(dst.shape[1]):
                            dst[j, ch] = src[q * sw + j * dw, ch]


# ------------------------------------------------------------ the batch in parts side by side
@numba.njit(parallel=True, **_JIT)
def _bias_relu_pool_parts(z, bias, pool_h, pool_w, stride_h, stride_w, y, first, parts):
    n = y.shape[0]
    for p in numba.prange(parts):
        lo, hi = n * p // parts, n * (p + 1) // parts
        bias_relu_pool(z[lo:hi], bias, pool_h, pool_w, stride_h, stride_w, y[lo:hi],
                       first[lo:hi] if first.shape[0] else first)


@numba.njit(parallel=True, **_JIT)
def _relu_pool_grad_parts(dy, y, first, pool_h, pool_w, stride_h, stride_w, dz, parts):
    n = dy.shape[0]
    for p in numba.prange(parts):
        lo, hi = n * p // parts, n * (p + 1) // parts
        relu_pool_grad(dy[lo:hi], y[lo:hi], first[lo:hi], pool_h, pool_w, stride_h, stride_w, dz[lo:hi])


@numba.njit(parallel=True, **_JIT)
def _gather_windows_parts(xpad, start, sh, sw, dh, dw, out, parts):
    n = out.shape[0]
    for p in numba.prange(parts):
        lo, hi = n * p // parts, n * (p + 1) // parts
        _gather_windows(xpad, start + lo, sh, sw, dh, dw, out[lo:hi])


def _in_parts(items, kernel, parts_kernel, *args) -> None:
    """``kernel(*args)``, or ``parts_kernel(*args, parts)`` over ``items`` samples where
    :func:`engine.threads.parts_for` gives more than one part."""
    parts = threads.parts_for(items, between_products=True)
    if parts > 1:
        parts_kernel(*args, parts)
    else:
        kernel(*args)


def pool(z, bias, pool_h, pool_w, stride_h, stride_w, y, first) -> None:
    """:func:`bias_relu_pool`, the batch in parts side by side where :func:`engine.threads.parts_for` allows."""
    _in_parts(y.shape[0], bias_relu_pool, _bias_relu_pool_parts, z, bias, pool_h, pool_w, stride_h, stride_w, y, first)


def pool_grad(dy, y, first, pool_h, pool_w, stride_h, stride_w, dz) -> None:
    """:func:`relu_pool_grad`, the batch in parts side by side where :func:`engine.threads.parts_for` allows."""
    _in_parts(dy.shape[0], relu_pool_grad, _relu_pool_grad_parts, dy, y, first, pool_h, pool_w, stride_h, stride_w, dz)


def gather_windows(xpad, start, strides, dilation, out) -> None:
    """``out`` (m, oh, ow, kh, kw, C) = the windows of samples ``start`` to ``start + m`` of ``xpad``
    (N, Hp, Wp, C), both C-contiguous: the rows of a channel-minor im2col matrix. On 2 threads,
    cnn's second convolution (64 x 13 x 13 x 32, 3 x 3 windows, 10 x 10 of them) takes 0.46 ms
    against NumPy's strided copy's 0.92 (0.88 on one thread). Position-major gathers stay with NumPy,
    whose copy of cnn's first convolution's windows (one channel) took 0.28 ms against 0.42 here."""
    _in_parts(out.shape[0], _gather_windows, _gather_windows_parts, xpad, start, *strides, *dilation, out)
