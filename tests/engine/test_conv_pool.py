"""A Conv2D with a relu followed by a MaxPooling2D, planned as one step, gives the numbers of the two
layers run one after the other."""
import numpy as np
import pytest

from engine import Model, Sequential, activations, conv_kernels, kernels, layers, set_random_seed, threads
from engine.layers import conv_ops as ops
from engine.layers import conv_pool


def _relu_then_pool(z, bias, pool, strides):
    """(y, first, relu(z + bias)) by the bias, relu and max pool kernels of the unfused layers."""
    a = z.copy()
    if bias.size:
        ops.add_bias(a, bias)
    kernels.relu_in_place(a)
    out_hw = tuple((s - k) // st + 1 for s, k, st in zip(a.shape[1:3], pool, strides))
    y, first = kernels.max_pool(a, pool, strides, out_hw)
    return y, first, a


POOLS = [((2, 2), (2, 2)), ((3, 2), (3, 2)), ((2, 2), (3, 3)), ((1, 3), (2, 3))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pool,strides", POOLS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_kernels_give_the_bits_of_the_bias_relu_and_pool_layers(dtype, pool, strides, with_bias):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 8, 7, 5)).astype(dtype)
    z[0, :2, :2] = 0.5  # ties
    z[1, :3, :3] = -1.0  # windows with no positive entry
    z[2, 0, 0, 0], z[2, 0, 1, 1], z[2, 1, 0, 2] = np.nan, -0.0, np.inf
    bias = rng.standard_normal(5).astype(dtype) if with_bias else np.empty(0, dtype)
    want_y, want_first, a = _relu_then_pool(z, bias, pool, strides)
    y, first = np.empty_like(want_y), np.empty_like(want_first)
    conv_kernels.bias_relu_pool(z, bias, *pool, *strides, y, first)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(first, want_first)
    assert not np.signbit(y).any()
    inferred = np.full_like(want_y, 7.0)  # inference: no positions kept
    conv_kernels.bias_relu_pool(z, bias, *pool, *strides, inferred, np.empty((0,) + want_first.shape[1:], np.uint8))
    np.testing.assert_array_equal(inferred, want_y)
    assert not np.signbit(inferred).any()

    dy = rng.standard_normal(y.shape).astype(dtype)
    dy[0, 0, 0, 0] = np.nan
    pooled_grad = np.zeros_like(a)
    kernels.max_pool_grad(dy, want_first, pool, strides, pooled_grad)
    dz = np.full_like(z, 7.0)
    conv_kernels.relu_pool_grad(dy, y, first, *pool, *strides, dz)
    np.testing.assert_array_equal(dz, kernels.relu_grad(pooled_grad, a))

    before = threads.count()
    try:
        for count in (1, 2, 3):  # the batch in parts side by side: the same bits
            threads.set_count(count)
            y_parts, first_parts, inferred = np.empty_like(y), np.empty_like(first), np.empty_like(y)
            conv_kernels.pool(z, bias, *pool, *strides, y_parts, first_parts)
            conv_kernels.pool(z, bias, *pool, *strides, inferred, np.empty((0,) + first.shape[1:], np.uint8))
            dz_parts = np.full_like(z, 7.0)
            conv_kernels.pool_grad(dy, y, first, *pool, *strides, dz_parts)
            for got, want in ((y_parts, y), (first_parts, first), (inferred, y), (dz_parts, dz)):
                np.testing.assert_array_equal(got, want)
    finally:
        threads.set_count(before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("strides,dilation", [((1, 1), (1, 1)), ((2, 1), (1, 2)), ((3, 2), (2, 1))])
def test_the_compiled_window_gather_copies_what_numpys_strided_view_holds(dtype, strides, dilation):
    rng = np.random.default_rng(3)
    xpad = rng.standard_normal((7, 11, 12, 4)).astype(dtype)
    kernel = (3, 2)
    out_hw = tuple(ops.output_length(s, k, st, d, "valid") for s, k, st, d in zip((11, 12), kernel, strides, dilation))
    want = ops.windows(xpad, kernel, strides, dilation, out_hw)[2:6]  # samples 2 to 5
    before = threads.count()
    try:
        for count in (1, 2, 3):
            threads.set_count(count)
            out = np.full(want.shape, np.nan, dtype)
            conv_kernels.gather_windows(xpad, 2, strides, dilation, out)
            np.testing.assert_array_equal(out, want)
    finally:
        threads.set_count(before)


def _model(input_shape, conv, pool, before=()):
    return Sequential([layers.Input(input_shape), *before, conv, pool, layers.Flatten(), layers.Dense(3)])


def _run(model, x, dout):
    """(output, input gradient, weight gradients) of one forward and backward pass."""
    for w in model.trainable_weights:
        w.grad = None
    (out,), _, bp = model.run_graph([x], training=True, need_backprop=True, need_input_grads=True)
    (dx,) = bp([dout])
    return out, dx, [w.grad for w in model.trainable_weights]


def _both_ways(monkeypatch, make, x):
    """``_run`` of the model from ``make()`` planned with the fused step, then without it."""
    results = []
    for fuse in (True, False):
        with monkeypatch.context() as m:
            if not fuse:
                m.setattr(conv_pool, "pairs", lambda first, second: False)
            model = make()
            steps = model._execution_plan()[0]
            assert any(isinstance(s.layer, conv_pool.ConvPool) for s in steps) is fuse
            dout = np.random.default_rng(5).standard_normal((x.shape[0], 3)).astype(x.dtype)
            results.append(_run(model, x, dout) + (model.predict(x, verbose=0),))
    return results


CONVS = [
    dict(filters=6, kernel_size=3),
    dict(filters=4, kernel_size=(2, 3), padding="same", use_bias=False),
    dict(filters=5, kernel_size=3, strides=2),
    dict(filters=3, kernel_size=2, dilation_rate=2, padding="same"),
]


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("pool,strides", POOLS[:3])
@pytest.mark.parametrize("piece", [1 << 18, 100])
def test_fused_step_matches_the_two_layers(monkeypatch, channels, conv, pool, strides, piece):
    monkeypatch.setattr(ops, "_PIECE_ENTRIES", piece)  # 100: one sample per piece
    x = np.random.default_rng(1).standard_normal((5, 13, 12, channels)).astype("float32")

    def make():
        set_random_seed(3)
        before = [layers.Conv2D(channels, 1)]  # so that the fused step's input gradient is needed
        return _model(x.shape[1:], layers.Conv2D(activation="relu", **conv), layers.MaxPooling2D(pool, strides),
                      before)

    (out, dx, grads, pred), (out0, dx0, grads0, pred0) = _both_ways(monkeypatch, make, x)
    np.testing.assert_allclose(out, out0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred, pred0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, dx0, rtol=1e-5, atol=1e-6)
    for g, g0 in zip(grads, grads0):
        np.testing.assert_allclose(g, g0, rtol=1e-5, atol=1e-5)


def test_first_layer_skips_its_input_gradient_and_training_matches(monkeypatch):
    rng = np.random.default_rng(2)
    x, y = rng.random((96, 12, 12, 1), dtype=np.float32), rng.integers(0, 3, 96)
    results = []
    for fuse in (True, False):
        with monkeypatch.context() as m:
            if not fuse:
                m.setattr(conv_pool, "pairs", lambda first, second: False)
            set_random_seed(0)
            model = _model((12, 12, 1), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2))
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
            results.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for w, w0 in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(w, w0, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("change", ["activation", "channels_first_pool", "float64_input", "padded_pool"])
def test_steps_the_fused_path_does_not_cover_run_the_two_layers(monkeypatch, change):
    x = np.random.default_rng(3).standard_normal((2, 9, 9, 2)).astype("float32")
    conv = layers.Conv2D(3, 3, activation="relu")
    pool = layers.MaxPooling2D(2, padding="same" if change == "padded_pool" else "valid")
    model = _model(x.shape[1:], conv, pool)
    if change == "activation":
        conv.activation = activations.get("tanh")
    elif change == "channels_first_pool":
        pool.data_format = "channels_first"
    elif change == "float64_input":
        x = x.astype("float64")
    step = next(s for s in model._execution_plan()[0] if isinstance(s.layer, conv_pool.ConvPool))
    assert step.layer._geometry(x) is None
    out, _ = step.layer.run(x, need_backprop=False)
    want = pool(conv(x))
    np.testing.assert_array_equal(out, want)


def test_conv_output_used_elsewhere_is_not_fused():
    inp = layers.Input((8, 8, 2))
    z = layers.Conv2D(3, 3, activation="relu")(inp)
    p = layers.MaxPooling2D(2)(z)
    both = Model(inp, [p, z])
    assert not any(isinstance(s.layer, conv_pool.ConvPool) for s in both._execution_plan()[0])
    out = layers.Flatten()(layers.MaxPooling2D(2)(z))
    twice = Model(inp, [layers.Flatten()(p), out])
    assert not any(isinstance(s.layer, conv_pool.ConvPool) for s in twice._execution_plan()[0])
    single = Model(inp, layers.Flatten()(p))
    assert any(isinstance(s.layer, conv_pool.ConvPool) for s in single._execution_plan()[0])
