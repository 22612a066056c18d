"""The LSTM loop's compiled exp / sigmoid / tanh against NumPy (ulp, special values) and its
backward pass's flushing of subnormal gradients."""
import numpy as np
import pytest

from engine import recurrent_kernels as rk


def _numpy_sigmoid(x):
    """The layers' sigmoid (engine.activations)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _ordered(a):
    """float32 bits as integers that count ulps across zero (-0 and +0 are 0)."""
    i = a.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def _ulps(a, b):
    return np.abs(_ordered(a) - _ordered(b))


def _all_kinds_of_float32():
    """Every 251st float32 bit pattern (all exponents, both signs), finite ones only."""
    x = np.arange(0, 2 ** 32, 251, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x[np.isfinite(x)]


FUNCTIONS = [("exp", rk.exp, np.exp, 3), ("sigmoid", rk.sigmoid, _numpy_sigmoid, 4), ("tanh", rk.tanh, np.tanh, 3)]


@pytest.mark.parametrize("name, ours, numpy_f, max_ulp", FUNCTIONS)
def test_float32_functions_are_within_a_few_ulp_of_numpy(name, ours, numpy_f, max_ulp):
    x = _all_kinds_of_float32()
    with np.errstate(over="ignore", under="ignore"):
        want = numpy_f(x)
        exact = numpy_f(x.astype(np.float64)).astype(np.float32)
    got = ours(x)
    assert got.dtype == np.float32
    finite = np.isfinite(want)
    assert _ulps(got[finite], want[finite]).max() <= max_ulp
    assert _ulps(got[finite], exact[finite]).max() <= max_ulp
    np.testing.assert_array_equal(got[~finite], want[~finite])  # exp's overflow to inf


@pytest.mark.parametrize("name, ours, numpy_f, max_ulp", FUNCTIONS)
def test_float32_special_values_as_numpy(name, ours, numpy_f, max_ulp):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-30, -1e-30, 0.625, -0.625,
                  9.0, -9.0, 10.0, -10.0, 88.72, 88.73, -87.3, -103.9, -104.0, -110.0, 1e30, -1e30], np.float32)
    with np.errstate(over="ignore", under="ignore"):
        want = numpy_f(x)
    got = ours(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))  # -0 stays -0
    ok = ~np.isnan(want)
    assert _ulps(got[ok], want[ok]).max() <= max_ulp


def test_subnormal_exp_results_round_once():
    x = np.linspace(-103.9, -87.4, 20001, dtype=np.float32)
    with np.errstate(under="ignore"):
        exact = np.exp(x.astype(np.float64)).astype(np.float32)
    assert _ulps(rk.exp(x), exact).max() <= 1


@pytest.mark.parametrize("name, ours, numpy_f, max_ulp", FUNCTIONS)
def test_float64_uses_the_c_library(name, ours, numpy_f, max_ulp):
    x = np.random.default_rng(0).standard_normal(1000) * 20
    np.testing.assert_allclose(ours(x), numpy_f(x), rtol=1e-15, atol=0)


def test_backward_flushes_subnormal_gradients_and_keeps_nan():
    """Vanishing gradients become 0 rather than subnormal; a NaN still comes through."""
    rng = np.random.default_rng(0)
    steps, n, u, f = 3, 2, 4, 3
    gates = rng.uniform(0.1, 0.9, (steps, n, 4 * u)).astype(np.float32)
    xs = rng.standard_normal((steps, n, f)).astype(np.float32)
    h_prev, c_prev = (rng.standard_normal((steps, n, u)).astype(np.float32) for _ in range(2))
    tanh_c = np.tanh(rng.standard_normal((steps, n, u))).astype(np.float32)
    kb_t, rk_t = rng.standard_normal((4, u, f)).astype(np.float32), rng.standard_normal((4, u, u)).astype(np.float32)
    dh = np.full((n, u), 1e-36, np.float32)
    dh[1, 2] = np.nan
    dc = np.zeros((n, u), np.float32)
    dz, dxs = np.empty((4, n, u), np.float32), np.empty((steps, n, f), np.float32)
    dkb, drk, db = np.zeros((4, f, u), np.float32), np.zeros((4, u, u), np.float32), np.zeros((4, u), np.float32)
    rk.lstm_backward(gates, xs, h_prev, c_prev, tanh_c, kb_t, rk_t, np.empty((0, n, u), np.float32), dh, dc, dz,
                     dxs, dkb, drk, db)
    tiny = np.finfo(np.float32).tiny
    for a in (dz, dh, dc):
        magnitude = np.abs(a[~np.isnan(a)])
        assert not ((magnitude > 0) & (magnitude < tiny)).any()
    assert np.isnan(dz[:, 1]).any() and not np.isnan(dz[:, 0]).any()
