"""engine.weight_copies: copies made from weights are made once per predict / evaluate loop, and
remade when the loop may see a weight change."""
import numpy as np
import pytest

from engine import Sequential, callbacks, layers, set_random_seed, weight_copies


def test_copies_are_made_once_a_loop_and_afresh_outside_one():
    weight, made = np.ones((3, 4), np.float32), []

    def make():
        made.append(1)
        return weight * 2

    first, second = weight_copies.copy(weight, "double", make), weight_copies.copy(weight, "double", make)
    assert len(made) == 2 and first is not second  # outside a loop: every call
    with weight_copies.held_for_loop():
        assert weight_copies.holding()
        inside = [weight_copies.copy(weight, "double", make) for _ in range(3)]
        assert len(made) == 3 and inside[0] is inside[1] is inside[2]
        other = np.ones((3, 4), np.float32)  # another array is another weight
        assert weight_copies.copy(other, "double", make) is not inside[0] and len(made) == 4
        assert weight_copies.copy(weight, "triple", lambda: weight * 3, most=2) is not None
        assert weight_copies.copy(weight, "quadruple", lambda: weight * 4, most=2) is None  # beyond `most` kinds
    assert not weight_copies.holding()
    weight_copies.copy(weight, "double", make)
    assert len(made) == 5
    with weight_copies.held_for_loop(active=False):
        assert not weight_copies.holding()


def _lstm_model():
    set_random_seed(2)
    model = Sequential([layers.Input((20, 8)), layers.LSTM(16), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_lstm_predict_and_evaluate_repeat_their_bits_with_the_gate_blocks_kept():
    model = _lstm_model()
    x = np.random.default_rng(0).random((96, 20, 8), dtype=np.float32)
    held = model.predict(x, batch_size=32, verbose=0)
    np.testing.assert_array_equal(held, model.predict(x, batch_size=32, verbose=0))
    np.testing.assert_array_equal(held, np.concatenate([model.predict_on_batch(x[i:i + 32]) for i in (0, 32, 64)]))
    assert model.evaluate(x, held, batch_size=32, verbose=0) == 0.0


def test_recurrent_weights_a_callback_assigns_during_predict_take_effect_at_the_next_batch():
    model = _lstm_model()
    x = np.random.default_rng(0).random((64, 20, 8), dtype=np.float32)
    lstm = model.layers[0]

    class ZeroLstm(callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            lstm.set_weights([np.zeros_like(w) for w in lstm.get_weights()])

    out = model.predict(x, batch_size=32, verbose=0, callbacks=[ZeroLstm()])
    bias = model.layers[1].get_weights()[1]
    assert not np.allclose(out[:32], bias)
    np.testing.assert_allclose(out[32:], np.broadcast_to(bias, (32, 1)))  # h = 0 with zero weights


@pytest.mark.parametrize("active", [True, False])
def test_a_loop_that_ends_forgets_its_copies(active):
    weight = np.zeros(3)
    with weight_copies.held_for_loop(active):
        weight_copies.copy(weight, "kind", lambda: weight + 1)
    made = []
    with weight_copies.held_for_loop(active):
        weight_copies.copy(weight, "kind", lambda: made.append(1))
    assert made == [1]
