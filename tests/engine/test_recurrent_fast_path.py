"""The LSTM's transposed NumPy loop and the Embedding's sparse scatter against the generic code:
same outputs, input / state gradients and weight gradients (float32 to rounding, float64 tightly)."""
import numpy as np
import pytest

from engine import activations, layers
from engine.layers.embedding import _row_sums
from engine.layers.recurrent import _RNN


def _run(layer, forward, inputs, cotangent_seed=1, need_input_grad=True):
    """(outputs, input gradients, weight gradients) of one forward + backprop."""
    for w in layer.weights:
        w.grad = None
    y, bp = forward(inputs, training=True, need_input_grad=need_input_grad)
    ys = y if isinstance(y, list) else [y]
    rng = np.random.default_rng(cotangent_seed)
    cots = [rng.standard_normal(a.shape).astype(a.dtype) for a in ys]
    d = bp(cots if isinstance(y, list) else cots[0])
    ds = d if isinstance(d, list) else [d]
    return ys, ds, [np.array(w.grad) for w in layer.weights]


def _generic(layer):
    return lambda inputs, **kw: _RNN.forward(layer, inputs, **kw)


def _lstm_and_inputs(dtype, with_states, bias_seed=3, **kwargs):
    rng = np.random.default_rng(0)
    layer = layers.LSTM(5, dtype=dtype, **kwargs)
    x = rng.standard_normal((3, 7, 4)).astype(dtype)
    inputs = [x, rng.standard_normal((3, 5)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)] \
        if with_states else x
    layer.maybe_build([a.shape for a in inputs] if with_states else x.shape)
    if layer.bias is not None:  # a non-zero bias, so a bias mix-up shows
        layer.bias.assign(np.random.default_rng(bias_seed).standard_normal(layer.bias.shape))
    return layer, inputs


def _assert_same(fast, generic, rtol, atol):
    for part, (a_list, b_list) in zip(("outputs", "input grads", "weight grads"), zip(fast, generic)):
        assert len(a_list) == len(b_list), part
        for a, b in zip(a_list, b_list):
            if b is None:
                assert a is None, part
            else:
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=part)


OPTIONS = [dict(), dict(return_sequences=True), dict(return_sequences=True, go_backwards=True),
           dict(return_state=True), dict(return_state=True, return_sequences=True, go_backwards=True),
           dict(use_bias=False), dict(unit_forget_bias=False)]


@pytest.mark.parametrize("dtype, rtol, atol", [("float32", 2e-5, 2e-6), ("float64", 1e-12, 1e-13)])
@pytest.mark.parametrize("with_states", [False, True])
@pytest.mark.parametrize("kwargs", OPTIONS)
def test_fast_lstm_matches_the_generic_loop(kwargs, with_states, dtype, rtol, atol):
    layer, inputs = _lstm_and_inputs(dtype, with_states, **kwargs)
    x = inputs[0] if with_states else inputs
    assert layer._uses_fast_path(x, True, None)
    fast = _run(layer, layer.forward, inputs)
    _assert_same(fast, _run(layer, _generic(layer), inputs), rtol, atol)
    predicted = layer.call(inputs)
    predicted = predicted if isinstance(predicted, list) else [predicted]
    for a, b in zip(predicted, fast[0]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("with_states", [False, True])
def test_fast_lstm_without_input_gradient_keeps_weight_gradients(with_states):
    layer, inputs = _lstm_and_inputs("float32", with_states, return_sequences=True)
    fast = _run(layer, layer.forward, inputs, need_input_grad=False)
    generic = _run(layer, _generic(layer), inputs, need_input_grad=False)
    assert all(d is None for d in fast[1]) and len(fast[1]) == len(generic[1])
    for a, b in zip(fast[2], generic[2]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_fast_lstm_passes_interleaved_in_one_step():
    """A layer called twice before either backprop (a shared layer): each pass keeps its own buffers."""
    layer, x1 = _lstm_and_inputs("float32", False, return_sequences=True)
    x2 = x1[::-1].copy() * 0.5
    expected = [_run(layer, _generic(layer), x, seed) for x, seed in ((x1, 1), (x2, 2))]
    for w in layer.weights:
        w.grad = None
    y1, bp1 = layer.forward(x1, training=True)
    y2, bp2 = layer.forward(x2, training=True)
    layer.call(x1)  # an inference pass in between
    cot1 = np.random.default_rng(1).standard_normal(y1.shape).astype("float32")
    cot2 = np.random.default_rng(2).standard_normal(y2.shape).astype("float32")
    dx2, dx1 = bp2(cot2), bp1(cot1)
    np.testing.assert_allclose(y1, expected[0][0][0], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(y2, expected[1][0][0], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(dx1, expected[0][1][0], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(dx2, expected[1][1][0], rtol=2e-5, atol=2e-6)
    for w, a, b in zip(layer.weights, expected[0][2], expected[1][2]):
        np.testing.assert_allclose(w.grad, a + b, rtol=2e-5, atol=2e-6)


def test_fast_lstm_saturated_gates_stay_finite():
    layer, x = _lstm_and_inputs("float32", False)
    x = x * 1e4
    fast = _run(layer, layer.forward, x)
    _assert_same(fast, _run(layer, _generic(layer), x), 2e-5, 2e-6)
    assert all(np.isfinite(a).all() for part in fast for a in part)


@pytest.mark.parametrize("kwargs, training, masked, expected", [
    (dict(), True, False, True),
    (dict(), False, True, False),
    (dict(dropout=0.2), True, False, False),
    (dict(dropout=0.2), False, False, True),
    (dict(recurrent_dropout=0.2), True, False, False),
    (dict(recurrent_activation="hard_sigmoid"), True, False, False),
    (dict(activation="relu"), True, False, False),
    (dict(activation=activations.Activation("relu", negative_slope=0.1)), True, False, False),
])
def test_fast_path_only_where_it_computes_the_same(kwargs, training, masked, expected):
    layer, x = _lstm_and_inputs("float32", False, **kwargs)
    mask = np.ones(x.shape[:2], bool) if masked else None
    assert layer._uses_fast_path(x, training, mask) is expected
    assert not layer._uses_fast_path(x.astype("float64"), training, mask)


@pytest.mark.parametrize("n_rows, k", [(3, 500), (50, 40), (10000, 6400)])
def test_embedding_row_sums_equal_add_at_bit_for_bit(n_rows, k):
    rng = np.random.default_rng(n_rows)
    rows = rng.integers(0, n_rows, k)
    values = rng.standard_normal((k, 6)).astype("float32")
    expected = np.zeros((n_rows, 6), "float32")
    np.add.at(expected, rows, values)
    got = _row_sums(rows, values, n_rows)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_embedding_gradient_with_negative_and_repeated_indices():
    emb = layers.Embedding(6, 3)
    idx = np.array([[0, -1, 5, 2], [2, 2, -6, 1]])
    emb.maybe_build(idx.shape)
    _, bp = emb.forward(idx, training=True)
    dy = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    bp(dy)
    expected = np.zeros((6, 3), "float32")
    np.add.at(expected, idx.ravel() % 6, dy.reshape(-1, 3))
    np.testing.assert_array_equal(emb.embeddings.grad, expected)
