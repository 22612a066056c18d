"""The convolution and pooling fast paths give the numbers of their plain definitions."""
import numpy as np
import pytest

from engine import activations, layers
from engine.layers import conv_ops as ops

GEOMETRIES = [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (1, 1)), ((3, 2), (1, 1), (2, 2))]


def _out_hw(xpad, kernel, strides, dilation):
    return tuple((s - ((k - 1) * d + 1)) // st + 1 for s, k, st, d in zip(xpad.shape[1:3], kernel, strides, dilation))


@pytest.mark.parametrize("piece", [1 << 18, 100])
@pytest.mark.parametrize("channels", [1, 3, 4, 9])
@pytest.mark.parametrize("kernel,strides,dilation", GEOMETRIES)
def test_conv_gemm_is_the_window_matrix_product(monkeypatch, piece, channels, kernel, strides, dilation):
    monkeypatch.setattr(ops, "_PIECE_ENTRIES", piece)  # 100: one sample per piece
    rng = np.random.default_rng(0)
    xpad = rng.standard_normal((3, 7, 8, channels)).astype("float32")
    k = rng.standard_normal(kernel + (channels, 4)).astype("float32")
    out_hw = _out_hw(xpad, kernel, strides, dilation)
    cols = ops.im2col(xpad, kernel, strides, dilation, out_hw)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            np.testing.assert_array_equal(cols[:, :, :, i, j, :], xpad[ops.window_slice(i, j, strides, out_hw, dilation)])
    p, kk = 3 * out_hw[0] * out_hw[1], kernel[0] * kernel[1] * channels
    y, a = ops.conv_gemm(xpad, k, strides, dilation, out_hw)
    np.testing.assert_array_equal(a, cols.reshape(p, kk))
    np.testing.assert_allclose(y, a @ k.reshape(-1, 4), rtol=1e-6, atol=1e-6)
    b = np.arange(4, dtype="float32")
    yb, ab = ops.conv_gemm(xpad, k, strides, dilation, out_hw, bias=b)
    ones = np.ones((p, 1 if channels <= 3 else 0), "float32")  # few channels: the bias rides in the product
    np.testing.assert_array_equal(ab, np.concatenate([cols.reshape(p, kk), ones], axis=1))
    np.testing.assert_allclose(yb, y + b, rtol=1e-6, atol=1e-6)
    for bias, ref in ((None, y), (b, yb)):
        y_only, none = ops.conv_gemm(xpad, k, strides, dilation, out_hw, bias=bias, keep=False)
        assert none is None
        np.testing.assert_array_equal(y_only, ref)


@pytest.mark.parametrize("channels", [2, 6])
@pytest.mark.parametrize("kernel,strides,dilation", GEOMETRIES)
def test_conv_and_its_gradients_match_the_window_sums(channels, kernel, strides, dilation):
    rng = np.random.default_rng(1)
    xpad = rng.standard_normal((2, 7, 8, channels))
    k = rng.standard_normal(kernel + (channels, 5))
    out_hw = _out_hw(xpad, kernel, strides, dilation)
    cols = ops.im2col(xpad, kernel, strides, dilation, out_hw)
    y, bp = ops.conv(xpad, k, strides, dilation)
    np.testing.assert_allclose(y, np.einsum("nyxijc,ijcf->nyxf", cols, k), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, dk, db = bp(dy)
    assert db is None
    np.testing.assert_allclose(dk, np.einsum("nyxijc,nyxf->ijcf", cols, dy), rtol=1e-12, atol=1e-12)
    dcols = np.einsum("nyxf,ijcf->nyxijc", dy, k)
    np.testing.assert_allclose(dx, ops.col2im(dcols, xpad.shape, strides, dilation), rtol=1e-12, atol=1e-12)
    assert bp(dy, need_dx=False)[0] is None
    y_only, none = ops.conv(xpad, k, strides, dilation, need_backprop=False)
    assert none is None
    np.testing.assert_array_equal(y_only, y)


def _conv_pair(activation, use_bias=True):
    """A Conv2D with ``activation`` and the same Conv2D without one, sharing weights."""
    x = np.random.default_rng(2).standard_normal((3, 9, 8, 5)).astype("float32")
    fused = layers.Conv2D(6, 3, activation=activation, use_bias=use_bias)
    plain = layers.Conv2D(6, 3, use_bias=use_bias)
    fused.build(x.shape)
    plain.build(x.shape)
    if use_bias:
        fused.bias.assign(np.linspace(-1, 1, 6).astype("float32"))
    plain.set_weights(fused.get_weights())
    return x, fused, plain


@pytest.mark.parametrize("use_bias", [True, False])
def test_relu_conv_gives_the_bits_of_the_relu_activation(use_bias):
    x, fused, plain = _conv_pair("relu", use_bias)
    y, bp = fused.forward(x)
    z, plain_bp = plain.forward(x)
    ref, relu_bp = activations.get("relu").forward(z)
    np.testing.assert_array_equal(y.view("int32"), ref.view("int32"))
    dy = np.random.default_rng(3).standard_normal(y.shape).astype("float32")
    dx = bp(dy)
    dx_ref = plain_bp(relu_bp(dy))
    np.testing.assert_array_equal(dx, dx_ref)
    for w_fused, w_plain in zip(fused.weights, plain.weights):
        np.testing.assert_array_equal(w_fused.grad, w_plain.grad)


@pytest.mark.parametrize("dtype", ["float32", "float16"])  # the compiled pass, and NumPy's in place
def test_in_place_relu_keeps_nan_and_signed_zero_rules(dtype):
    z = np.array([[np.nan, -0.0, 0.0, -1.5, 2.5, np.inf, -np.inf, 1e-45]], dtype=dtype)
    relu = activations.get("relu")
    ref, ref_bp = relu.forward(z.copy())
    given = z.copy()
    y, bp = relu.forward_owned(given)
    assert y is given
    bits = "int32" if dtype == "float32" else "int16"
    np.testing.assert_array_equal(y.view(bits), ref.view(bits))
    dy = np.arange(1, 9, dtype=dtype)[None]
    np.testing.assert_array_equal(bp(dy), ref_bp(dy))


def test_bias_add_and_channel_sums():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((3, 7, 5, 6)).astype("float32")
    b = rng.standard_normal(6).astype("float32")
    out = z.copy()
    ops.add_bias(out, b)
    np.testing.assert_array_equal(out, z + b)
    np.testing.assert_allclose(ops.channel_sums(z), z.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels,groups", [(2, 1), (6, 1), (6, 2)])  # bias in the product, after it, grouped
def test_conv_bias_is_added_and_differentiated(channels, groups):
    rng = np.random.default_rng(10)
    xpad = rng.standard_normal((2, 6, 7, channels))
    k = rng.standard_normal((3, 2, channels // groups, 4))
    b = rng.standard_normal(4)
    y0, bp0 = ops.conv(xpad, k, (1, 1), (1, 1), groups)
    y, bp = ops.conv(xpad, k, (1, 1), (1, 1), groups, bias=b)
    np.testing.assert_allclose(y, y0 + b, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    (dx0, dk0, _), (dx, dk, db) = bp0(dy), bp(dy)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, dk0, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dx, dx0)


def _first_max_pool_reference(x, size, strides):
    """Max pool (valid, channels last) and its gradient routed to each window's first maximum (row-major)."""
    n, h, w, c = x.shape
    oh, ow = (h - size[0]) // strides[0] + 1, (w - size[1]) // strides[1] + 1
    y = np.empty((n, oh, ow, c), x.dtype)
    first = np.empty((n, oh, ow, c, 2), int)
    for r in range(oh):
        for q in range(ow):
            win = x[:, r * strides[0]:r * strides[0] + size[0], q * strides[1]:q * strides[1] + size[1]]
            flat = win.reshape(n, -1, c)
            k = flat.argmax(axis=1)
            y[:, r, q] = flat.max(axis=1)
            first[:, r, q, :, 0] = r * strides[0] + k // size[1]
            first[:, r, q, :, 1] = q * strides[1] + k % size[1]

    def grad(d):
        dx = np.zeros_like(x)
        for b in range(n):
            for r in range(oh):
                for q in range(ow):
                    for ch in range(c):
                        i, j = first[b, r, q, ch]
                        dx[b, i, j, ch] += d[b, r, q, ch]
        return dx

    return y, grad


@pytest.mark.parametrize("size,strides,shape", [((2, 2), (2, 2), (2, 6, 8, 3)), ((2, 2), (2, 2), (2, 7, 5, 3)),
                                                ((3, 2), (3, 2), (1, 9, 6, 2)), ((2, 2), (3, 3), (2, 8, 8, 2)),
                                                ((3, 3), (2, 2), (2, 7, 7, 2))])
def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window(size, strides, shape):
    # Few distinct values and zeros (as after a relu) make ties in most windows.
    x = np.maximum(np.random.default_rng(5).integers(-2, 3, shape), 0).astype("float32")
    layer = layers.MaxPooling2D(size, strides=strides)
    y, bp = layer.forward(x)
    ref_y, ref_grad = _first_max_pool_reference(x, size, strides)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(layer(x), ref_y)
    d = np.random.default_rng(6).standard_normal(y.shape).astype("float32")
    np.testing.assert_array_equal(bp(d), ref_grad(d))


def test_max_pool_channels_first_and_1d_use_the_same_routing():
    x = np.maximum(np.random.default_rng(7).integers(-2, 3, (2, 6, 6, 3)), 0).astype("float32")
    d = np.random.default_rng(8).standard_normal((2, 3, 3, 3)).astype("float32")
    ref_y, ref_grad = _first_max_pool_reference(x, (2, 2), (2, 2))
    y, bp = layers.MaxPooling2D(2, data_format="channels_first").forward(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y, ref_y.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(bp(d.transpose(0, 3, 1, 2)), ref_grad(d).transpose(0, 3, 1, 2))
    y1, bp1 = layers.MaxPooling1D(2).forward(x[:, 0])
    ref1_y, ref1_grad = _first_max_pool_reference(x[:, :1], (1, 2), (1, 2))
    np.testing.assert_array_equal(y1, ref1_y[:, 0])
    np.testing.assert_array_equal(bp1(d[:, 0]), ref1_grad(d[:, :1])[:, 0])


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Conv2D(4, 3, activation="relu"), (2, 7, 6, 3)),
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh"), (2, 7, 6, 5)),
    (lambda: layers.Conv2D(4, 2, groups=2, data_format="channels_first"), (2, 4, 5, 6)),
    (lambda: layers.Conv1D(3, 3, padding="causal", activation="relu"), (2, 9, 4)),
    (lambda: layers.Conv2DTranspose(3, 3, strides=2, activation="relu"), (2, 4, 5, 2)),
    (lambda: layers.DepthwiseConv2D(2, depth_multiplier=2), (2, 5, 5, 3)),
    (lambda: layers.SeparableConv2D(3, 2, activation="relu"), (2, 5, 5, 3)),
])
def test_inference_call_gives_the_forward_output(make, shape):
    layer = make()
    x = np.random.default_rng(9).standard_normal(shape).astype("float32")
    layer.build(x.shape)
    np.testing.assert_array_equal(layer(x), layer.forward(x)[0])
