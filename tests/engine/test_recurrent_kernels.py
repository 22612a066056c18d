"""The LSTM loop's compiled exp / sigmoid / tanh against NumPy (ulp, special values) and its
backward pass's flushing of subnormal gradients."""
import numpy as np
import pytest

from engine import recurrent_kernels as rk


def _numpy_sigmoid(x):
    """The layers' sigmoid (engine.activations)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# Where the exact values are computed: float64's in x86's 80-bit long double; on a CPU whose long
# double is float64 itself the "exact" values are NumPy's, and the tests compare with those.
_WIDER = {np.float32: np.float64, np.float64: np.longdouble}
_EXACT_FLOAT64 = np.finfo(np.longdouble).nmant >= 63
_BITS = {np.float32: (np.int32, 0x7FFFFFFF), np.float64: (np.int64, 0x7FFFFFFFFFFFFFFF)}


def _ulps(a, b, dtype):
    """|a - b| in ulps of ``dtype``, counted across zero (-0 and +0 are 0)."""
    int_type, magnitude = _BITS[dtype]

    def ordered(v):
        i = v.astype(dtype).view(int_type).astype(np.int64)
        return np.where(i < 0, -(i & magnitude), i)
    return np.abs(ordered(a) - ordered(b))


def _many(dtype):
    """float32: every 251st bit pattern; float64: random bit patterns and values where the functions
    bend; all exponents, both signs, finite ones only."""
    if dtype == np.float32:
        x = np.arange(0, 2 ** 32, 251, dtype=np.uint64).astype(np.uint32).view(np.float32)
        return x[np.isfinite(x)]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2 ** 64, 400_000, dtype=np.uint64).view(np.float64)
    return np.concatenate([x[np.isfinite(x)], rng.standard_normal(200_000) * 10, rng.uniform(-750, 720, 200_000)])


SPECIAL = {
    np.float32: [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-30, -1e-30, 0.625, -0.625, 9.0, -9.0,
                 10.0, -10.0, 88.72, 88.73, -87.3, -103.9, -104.0, -110.0, 1e30, -1e30],
    np.float64: [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 0.625, -0.625, 19.0,
                 -19.1, 22.0, -22.0, 709.78, 709.79, -708.4, -745.1, -745.2, -746.0, -800.0, 1e300, -1e300],
}
FUNCTIONS = [("exp", rk.exp, np.exp), ("sigmoid", rk.sigmoid, _numpy_sigmoid), ("tanh", rk.tanh, np.tanh)]
MAX_ULP = {(np.float32, "exp"): 3, (np.float32, "sigmoid"): 4, (np.float32, "tanh"): 3,
           (np.float64, "exp"): 2, (np.float64, "sigmoid"): 3, (np.float64, "tanh"): 4}
CASES = [pytest.param(dtype, *f, id=f"{dtype.__name__}-{f[0]}") for dtype in (np.float32, np.float64) for f in FUNCTIONS]


@pytest.mark.parametrize("dtype, name, ours, numpy_f", CASES)
def test_functions_are_within_a_few_ulp_of_numpy_and_of_the_exact_value(dtype, name, ours, numpy_f):
    x, max_ulp = _many(dtype), MAX_ULP[dtype, name]
    with np.errstate(all="ignore"):
        want = numpy_f(x)
        exact = numpy_f(x.astype(_WIDER[dtype])).astype(dtype)
    got = ours(x)
    assert got.dtype == dtype
    finite = np.isfinite(want)
    assert _ulps(got[finite], want[finite], dtype).max() <= max_ulp
    assert _ulps(got[finite], exact[finite], dtype).max() <= max_ulp
    np.testing.assert_array_equal(got[~finite], want[~finite])  # exp's overflow to inf


@pytest.mark.parametrize("dtype, name, ours, numpy_f", CASES)
def test_special_values_as_numpy(dtype, name, ours, numpy_f):
    x = np.array(SPECIAL[dtype], dtype)
    with np.errstate(over="ignore", under="ignore"):
        want = numpy_f(x)
    got = ours(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))  # -0 stays -0
    assert _ulps(got[ok], want[ok], dtype).max() <= MAX_ULP[dtype, name]


@pytest.mark.parametrize("dtype, low, high", [(np.float32, -103.9, -87.4), (np.float64, -745.1, -708.0)])
def test_subnormal_exp_results_round_once(dtype, low, high):
    x = np.linspace(low, high, 20001, dtype=dtype)
    with np.errstate(under="ignore"):
        exact = np.exp(x.astype(_WIDER[dtype])).astype(dtype)
    # Against NumPy's own float64 exp (no wider type), NumPy's rounding adds up to one more ulp.
    assert _ulps(rk.exp(x), exact, dtype).max() <= (1 if dtype == np.float32 or _EXACT_FLOAT64 else 2)


def test_backward_flushes_subnormal_gradients_and_keeps_nan():
    """Vanishing gradients become 0 rather than subnormal; a NaN still comes through."""
    rng = np.random.default_rng(0)
    steps, n, u, f = 3, 2, 4, 3
    gates = rng.uniform(0.1, 0.9, (steps, 4, n, u)).astype(np.float32)
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
