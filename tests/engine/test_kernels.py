"""The compiled element-wise kernels give the bits of the NumPy expressions they replace."""
import numpy as np
import pytest

from engine import kernels, layers, optimizers
from engine.variables import Variable


def numpy_adam(w, g, m, v, b1, b2, alpha, eps):
    """Adam's update as the optimizer writes it for CuPy arrays and other layouts."""
    m += (g - m) * b1
    v += (np.square(g) - v) * b2
    update = m * alpha
    den = np.sqrt(v)
    den += eps
    np.divide(update, den, out=update)
    np.subtract(w, update, out=w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_matches_numpy_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    n = 10_007
    w = rng.normal(size=n).astype(dtype)
    m = np.zeros(n, dtype)
    v = np.zeros(n, dtype)
    ref = [a.copy() for a in (w, m, v)]
    scalars = [dtype(s) for s in (1 - 0.9, 1 - 0.999, 1e-3, 1e-7)]
    for step in range(20):
        g = (rng.normal(size=n) * 10.0 ** rng.integers(-8, 3, n)).astype(dtype)
        g[:5] = 0
        kernels.adam_update(w, g, m, v, *scalars)
        numpy_adam(ref[0], g, ref[1], ref[2], *scalars)
    for got, want in zip((w, m, v), ref):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_flushes_subnormal_moments_to_zero_and_leaves_numpy_with_ieee_subnormals(dtype):
    tiny = np.finfo(dtype).tiny
    g = np.array([1e-3, tiny ** 0.5 * 1e-2, 0.0, -tiny ** 0.5 * 1e-3], dtype)  # squares below tiny
    w, m = np.full(4, 0.5, dtype), np.zeros(4, dtype)
    v = np.array([1e-8, tiny / 4, tiny / 8, 0.0], dtype)  # two subnormal second moments
    ref = [a.copy() for a in (w, m, v)]
    scalars = [dtype(s) for s in (1 - 0.9, 1 - 0.999, 1e-3, 1e-7)]
    kernels.adam_update(w, g, m, v, *scalars)
    numpy_adam(ref[0], g, ref[1], ref[2], *scalars)
    assert np.count_nonzero((ref[2] > 0) & (ref[2] < tiny)) >= 2  # IEEE: subnormal moments
    assert not np.any((v > 0) & (v < tiny)) and list(v[1:]) == [0, 0, 0]
    assert v[0] == ref[2][0] and m[0] == ref[1][0]  # normal entries: the same bits
    np.testing.assert_array_equal(w, ref[0])  # a subnormal moment never moved a weight anyway
    assert dtype(tiny) * dtype(0.25) > 0  # the caller's floating-point state came back


def test_adam_on_non_contiguous_gradients_takes_the_numpy_path_with_the_same_result():
    rng = np.random.default_rng(4)
    start = rng.normal(size=(64, 32)).astype(np.float32)
    grads = [rng.normal(size=(32, 64)).astype(np.float32) for _ in range(3)]
    results = []
    for transpose in (False, True):
        var = Variable(start.copy(), name="kernel")
        opt = optimizers.Adam(learning_rate=0.01)
        for g in grads:
            var.grad = g.T if transpose else np.ascontiguousarray(g.T)
            assert kernels.fusable(var.value, var.grad) is not transpose
            opt.apply([var])
        results.append(var.value)
    np.testing.assert_array_equal(results[0], results[1])


def _pool_both_ways(layer, x, monkeypatch):
    """(y, dx) of ``layer`` on ``x`` by the compiled kernels, then by the NumPy windows."""
    dy = np.random.default_rng(9).normal(size=layer.compute_output_shape(x.shape)).astype(x.dtype)
    results = []
    for compiled in (True, False):
        with monkeypatch.context() as m:
            if not compiled:
                m.setattr(kernels, "fusable", lambda *arrays: False)
            y, backprop = layer.forward(x)
            results.append((y, backprop(dy)))
    return results


@pytest.mark.parametrize("pool_size,strides,padding,shape", [
    ((2, 2), None, "valid", (3, 9, 8, 5)),   # an odd row left out of every window
    ((3, 2), (3, 3), "same", (2, 7, 7, 3)),   # -inf padding, windows apart
    ((1, 1), None, "valid", (2, 3, 3, 2)),
])
def test_compiled_max_pool_matches_the_numpy_windows(pool_size, strides, padding, shape, monkeypatch):
    from engine import layers
    x = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    x[0, :2, :2, 0] = 1.5          # a tie: the first maximum takes the gradient
    x[-1, 0, 0, -1] = np.nan       # a NaN window passes NaN on and no gradient
    layer = layers.MaxPooling2D(pool_size, strides=strides, padding=padding)
    (y, dx), (y_ref, dx_ref) = _pool_both_ways(layer, x, monkeypatch)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    assert np.isnan(y[-1, 0, 0, -1]) and dx[-1, 0, 0, -1] == 0


def test_compiled_max_pool_1d_and_channels_first_match_the_numpy_windows(monkeypatch):
    from engine import layers
    x = np.random.default_rng(6).normal(size=(4, 11, 3)).astype(np.float32)
    for layer, inputs in ((layers.MaxPooling1D(2), x),
                          (layers.MaxPooling2D(2, data_format="channels_first", padding="same"),
                           x.reshape(4, 3, 11, 1).repeat(2, axis=3))):
        (y, dx), (y_ref, dx_ref) = _pool_both_ways(layer, inputs, monkeypatch)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(dx, dx_ref)


def test_relu_kernels_match_numpy_bit_for_bit():
    z = np.array([[-1.0, -0.0, 0.0, 2.5, np.nan, np.inf, -np.inf, 1e-45]], np.float32)
    want = np.fmax(z, 0) + 0
    dy = np.array([[np.inf, -3.0, np.nan, 4.0, 1.0, -2.0, 5.0, 7.0]], np.float32)
    got = z.copy()
    kernels.relu_in_place(got)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got).any()
    with np.errstate(invalid="ignore"):  # inf * 0
        want_grad = dy * (got > 0)
    np.testing.assert_array_equal(kernels.relu_grad(dy, got), want_grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_relu_adds_its_bias_in_the_relu_pass_with_numpys_bits(dtype):
    """Dense(relu) adds the bias inside the relu's pass: the same values as NumPy's ``z + b`` then
    relu, including NaN, infinities and -0 (which become +0)."""
    z = np.array([[-1.0, -0.0, 0.0, 2.5, np.nan, np.inf, -np.inf, 1e-45],
                  [3.0, 0.5, -0.0, -2.5, 1.0, -np.inf, np.inf, -1e-45]], dtype)
    bias = np.array([1.0, 0.0, -0.0, -2.5, 1.0, np.inf, np.inf, 0.0], dtype)
    with np.errstate(invalid="ignore"):  # inf + -inf
        want = np.fmax(z + bias, 0) + 0
    got = z.copy()
    kernels.bias_relu_in_place(got, bias)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got).any()
    x = np.array([[-1.0, -0.0, 0.0, 2.5, 1e-45, 3.0, -2.0, 0.5]], dtype)  # finite: the product mixes entries
    bias = np.array([1.0, 0.0, -0.0, -2.5, 0.0, -3.0, 1.0, -0.25], dtype)
    dense = layers.Dense(8, activation="relu", dtype=np.dtype(dtype).name)
    dense(x)
    dense.kernel.assign(np.eye(8, dtype=dtype))
    dense.bias.assign(bias)
    want = np.fmax(x @ np.eye(8, dtype=dtype) + bias, 0) + 0
    for got in (dense.call(x), dense.forward(x)[0]):
        np.testing.assert_array_equal(got, want)
        assert not np.signbit(got).any()


@pytest.mark.parametrize("strides,dilation", [((1, 1), (1, 1)), ((2, 1), (1, 1)), ((1, 1), (2, 3))])
def test_compiled_col2im_matches_the_strided_adds(strides, dilation):
    from engine.layers import conv_ops as ops
    rng = np.random.default_rng(7)
    n, oh, ow, kh, kw, c = 2, 4, 5, 3, 2, 3
    padded = (n, (oh - 1) * strides[0] + (kh - 1) * dilation[0] + 1,
              (ow - 1) * strides[1] + (kw - 1) * dilation[1] + 1, c)
    dcols = rng.normal(size=(n, oh, ow, kh, kw, c)).astype(np.float32)
    strided = np.asfortranarray(dcols)            # not C-contiguous: the NumPy loop
    assert not kernels.fusable(strided)
    np.testing.assert_array_equal(ops.col2im(dcols, padded, strides, dilation),
                                  ops.col2im(strided, padded, strides, dilation))


def test_half_precision_and_cupy_like_arrays_keep_the_numpy_expressions():
    assert not kernels.fusable(np.zeros(4, np.float16))
    assert not kernels.fusable(np.zeros(4, np.float32), np.zeros(4, np.float64))
    assert not kernels.fusable(np.zeros((4, 4), np.float32)[:, ::2])
    z = np.array([-1.0, 2.0], np.float16)
    from engine import activations
    y, backprop = activations.get("relu").forward_owned(z)
    np.testing.assert_array_equal(y, np.array([0.0, 2.0], np.float16))
    np.testing.assert_array_equal(backprop(np.ones(2, np.float16)), [0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 5, 7, 8, 10, 17, 128, 129, 300, 1001])
def test_softmax_kernel_matches_numpy_bit_for_bit(dtype, width):
    rng = np.random.default_rng(width)
    z = (rng.normal(size=(3, 11, width)) * 40).astype(dtype)
    expected = z - z.max(axis=-1, keepdims=True)
    np.exp(expected, out=expected)
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_array_equal(kernels.softmax_last_axis_in_place(z), expected)


def test_softmax_kernel_keeps_numpy_nan_and_inf_results():
    z = np.array([[1, np.nan, 3], [np.inf, 1, 2], [-np.inf, -np.inf, 0], [np.nan, 1, np.inf]], np.float32)
    with np.errstate(all="ignore"):
        expected = z - z.max(axis=-1, keepdims=True)
        np.exp(expected, out=expected)
        expected /= expected.sum(axis=-1, keepdims=True)
        got = kernels.softmax_last_axis_in_place(z.copy())
    np.testing.assert_array_equal(got, expected)
