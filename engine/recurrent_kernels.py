"""The LSTM's whole time loop as compiled code (numba), forward and backward.

Each step is a few small BLAS products through ``np.dot`` (``x_t @ kernel`` and
``h @ recurrent_kernel`` per gate forward; the input, state and weight gradients per gate
backward) and one compiled pass over the batch for the gates, the cell and the outputs: no
Python call per step.

exp / sigmoid / tanh are written so that LLVM vectorises them (a C library call per value does
not vectorise: a float64 LSTM predicted 2.5x slower with them): Cephes's exp with range
reduction, a polynomial for float32 and its rational approximation for float64, tanh through
expm1. float32: within 3 (exp, tanh) or 4 (sigmoid) ulp of NumPy's and 1 (exp) or 2 (tanh) ulp
of the exact value; float64: within 2 (exp), 3 (sigmoid) or 4 (tanh) ulp of the exact value and
of NumPy's; both with NumPy's results for NaN, infinities, signed zeros and subnormal results. No fast-math and no fused multiply-add
contraction: the results are the same bits on every run.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

from engine.kernels import _JIT

_F = np.float32
_ONE, _TWO = _F(1), _F(2)
# exp: x = n ln2 + r, |r| <= ln2 / 2, ln2 split in two (C1 has 9 bits, so n C1 is exact);
# n is rounded to nearest by adding and subtracting 1.5 * 2^23. Arguments are clamped to
# [-104, 89], beyond which float32's exp is 0 or inf, and 2^n is applied as two factors so that
# subnormal results and overflow round once, as a correctly rounded exp would.
_I1, _I23, _I127 = np.int32(1), np.int32(23), np.int32(127)
_LOG2E, _MAGIC = _F(1.44269504088896341), _F(12582912.0)
_LN2_HI, _LN2_LO = _F(0.693359375), _F(-2.12194440e-4)
_EXP_LO, _EXP_HI = _F(-104.0), _F(89.0)
_E0, _E1, _E2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_E3, _E4, _E5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
# tanh from expm1(2|x|), exactly 1 in float32 from about 9.01 on, so the argument is clamped to 10.
_TANH_CLAMP = _F(10.0)


@numba.njit(**_JIT)
def _exp_reduced(x):
    """(p, k) with exp(x) = p 2^k, |x| <= 104: k = round(x / ln2), p = exp(x - k ln2) by polynomial."""
    n = (x * _LOG2E + _MAGIC) - _MAGIC
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = (((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5) * (r * r) + r + _ONE
    return p, np.int32(n)


@numba.njit(**_JIT)
def _scaled(p, k):
    """p 2^k for k in [-150, 128], as two factors so that subnormal results and overflow round once."""
    k1 = np.int32(k >> _I1)
    return (p * np.int32((k1 + _I127) << _I23).view(np.float32)) * np.int32((k - k1 + _I127) << _I23).view(np.float32)


@numba.njit(**_JIT)
def _exp_f32(x):
    xc = x if x > _EXP_LO else _EXP_LO  # NaN goes to the low end here, and is returned at the end
    xc = xc if xc < _EXP_HI else _EXP_HI
    p, k = _exp_reduced(xc)
    y = _scaled(p, k)
    return y if x == x else x


@numba.njit(**_JIT)
def _exp_nonpositive_f32(x):
    """exp(x) for x <= 0 or NaN (NaN stays in the arithmetic; fewer operations than :func:`_exp_f32`)."""
    p, k = _exp_reduced(_EXP_LO if x < _EXP_LO else x)
    return _scaled(p, k)


@numba.njit(**_JIT)
def _tanh_f32(x):
    """tanh(|x|) = m / (m + 2) with m = expm1(2|x|) = 2^k q + (2^k - 1), q = p - 1 from the
    polynomial: all terms are >= 0, so nothing cancels near 0 and one formula covers every x."""
    a = abs(x)
    y = _TWO * (a if a < _TANH_CLAMP else _TANH_CLAMP)  # NaN: the clamp; the result is NaN below
    n = (y * _LOG2E + _MAGIC) - _MAGIC
    r = (y - n * _LN2_HI) - n * _LN2_LO
    q = (((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5) * (r * r) + r
    s = np.int32((np.int32(n) + _I127) << _I23).view(np.float32)  # 2^k <= 2^29
    m = s * q + (s - _ONE)
    t = m / (m + _TWO)
    return math.copysign(t if a == a else x, x)


# float64: Cephes's exp, e^r = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) for |r| <= ln2 / 2 (its
# expm1 part, 2 r P / (Q - r P), serves tanh), ln2 in two parts; arguments are clamped to
# [-746, 710], beyond which float64's exp is 0 or inf; 2^n as two factors, as for float32.
_D = np.float64
_D_LOG2E, _D_MAGIC = _D(1.4426950408889634073599), _D(6755399441055744.0)  # 1.5 * 2^52
_D_LN2_HI, _D_LN2_LO = _D(6.93145751953125e-1), _D(1.42860682030941723212e-6)
_D_EXP_LO, _D_EXP_HI = _D(-746.0), _D(710.0)
_DP0, _DP1, _DP2 = _D(1.26177193074810590878e-4), _D(3.02994407707441961300e-2), _D(9.99999999999999999910e-1)
_DQ0, _DQ1 = _D(3.00198505138664455042e-6), _D(2.52448340349684104192e-3)
_DQ2, _DQ3 = _D(2.27265548208155028766e-1), _D(2.00000000000000000009e0)
_D_ONE, _D_TWO = _D(1), _D(2)
_L1, _L52, _L1023 = np.int64(1), np.int64(52), np.int64(1023)
# tanh is exactly 1 in float64 from about 19.06 on.
_D_TANH_CLAMP = _D(22.0)


@numba.njit(**_JIT)
def _expm1_reduced_f64(x):
    """(q, k) with exp(x) = (1 + q) 2^k, |x| <= 746: k = round(x / ln2), q = expm1(x - k ln2)."""
    n = (x * _D_LOG2E + _D_MAGIC) - _D_MAGIC
    r = (x - n * _D_LN2_HI) - n * _D_LN2_LO
    rr = r * r
    px = r * ((_DP0 * rr + _DP1) * rr + _DP2)
    qx = ((_DQ0 * rr + _DQ1) * rr + _DQ2) * rr + _DQ3
    return _D_TWO * (px / (qx - px)), np.int64(n)


@numba.njit(**_JIT)
def _scaled_f64(p, k):
    """p 2^k for k in [-1077, 1025], as two factors so that subnormal results and overflow round once."""
    k1 = np.int64(k >> _L1)
    return (p * np.int64((k1 + _L1023) << _L52).view(np.float64)) * np.int64((k - k1 + _L1023) << _L52).view(
        np.float64)


@numba.njit(**_JIT)
def _exp_f64(x):
    xc = x if x > _D_EXP_LO else _D_EXP_LO  # NaN goes to the low end here, and is returned at the end
    xc = xc if xc < _D_EXP_HI else _D_EXP_HI
    q, k = _expm1_reduced_f64(xc)
    y = _scaled_f64(q + _D_ONE, k)
    return y if x == x else x


@numba.njit(**_JIT)
def _exp_nonpositive_f64(x):
    """exp(x) for x <= 0 or NaN (NaN stays in the arithmetic)."""
    q, k = _expm1_reduced_f64(_D_EXP_LO if x < _D_EXP_LO else x)
    return _scaled_f64(q + _D_ONE, k)


@numba.njit(**_JIT)
def _tanh_f64(x):
    """tanh(|x|) = m / (m + 2) with m = expm1(2|x|) = 2^k q + (2^k - 1), as for float32."""
    a = abs(x)
    q, k = _expm1_reduced_f64(_D_TWO * (a if a < _D_TANH_CLAMP else _D_TANH_CLAMP))
    s = np.int64((k + _L1023) << _L52).view(np.float64)  # 2^k <= 2^64
    m = s * q + (s - _D_ONE)
    t = m / (m + _D_TWO)
    return math.copysign(t if a == a else x, x)


def _exp(x):
    """exp of a float32 or float64 scalar (compiled code only)."""


def _tanh(x):
    """tanh of a float32 or float64 scalar (compiled code only)."""


@overload(_exp, jit_options=_JIT)
def _exp_impl(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    return lambda x: _exp_f64(x)


@overload(_tanh, jit_options=_JIT)
def _tanh_impl(x):
    if x == types.float32:
        return lambda x: _tanh_f32(x)
    return lambda x: _tanh_f64(x)


def _sigmoid(x):
    """As the layers' sigmoid, for a float32 or float64 scalar (compiled code only): e = exp(-|x|),
    1 / (1 + e) for x >= 0, e / (1 + e) below (computed as e times 1 / (1 + e))."""


@overload(_sigmoid, jit_options=_JIT)
def _sigmoid_impl(x):
    exp_nonpositive, one = (_exp_nonpositive_f32, _ONE) if x == types.float32 else (_exp_nonpositive_f64, _D_ONE)

    def sigmoid(x):
        e = exp_nonpositive(-abs(x))
        s = one / (e + one)
        return s if x >= 0 else e * s
    return sigmoid


@numba.njit(**_JIT)
def _map_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


@numba.njit(**_JIT)
def _map_sigmoid(x, out):
    for i in range(x.shape[0]):
        out[i] = _sigmoid(x[i])


@numba.njit(**_JIT)
def _map_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])


def _mapped(kernel, x):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1))
    return out


def exp(x):
    """Element-wise exp of a float32 / float64 array as the LSTM loop computes it (float32: within
    a few ulp of NumPy's, including subnormal results, 0 below -104, inf above 88.73, NaN kept)."""
    return _mapped(_map_exp, x)


def sigmoid(x):
    """Element-wise ``1 / (1 + exp(-x))`` as the LSTM loop computes it (see :func:`_sigmoid`)."""
    return _mapped(_map_sigmoid, x)


def tanh(x):
    """Element-wise tanh as the LSTM loop computes it (float32: from expm1, see :func:`_tanh_f32`)."""
    return _mapped(_map_tanh, x)


# ------------------------------------------------------------------ the LSTM loop
# Arrays are time-major, (T, N, ...), so that a step's block is contiguous; gates are ordered
# i, f, o, c and kept gate-major, (4, N, u) a step, so that each gate's activation is one loop
# over its block; the products take each gate's (u, u) or (F, u) block of the weights.
# The loops are split so that each touches few arrays: LLVM vectorises a loop after a run-time
# check that its arrays do not overlap, and gives up when there are too many pairs to check.
@numba.njit(**_JIT)
def lstm_forward(xs, kb, b, rk, h, c, zx, zh, gates, h_prev, c_prev, tanh_c, y):
    """Forward time loop, in place; gates i, f, o, c.

    ``xs`` (T, N, F): the inputs, time-major. ``kb`` (4, F, u) and ``rk`` (4, u, u): the
    kernel's and the recurrent kernel's gate blocks; ``b`` (4, u): the bias. ``h``, ``c``
    (N, u): the initial states, updated to the final ones. ``zx``, ``zh`` (4, N, u): scratch
    for ``x_t @ kb[g]`` and ``h @ rk[g]``: OpenBLAS multiplies (64, 64) @ (64, 64) with its
    small-matrix kernel but packs the operands of larger products first, and these small ones
    took 60 percent of the time of one (N, u, 4u) product a step, or of one (T N, F, 4u)
    product for all inputs. ``gates`` (T, 4, N, u) receives the gate activations, or is
    (1, 4, N, u) and overwritten each step (inference). ``h_prev``, ``c_prev`` and ``tanh_c``
    (T, N, u) receive h_{t-1}, c_{t-1} and tanh(c_t) (for the backward pass), ``y``
    (T, N, u) h_t; each may be (0, N, u) to skip it.
    """
    steps, n_batch, u = xs.shape[0], h.shape[0], h.shape[1]
    keep, seq = h_prev.shape[0] == steps, y.shape[0] == steps
    for t in range(steps):
        k = t if gates.shape[0] == steps else 0
        for g in range(4):
            np.dot(xs[t], kb[g], zx[g])
            np.dot(h, rk[g], zh[g])
        for g in range(3):
            zxg, zhg, bg, act = zx[g], zh[g], b[g], gates[k, g]
            for n in range(n_batch):
                for j in range(u):
                    act[n, j] = _sigmoid((zxg[n, j] + bg[j]) + zhg[n, j])
        zxg, zhg, bg, act = zx[3], zh[3], b[3], gates[k, 3]
        for n in range(n_batch):
            for j in range(u):
                act[n, j] = _tanh((zxg[n, j] + bg[j]) + zhg[n, j])
        if keep:
            h_prev[t] = h
            c_prev[t] = c
        i_gate, f_gate, o_gate, c_gate = gates[k, 0], gates[k, 1], gates[k, 2], gates[k, 3]
        for n in range(n_batch):
            for j in range(u):
                c[n, j] = f_gate[n, j] * c[n, j] + i_gate[n, j] * c_gate[n, j]
        if keep:
            for n in range(n_batch):
                for j in range(u):
                    tanh_c[t, n, j] = _tanh(c[n, j])
            for n in range(n_batch):
                for j in range(u):
                    h[n, j] = o_gate[n, j] * tanh_c[t, n, j]
        else:
            for n in range(n_batch):
                for j in range(u):
                    h[n, j] = o_gate[n, j] * _tanh(c[n, j])
        if seq:
            y[t] = h


@numba.njit(**_JIT)
def _flushed(v, tiny):
    """0 where |v| is below the smallest normal number ``tiny`` (NaN stays)."""
    return v * 0 if abs(v) < tiny else v


@numba.njit(**_JIT)
def _add_product(a, b, part, out):
    """``out += a @ b``, through ``part`` (np.dot cannot add into its output)."""
    np.dot(a, b, part)
    for r in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[r, j] += part[r, j]


@numba.njit(**_JIT)
def lstm_backward(gates, xs, h_prev, c_prev, tanh_c, kb_t, rk_t, dy, dh, dc, dz, dxs, dkb, drk, db):
    """Backward time loop of :func:`lstm_forward` (kept steps), in place, with the weight
    gradients: four small products per gate and step, as in the forward loop.

    ``gates`` (T, 4, N, u), ``xs`` (T, N, F), ``h_prev``, ``c_prev``, ``tanh_c`` (T, N, u): as
    the forward pass left them. ``kb_t`` (4, u, F), ``rk_t`` (4, u, u): the kernel's and the
    recurrent kernel's gate blocks transposed. ``dy`` (T, N, u): the output sequence's
    gradient, or (0, N, u) for none. ``dh``, ``dc`` (N, u): the final states' gradients,
    updated to the initial states'. ``dz`` (4, N, u): scratch for a step's gate gradients.
    ``dxs`` (T, N, F) receives the input gradient, or is (0, N, F) to skip it. ``dkb``
    (4, F, u), ``drk`` (4, u, u) and ``db`` (4, u) are added to. As the layers' activations
    differentiate: dc += dh o (1 + tanh c)(1 - tanh c), do = dh tanh(c) o (1 - o),
    di = dc g i (1 - i), dg = dc i (1 + g)(1 - g), df = dc c_prev f (1 - f); then
    dh = sum_g dz_g @ rk_t[g], dx = sum_g dz_g @ kb_t[g] and dc *= f.

    Gradients that vanish back through time become subnormal numbers, which make the CPU's
    arithmetic some hundred times slower (a product with them took 440 instead of 4 ms): dh,
    dc and the gate gradients are flushed to zero below the smallest normal number (about
    1.2e-38 in float32), so that they reach zero a few steps later instead.
    """
    steps, n_batch, u = gates.shape[0], dh.shape[0], dh.shape[1]
    one = dh.dtype.type(1)
    tiny = dh.dtype.type(np.finfo(dh.dtype).tiny)
    part_h, part_k, part_r = np.empty_like(dh), np.empty_like(dkb[0]), np.empty_like(drk[0])
    part_x = np.empty((n_batch, xs.shape[2]), dh.dtype)
    for t in range(steps - 1, -1, -1):
        for n in range(n_batch):
            if dy.shape[0]:
                for j in range(u):
                    dh[n, j] = _flushed(dh[n, j] + dy[t, n, j], tiny)
            else:
                for j in range(u):
                    dh[n, j] = _flushed(dh[n, j], tiny)
            for j in range(u):
                s, o = tanh_c[t, n, j], gates[t, 2, n, j]
                dc[n, j] = _flushed(dc[n, j] + (dh[n, j] * o) * ((one + s) * (one - s)), tiny)
            for j in range(u):
                s, o = tanh_c[t, n, j], gates[t, 2, n, j]
                dz[2, n, j] = _flushed((dh[n, j] * s) * (o * (one - o)), tiny)
            for j in range(u):
                i, g = gates[t, 0, n, j], gates[t, 3, n, j]
                dz[0, n, j] = _flushed((dc[n, j] * g) * (i * (one - i)), tiny)
                dz[3, n, j] = _flushed((dc[n, j] * i) * ((one + g) * (one - g)), tiny)
            for j in range(u):
                f = gates[t, 1, n, j]
                dz[1, n, j] = _flushed((dc[n, j] * c_prev[t, n, j]) * (f * (one - f)), tiny)
                dc[n, j] = _flushed(dc[n, j] * f, tiny)
        for g in range(4):
            _add_product(xs[t].T, dz[g], part_k, dkb[g])
            _add_product(h_prev[t].T, dz[g], part_r, drk[g])
            for n in range(n_batch):
                for j in range(u):
                    db[g, j] += dz[g, n, j]
        if dxs.shape[0]:
            np.dot(dz[0], kb_t[0], dxs[t])
            for g in range(1, 4):
                _add_product(dz[g], kb_t[g], part_x, dxs[t])
        np.dot(dz[0], rk_t[0], dh)
        for g in range(1, 4):
            _add_product(dz[g], rk_t[g], part_h, dh)


# ------------------------------------------------------------ row ranges side by side
# Each argument is a tuple with one item per row range of the batch (the weights repeated), as
# the single-range loops take them; engine.threads.native_pool() says whether these may run.
@numba.njit(parallel=True, **_JIT)
def lstm_forward_ranges(xs, kb, b, rk, h, c, zx, zh, gates, h_prev, c_prev, tanh_c, y):
    """:func:`lstm_forward` on each row range, side by side (numba ``prange``)."""
    for r in numba.prange(len(xs)):
        lstm_forward(xs[r], kb[r], b[r], rk[r], h[r], c[r], zx[r], zh[r], gates[r], h_prev[r], c_prev[r],
                     tanh_c[r], y[r])


@numba.njit(parallel=True, **_JIT)
def lstm_backward_ranges(gates, xs, h_prev, c_prev, tanh_c, kb_t, rk_t, dy, dh, dc, dz, dxs, dkb, drk, db):
    """:func:`lstm_backward` on each row range, side by side (numba ``prange``)."""
    for r in numba.prange(len(xs)):
        lstm_backward(gates[r], xs[r], h_prev[r], c_prev[r], tanh_c[r], kb_t[r], rk_t[r], dy[r], dh[r], dc[r],
                      dz[r], dxs[r], dkb[r], drk[r], db[r])
