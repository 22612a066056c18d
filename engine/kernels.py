"""Compiled loops (numba) for NumPy arrays, where a chain of NumPy calls would pass over the same
arrays many times or pay its call overhead on small ones: Adam's update, relu, max pooling with
disjoint windows, col2im and the row reductions of softmax (the LSTM's time loop is in
engine.recurrent_kernels).

Each kernel does, per element, exactly the floating-point operations of the NumPy expression it
replaces, in the arrays' dtype and in the same order (no fast-math, no fused multiply-add
contraction), so the results are bit for bit the same; only the passes over memory and the
per-call overhead go. Adam's update alone takes subnormal floats as zero (engine.denormals), as
TensorFlow's CPU kernels do. Kernels take C-contiguous float32 or float64 NumPy arrays; callers keep
their NumPy expression for CuPy arrays, other dtypes and other layouts (:func:`fusable`).
Transcendental functions stay with NumPy, whose SIMD exp and tanh are 5 to 50 times faster than
a compiled scalar loop (and round differently); engine.recurrent_kernels has vectorisable ones
for the LSTM's loop, which cannot hand each step's few thousand values to NumPy cheaply.

Compiled on first use and cached on disk beside this file (numba's cache), so a worker process
pays the compilation once per installation, not once per job.
"""
from __future__ import annotations

import numba
import numpy as np

from engine import denormals

# Single-threaded on purpose: after each GEMM OpenBLAS's worker threads spin on the other cores
# for a while, and a kernel's threads would share those cores with them (measured: an mlp step
# 4.7 ms with NumPy's Adam, 3.0 ms with this kernel on one thread, 7 to 9 ms on two). The
# "numpy" error model drops Python's division-by-zero check, which kept the loops from being
# vectorized (0.62 -> 0.22 ms for Adam on 400k floats).
_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


# The dtypes the kernels are compiled for (numba has no float16 arithmetic).
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fusable(*arrays) -> bool:
    """Whether ``arrays`` can go to a kernel: NumPy, C-contiguous, all float32 or all float64, of one size."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype not in DTYPES:
        return False
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == first.dtype
               and a.size == first.size for a in arrays)


@numba.njit(**_JIT)
def _adam(w, g, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    saved = denormals.flush_begin()
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        w[i] = w[i] - (mi * alpha) / (np.sqrt(vi) + epsilon)
    denormals.flush_end(saved)


def adam_update(w, g, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    """In place, per element (the four scalars of ``w``'s dtype)::

        m += (g - m) * one_minus_beta_1
        v += (g * g - v) * one_minus_beta_2
        w -= (m * alpha) / (sqrt(v) + epsilon)

    with subnormal operands and results taken as zero, as TensorFlow's CPU kernels do
    (:mod:`engine.denormals`); otherwise the same bits as the NumPy expression.
    """
    _adam(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
          one_minus_beta_1, one_minus_beta_2, alpha, epsilon)


@numba.njit(**_JIT)
def _relu(z):
    for i in range(z.shape[0]):
        if not z[i] > 0:  # NaN and -0 become +0
            z[i] = 0


def relu_in_place(z):
    """``z = fmax(z, 0) + 0`` in place: NaN and -0 become +0."""
    _relu(z.reshape(-1))


@numba.njit(**_JIT)
def _bias_relu(z, bias):
    for r in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[r, j] + bias[j]
            z[r, j] = v if v > 0 else 0  # NaN and -0 become +0


def bias_relu_in_place(z, bias):
    """``z += bias`` along the last axis then :func:`relu_in_place`, in one pass: the same bits."""
    _bias_relu(z.reshape(-1, z.shape[-1]), bias)


@numba.njit(**_JIT)
def _relu_grad(dy, y, out):
    zero = y.dtype.type(0)
    for i in range(dy.shape[0]):
        out[i] = dy[i] if y[i] > zero else dy[i] * zero


def relu_grad(dy, y):
    """``dy * (y > 0)`` as a new array (NaN and infinite ``dy`` times 0 stay NaN, as in NumPy)."""
    out = np.empty_like(dy)
    _relu_grad(dy.reshape(-1), y.reshape(-1), out.reshape(-1))
    return out


@numba.njit(**_JIT)
def _max_pool(x, pool_h, pool_w, stride_h, stride_w, y, first):
    n, oh, ow, c = y.shape
    last = pool_h * pool_w - 1
    for b in range(n):
        for r in range(oh):
            best, hit = y[b, r], first[b, r]  # (ow, C) rows
            top = x[b, r * stride_h]
            for q in range(ow):
                for ch in range(c):
                    best[q, ch] = top[q * stride_w, ch]
            for k in range(1, last + 1):
                row, j = x[b, r * stride_h + k // pool_w], k % pool_w
                for q in range(ow):
                    for ch in range(c):  # NumPy's maximum: NaN wins, ties keep the first
                        a, v = best[q, ch], row[q * stride_w + j, ch]
                        best[q, ch] = a if (a >= v) | (a != a) else v
            hit[:] = last + 1
            for k in range(last, -1, -1):  # backwards, so that the first maximum is the one kept
                row, j = x[b, r * stride_h + k // pool_w], k % pool_w
                for q in range(ow):
                    for ch in range(c):
                        hit[q, ch] = k if row[q * stride_w + j, ch] == best[q, ch] else hit[q, ch]


def max_pool(x, pool, strides, out_hw):
    """Max pool of C-contiguous ``x`` (N, H, W, C) over disjoint windows (strides >= pool):
    ``(y, first)``, y (N, oh, ow, C) and ``first`` (N, oh, ow, C) uint8, the row-major position in
    its window of each window's first maximum (pool_h * pool_w where the maximum is NaN)."""
    shape = (x.shape[0],) + tuple(out_hw) + (x.shape[3],)
    y = np.empty(shape, x.dtype)
    first = np.empty(shape, np.uint8)
    _max_pool(x, pool[0], pool[1], strides[0], strides[1], y, first)
    return y, first


@numba.njit(**_JIT)
def _max_pool_grad(dy, first, pool_h, pool_w, stride_h, stride_w, dx):
    n, oh, ow, c = dy.shape
    zero = dx.dtype.type(0)
    for b in range(n):
        for r in range(oh):
            d, hit = dy[b, r], first[b, r]
            for i in range(pool_h):
                row = dx[b, r * stride_h + i]
                for q in range(ow):
                    for j in range(pool_w):
                        k = i * pool_w + j
                        for ch in range(c):
                            row[q * stride_w + j, ch] = d[q, ch] if hit[q, ch] == k else zero


def max_pool_grad(dy, first, pool, strides, dx):
    """Writes the gradient of :func:`max_pool` into ``dx`` (N, H, W, C): each window's ``dy`` at its
    first maximum, 0 at the rest of the window; entries outside every window are left as they are."""
    _max_pool_grad(dy, first, pool[0], pool[1], strides[0], strides[1], dx)


@numba.njit(**_JIT)
def _col2im(dcols, stride_h, stride_w, dilation_h, dilation_w, dx):
    n, oh, ow, kh, kw, c = dcols.shape
    for b in range(n):
        out = dx[b]
        out[:] = 0
        cols = dcols[b]
        for i in range(kh):  # kernel positions in order, so that each entry sums them as the NumPy loop does
            for j in range(kw):
                for r in range(oh):
                    row = out[r * stride_h + i * dilation_h]
                    src = cols[r]
                    for q in range(ow):
                        at = q * stride_w + j * dilation_w
                        for ch in range(c):
                            row[at, ch] += src[q, i, j, ch]


def col2im(dcols, padded_shape, strides, dilation, out=None):
    """Adjoint of im2col: C-contiguous ``dcols`` (N, oh, ow, kh, kw, C) -> (N, Hp, Wp, C), each entry
    the sum, kernel position by kernel position (row-major), of the window entries that cover it;
    written into C-contiguous ``out`` when given."""
    dx = np.empty(padded_shape, dcols.dtype) if out is None else out
    _col2im(dcols, strides[0], strides[1], dilation[0], dilation[1], dx)
    return dx


@numba.njit(**_JIT)
def _subtract_row_max(z):
    for r in range(z.shape[0]):
        m = z[r, 0]
        for j in range(1, z.shape[1]):
            if z[r, j] > m or m != m:  # NumPy's maximum: the first NaN wins
                m = z[r, j] if m == m else m
        for j in range(z.shape[1]):
            z[r, j] = z[r, j] - m


@numba.njit(**_JIT)
def _pairwise_sum(a, lo, n):
    """NumPy's pairwise summation of ``a[lo:lo + n]`` (its ``add.reduce`` over a contiguous row)."""
    if n < 8:
        res = a.dtype.type(0)
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, lo, n2) + _pairwise_sum(a, lo + n2, n - n2)


@numba.njit(**_JIT)
def _divide_by_row_sum(e):
    width = e.shape[1]
    flat = e.reshape(-1)
    for r in range(e.shape[0]):
        s = _pairwise_sum(flat, r * width, width)
        for j in range(width):
            e[r, j] = e[r, j] / s


def softmax_last_axis_in_place(z):
    """``z = exp(z - max(z, -1)); z /= sum(z, -1)`` in place, with NumPy's exp and NumPy's
    pairwise summation order, so the same bits as the NumPy expression; the row reductions run
    compiled (NumPy's reductions over short rows cost 20 us on 128x10)."""
    rows = z.reshape(-1, z.shape[-1])
    _subtract_row_max(rows)
    np.exp(rows, out=rows)
    _divide_by_row_sum(rows)
    return z


def warm_up() -> None:
    """Loads numba's compiler state and the kernels every dense model runs (Adam, relu and its
    gradient, softmax's row reductions) for float32 and float64, compiling them where the cache lacks
    them: about a second, paid once by a process that forks job processes (a worker), not by each
    job. The other kernels load from the cache on first use, in a few milliseconds each once this ran."""
    for dtype in DTYPES:
        w, g, m, v = (np.ones(2, dtype) for _ in range(4))
        one = dtype.type(1)
        adam_update(w, g, m, v, one, one, one, one)
        relu_in_place(w)
        relu_grad(g, w)
        softmax_last_axis_in_place(np.ones((2, 2), dtype))
