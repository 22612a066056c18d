"""Finite-difference checks (float64) of every layer's backprop: inputs, weights, masks,
recurrent states (initial_state gradients) and training-time noise with fixed draws."""
import numpy as np
import pytest

from engine import Input, Model, layers
from tests.engine.gradcheck import numeric_grad

F64 = "float64"


def _reset_rngs(layer):
    for obj in (layer, getattr(layer, "layer", None), getattr(layer, "forward_layer", None),
                getattr(layer, "backward_layer", None)):
        if obj is not None and hasattr(obj, "_rng"):
            obj._rng = np.random.default_rng(7)


def fd_check(layer, inputs, mask=None, training=False, rtol=1e-5, atol=1e-7):
    """Backprop of ``layer`` (float64 weights) vs central differences, for float inputs and trainable weights."""
    multi = isinstance(inputs, list)
    xs = inputs if multi else [inputs]
    layer.maybe_build([x.shape for x in xs] if multi else xs[0].shape)

    def run():
        _reset_rngs(layer)
        return layer.forward(xs if multi else xs[0], training=training, mask=mask)

    out, _ = run()
    outs = out if isinstance(out, (list, tuple)) else [out]
    rng = np.random.default_rng(0)
    cots = [rng.standard_normal(o.shape) for o in outs]

    def objective():
        o, _ = run()
        o = o if isinstance(o, (list, tuple)) else [o]
        return float(sum(np.sum(a * c) for a, c in zip(o, cots)))

    for w in layer.weights:
        w.grad = None
    o, bp = run()
    d_in = bp(cots if isinstance(o, (list, tuple)) else cots[0])
    d_in = d_in if multi else [d_in]
    analytic = [None if w.grad is None else np.array(w.grad) for w in layer.trainable_weights]
    checked = 0
    for i, (x, g) in enumerate(zip(xs, d_in)):
        if x.dtype.kind != "f":
            assert g is None
            continue
        np.testing.assert_allclose(g, numeric_grad(objective, x), rtol=rtol, atol=atol, err_msg=f"input {i}")
        checked += 1
    for w, g in zip(layer.trainable_weights, analytic):
        num = numeric_grad(objective, w.value)
        np.testing.assert_allclose(np.zeros_like(num) if g is None else g, num, rtol=rtol, atol=atol,
                                   err_msg=f"weight {w.path}")
        checked += 1
    assert checked, "nothing was checked"
    return out


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def seq_mask(n=2, t=5):
    m = np.ones((n, t), dtype=bool)
    m[0, -2:] = False
    m[1, 1] = False
    return m


CONV_CASES = [
    (lambda: layers.Conv2D(3, 3, padding="same", strides=2, activation="tanh", dtype=F64), (2, 5, 6, 2)),
    (lambda: layers.Conv2D(4, 2, dilation_rate=2, groups=2, dtype=F64), (2, 5, 5, 4)),
    (lambda: layers.Conv2D(2, (2, 3), data_format="channels_first", dtype=F64), (2, 3, 4, 5)),
    (lambda: layers.Conv1D(3, 3, padding="causal", dtype=F64), (2, 6, 2)),
    (lambda: layers.Conv1D(2, 2, strides=2, padding="same", dtype=F64), (2, 7, 3)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", dtype=F64), (2, 3, 3, 2)),
    (lambda: layers.Conv2DTranspose(2, 2, strides=2, output_padding=1, dtype=F64), (1, 3, 2, 2)),
    (lambda: layers.Conv1DTranspose(2, 3, strides=2, dtype=F64), (2, 4, 2)),
    (lambda: layers.SeparableConv2D(3, 2, depth_multiplier=2, padding="same", dtype=F64), (2, 4, 4, 2)),
    (lambda: layers.SeparableConv1D(2, 3, dtype=F64), (2, 6, 2)),
    (lambda: layers.DepthwiseConv2D(2, depth_multiplier=2, strides=2, dtype=F64), (2, 5, 5, 2)),
    (lambda: layers.DepthwiseConv1D(3, padding="same", dtype=F64), (2, 5, 3)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same", dtype=F64), (2, 5, 6, 2)),
    (lambda: layers.MaxPooling1D(2, dtype=F64), (2, 7, 2)),
    (lambda: layers.AveragePooling2D(2, strides=1, padding="same", dtype=F64), (2, 3, 4, 2)),
    (lambda: layers.AveragePooling1D(3, strides=2, padding="same", dtype=F64), (2, 7, 2)),
    (lambda: layers.GlobalMaxPooling2D(dtype=F64), (2, 3, 3, 2)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True, data_format="channels_first", dtype=F64), (2, 2, 3, 3)),
    (lambda: layers.GlobalMaxPooling1D(keepdims=True, dtype=F64), (2, 4, 3)),
    (lambda: layers.ZeroPadding2D(((1, 0), (2, 1)), dtype=F64), (2, 3, 2, 2)),
    (lambda: layers.ZeroPadding1D(2, dtype=F64), (2, 3, 2)),
    (lambda: layers.Cropping2D(((1, 0), (0, 1)), dtype=F64), (2, 3, 3, 2)),
    (lambda: layers.Cropping1D((1, 1), dtype=F64), (2, 5, 2)),
    (lambda: layers.UpSampling2D((2, 1), dtype=F64), (2, 2, 3, 2)),
    (lambda: layers.UpSampling1D(2, dtype=F64), (2, 3, 2)),
    (lambda: layers.UpSampling2D((3, 2), interpolation="bilinear", dtype=F64), (2, 3, 2, 2)),
    (lambda: layers.LayerNormalization(dtype=F64), (3, 5)),
    (lambda: layers.LayerNormalization(axis=[1, 2], center=False, dtype=F64), (2, 3, 2)),
    (lambda: layers.LayerNormalization(rms_scaling=True, dtype=F64), (3, 4)),
    (lambda: layers.BatchNormalization(dtype=F64), (4, 3)),
    (lambda: layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.3, dtype=F64), (3, 5)),
    (lambda: layers.LeakyReLU(dtype=F64), (3, 5)),
    (lambda: layers.ELU(alpha=0.5, dtype=F64), (3, 5)),
    (lambda: layers.PReLU(alpha_initializer="random_normal", shared_axes=[1], dtype=F64), (2, 3, 4)),
    (lambda: layers.Softmax(axis=1, dtype=F64), (2, 4, 3)),
    (lambda: layers.TimeDistributed(layers.Dense(3, activation="tanh", dtype=F64)), (2, 3, 4)),
]


@pytest.mark.parametrize("i", range(len(CONV_CASES)))
def test_layer_gradients_at_inference(i):
    make, shape = CONV_CASES[i]
    x = rnd(*shape, seed=i)
    fd_check(make(), x)


@pytest.mark.parametrize("layer", [
    lambda: layers.BatchNormalization(momentum=0.5, dtype=F64),
    lambda: layers.BatchNormalization(axis=1, scale=False, dtype=F64),
    lambda: layers.GaussianDropout(0.3, dtype=F64),
    lambda: layers.AlphaDropout(0.3, dtype=F64),
    lambda: layers.GaussianNoise(0.5, dtype=F64),
    lambda: layers.SpatialDropout1D(0.5, dtype=F64),
])
def test_layer_gradients_in_training(layer):
    fd_check(layer(), rnd(4, 3, 2, seed=3), training=True)


def test_spatial_dropout2d_training_gradients():
    fd_check(layers.SpatialDropout2D(0.5, dtype=F64), rnd(3, 2, 3, 4, seed=4), training=True)


def test_masking_gradients_and_mask():
    layer = layers.Masking(dtype=F64)
    fd_check(layer, rnd(2, 5, 3))
    x = rnd(2, 5, 3)
    x[0, 3:] = 0.0
    np.testing.assert_array_equal(layer.compute_mask(x), [[True] * 3 + [False] * 2, [True] * 5])
    y, bp = layer.forward(x)
    np.testing.assert_array_equal(y, x)
    dx = bp(np.ones_like(x))
    assert not dx[0, 3:].any() and dx[1].all()


def test_batchnorm_masked_training_gradients():
    fd_check(layers.BatchNormalization(dtype=F64), rnd(2, 5, 3), mask=seq_mask(), training=True)


def test_global_average_pooling_masked_gradients_and_value():
    x, m = rnd(2, 5, 3), seq_mask()
    y = fd_check(layers.GlobalAveragePooling1D(dtype=F64), x, mask=m)
    np.testing.assert_allclose(y[0], x[0, :3].mean(axis=0))


def test_softmax_masked_gradients():
    m = np.array([[True, True, False, True], [False, True, True, True]])
    y = fd_check(layers.Softmax(dtype=F64), rnd(2, 4), mask=m)
    assert y[0, 2] == 0 and y[1, 0] == 0
    np.testing.assert_allclose(y.sum(axis=1), 1.0)


def test_embedding_gradient_is_scatter_add_of_repeated_rows():
    emb = layers.Embedding(6, 3, dtype=F64)
    idx = np.array([[1, 2, 1, 0], [5, 1, 0, 0]])
    fd_check(emb, idx)
    emb.embeddings.grad = None
    _, bp = emb.forward(idx)
    assert bp(np.ones((2, 4, 3))) is None
    np.testing.assert_allclose(emb.embeddings.grad[:, 0], [3, 3, 1, 0, 0, 1])


RNN_KW = dict(dtype=F64)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU", "GRU_before"])
@pytest.mark.parametrize("opts", [
    dict(),
    dict(return_sequences=True, go_backwards=True),
    dict(return_state=True, masked=True),
    dict(return_sequences=True, masked=True, zero_output_for_mask=True),
    dict(return_sequences=True, go_backwards=True, masked=True, initial_state=True),
    dict(return_state=True, initial_state=True),
    dict(return_sequences=True, dropout=0.3, recurrent_dropout=0.4, training=True),
    dict(dropout=0.3, training=True),
])
def test_recurrent_gradients(cls, opts):
    opts = dict(opts)
    masked = opts.pop("masked", False)
    with_state = opts.pop("initial_state", False)
    training = opts.pop("training", False)
    kwargs = dict(RNN_KW, **opts)
    if cls == "GRU_before":
        layer = layers.GRU(3, reset_after=False, **kwargs)
    else:
        layer = getattr(layers, cls)(3, **kwargs)
    x = rnd(2, 5, 2, seed=1)
    inputs = x
    if with_state:
        n_states = 2 if cls == "LSTM" else 1
        inputs = [x] + [rnd(2, 3, seed=10 + k) for k in range(n_states)]
    fd_check(layer, inputs, mask=seq_mask() if masked else None, training=training)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_gradients(merge_mode):
    layer = layers.Bidirectional(layers.LSTM(2, return_sequences=True, dtype=F64), merge_mode=merge_mode)
    fd_check(layer, rnd(2, 4, 3), mask=seq_mask(2, 4))


def test_bidirectional_states_and_backward_layer_gradients():
    layer = layers.Bidirectional(layers.GRU(2, return_state=True, dtype=F64),
                                 backward_layer=layers.GRU(2, return_state=True, go_backwards=True, dtype=F64))
    fd_check(layer, [rnd(2, 4, 3), rnd(2, 2, seed=1), rnd(2, 2, seed=2)])


def test_time_distributed_model_gradients():
    inner_in = Input((3, 3, 2))
    h = layers.Conv2D(2, 2, activation="tanh", dtype=F64)(inner_in)
    inner = Model(inner_in, layers.Dense(2, dtype=F64)(layers.Flatten()(h)))
    fd_check(layers.TimeDistributed(inner), rnd(2, 3, 3, 3, 2))


def test_masking_through_a_model_reaches_the_recurrent_layer():
    inp = Input((None, 2))
    out = layers.LSTM(3)(layers.Masking()(inp))
    model = Model(inp, out)
    x = rnd(2, 5, 2)
    x[0, 3:] = 0.0
    y_full = model.predict(x)
    y_cut = model.predict(x[:, :3])
    np.testing.assert_allclose(y_full[0], y_cut[0], rtol=1e-6)
    assert not np.allclose(y_full[1], y_cut[1])


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv2D(3, 3, padding="same", groups=1, dtype=F64), (2, 5, 5, 2)),
    (lambda: layers.Conv2D(4, 2, groups=2, dtype=F64), (2, 4, 4, 2)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, dtype=F64), (2, 3, 3, 2)),
    (lambda: layers.SeparableConv1D(2, 3, dtype=F64), (2, 6, 2)),
    (lambda: layers.DepthwiseConv2D(2, dtype=F64), (2, 4, 4, 2)),
    (lambda: layers.LSTM(3, return_sequences=True, dtype=F64), (2, 4, 3)),
    (lambda: layers.GRU(3, recurrent_dropout=0.3, dropout=0.2, dtype=F64), (2, 4, 3)),
    (lambda: layers.TimeDistributed(layers.Conv1D(2, 2, dtype=F64)), (2, 3, 4, 2)),
])
def test_skipping_the_input_gradient_keeps_the_weight_gradients(make, shape):
    """Layers fed by a model's inputs skip d_inputs in training; weight gradients stay the same."""
    layer = make()
    x = rnd(*shape)
    layer.maybe_build(x.shape)
    grads = []
    for need in (True, False):
        for w in layer.weights:
            w.grad = None
        _reset_rngs(layer)
        y, bp = layer.forward(x, training=True, need_input_grad=need)
        d_in = bp(np.ones_like(y))
        assert (d_in is None) == (not need)
        grads.append([np.array(w.grad) for w in layer.trainable_weights])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
