"""Behaviour of the new layers beyond single-call numerics: BatchNormalization in fit, dropout and
noise in training vs inference, weight layouts and names, masks, and Keras's errors."""
import numpy as np
import pytest

from engine import Input, Model, Sequential, layers

RNG = np.random.default_rng(0)


def test_batchnorm_fit_updates_moving_statistics_with_keras_momentum():
    bn = layers.BatchNormalization(momentum=0.8)
    model = Sequential([Input((3,)), bn])
    model.compile(optimizer="sgd", loss="mse")
    x = (RNG.standard_normal((8, 3)) * 2 + 1).astype("float32")
    model.fit(x, np.zeros((8, 3), "float32"), batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(bn.moving_mean.value, 0.2 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.8 + 0.2 * x.var(axis=0), rtol=1e-5)
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    gamma, beta, mean, var = bn.get_weights()
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


def test_frozen_batchnorm_uses_moving_statistics_in_training():
    bn = layers.BatchNormalization(trainable=False)
    x = RNG.standard_normal((4, 2)).astype("float32")
    bn(x)
    y, _ = bn.forward(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.value, 0)


@pytest.mark.parametrize("layer", [
    lambda: layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5),
    lambda: layers.GRU(4, dropout=0.5),
    lambda: layers.SimpleRNN(4, recurrent_dropout=0.5),
])
def test_recurrent_dropout_only_in_training(layer):
    rnn = layer()
    x = RNG.standard_normal((3, 5, 2)).astype("float32")
    y_inf = rnn(x)
    clean = type(rnn).from_config({**rnn.get_config(), "dropout": 0.0, "recurrent_dropout": 0.0, "name": None})
    clean(x)
    clean.set_weights(rnn.get_weights())
    np.testing.assert_allclose(y_inf, clean(x), rtol=1e-6)
    y_train = rnn(x, training=True)
    assert y_train.shape == y_inf.shape and not np.allclose(y_train, y_inf)


def test_noise_layers_are_identity_at_inference_and_noisy_in_training():
    x = RNG.standard_normal((200, 6, 5)).astype("float32")
    for layer in (layers.GaussianNoise(0.3), layers.GaussianDropout(0.3), layers.AlphaDropout(0.3),
                  layers.SpatialDropout1D(0.5), layers.SpatialDropout2D(0.5), layers.Dropout(0.4)):
        xin = x[..., None] if isinstance(layer, layers.SpatialDropout2D) else x
        np.testing.assert_array_equal(layer(xin), xin)
        assert not np.allclose(layer(xin, training=True), xin)


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((50, 7, 4), "float32")
    y = layers.SpatialDropout1D(0.5, seed=1)(x, training=True)
    per_channel = y.std(axis=1)
    np.testing.assert_array_equal(per_channel, 0)
    assert set(np.unique(y)) == {0.0, 2.0}


def test_alpha_dropout_keeps_standard_normal_statistics():
    x = RNG.standard_normal((400, 500)).astype("float32")
    y = layers.AlphaDropout(0.2, seed=3)(x, training=True)
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_gaussian_dropout_has_mean_one_noise():
    x = np.ones((1000, 100), "float32")
    y = layers.GaussianDropout(0.5, seed=2)(x, training=True)
    assert abs(y.mean() - 1) < 0.01 and abs(y.std() - 1) < 0.02


def test_recurrent_weight_layouts():
    lstm, gru, gru_b, rnn = layers.LSTM(5), layers.GRU(5), layers.GRU(5, reset_after=False), layers.SimpleRNN(5)
    x = np.zeros((1, 2, 3), "float32")
    for layer in (lstm, gru, gru_b, rnn):
        layer(x)
    assert [w.shape for w in lstm.get_weights()] == [(3, 20), (5, 20), (20,)]
    np.testing.assert_array_equal(lstm.get_weights()[2], np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert [w.shape for w in gru.get_weights()] == [(3, 15), (5, 15), (2, 15)]
    assert [w.shape for w in gru_b.get_weights()] == [(3, 15), (5, 15), (15,)]
    assert [w.shape for w in rnn.get_weights()] == [(3, 5), (5, 5), (5,)]
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]


def test_bidirectional_weights_forward_then_backward_and_names():
    bi = layers.Bidirectional(layers.LSTM(3, name="enc"))
    bi(np.zeros((1, 4, 2), "float32"))
    assert bi.forward_layer.name == "forward_enc" and bi.backward_layer.name == "backward_enc"
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert [w.shape for w in bi.get_weights()] == [(2, 12), (3, 12), (12,)] * 2
    assert bi.weights[:3] == bi.forward_layer.weights
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")


def test_conv_weight_layouts():
    x = np.zeros((1, 6, 6, 4), "float32")
    conv, tconv = layers.Conv2D(6, (3, 2), groups=2), layers.Conv2DTranspose(5, 3)
    sep, dw = layers.SeparableConv2D(7, 3, depth_multiplier=2), layers.DepthwiseConv2D(3, depth_multiplier=3)
    for layer in (conv, tconv, sep, dw):
        layer(x)
    assert [w.shape for w in conv.get_weights()] == [(3, 2, 2, 6), (6,)]
    assert [w.shape for w in tconv.get_weights()] == [(3, 3, 5, 4), (5,)]
    assert [w.shape for w in sep.get_weights()] == [(3, 3, 4, 2), (1, 1, 8, 7), (7,)]
    assert [w.shape for w in dw.get_weights()] == [(3, 3, 4, 3), (12,)]
    assert tconv(x).shape == (1, 8, 8, 5)


def test_embedding_mask_reaches_recurrent_layer_and_merges():
    tokens = Input((None,), dtype="int32")
    emb = layers.Embedding(10, 4, mask_zero=True)(tokens)
    seq = layers.LSTM(3, return_sequences=True)(emb)
    td = layers.TimeDistributed(layers.Dense(2))(seq)
    summed = layers.add([td, td])
    model = Model(tokens, layers.GRU(2)(summed))
    x = np.array([[3, 4, 0, 0, 0], [5, 6, 7, 8, 9]], "int32")
    y = model.predict(x)
    y_short = model.predict(x[:, :2])
    np.testing.assert_allclose(y[0], y_short[0], rtol=1e-5, atol=1e-7)
    _, masks, _ = model.run_graph([x], need_backprop=False)
    assert masks == [None]


def test_initial_state_keyword_and_state_outputs():
    x_in, h_in, c_in = Input((4, 3)), Input((2,)), Input((2,))
    out, h, c = layers.LSTM(2, return_state=True)(x_in, initial_state=[h_in, c_in])
    model = Model([x_in, h_in, c_in], [out, h, c])
    x = RNG.standard_normal((2, 4, 3)).astype("float32")
    h0, c0 = RNG.standard_normal((2, 2)).astype("float32"), RNG.standard_normal((2, 2)).astype("float32")
    o, hh, cc = model.predict([x, h0, c0])
    np.testing.assert_array_equal(o, hh)
    o_zero = model.predict([x, np.zeros_like(h0), np.zeros_like(c0)])[0]
    assert not np.allclose(o, o_zero)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.LSTM(3, stateful=True), "stateful"),
    (lambda: layers.Conv2D(4, 3, padding="full"), "padding"),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: layers.Conv2D(5, 3, groups=2), "groups"),
    (lambda: layers.MaxPooling2D(2, data_format="nhwc"), "data_format"),
    (lambda: layers.UpSampling2D(interpolation="bicubic"), "interpolation"),
    (lambda: layers.Dropout(1.5), "rate"),
    (lambda: layers.GaussianDropout(-0.1), "rate"),
])
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="negative or zero"):
        Sequential([Input((4, 4, 1)), layers.Conv2D(2, 5)])
    with pytest.raises(ValueError, match="expected ndim=4"):
        layers.Conv2D(2, 3)(np.zeros((2, 5, 5), "float32"))
    lstm = layers.LSTM(2)
    with pytest.raises(ValueError, match="initial state"):
        lstm([np.zeros((1, 3, 2), "float32"), np.zeros((1, 2), "float32")])


def test_concatenated_masks_follow_keras_into_a_recurrent_layer():
    """Embedding(mask_zero) and Masking outputs concatenated: Keras ORs their masks (fixture from Keras)."""
    from pathlib import Path

    data = np.load(Path(__file__).resolve().parent.parent / "fixtures" / "keras" / "layers" /
                   "concatenate_masks_gru.npz")
    a, b = Input((5,), dtype="int32"), Input((5, 2))
    seq = layers.concatenate([layers.Embedding(8, 3, mask_zero=True)(a), layers.Masking()(b)])
    model = Model([a, b], layers.GRU(3, return_sequences=True)(seq))
    model.set_weights([data[f"w_{i}"] for i in range(4)])
    np.testing.assert_allclose(model.predict([data["xa"], data["xb"]]), data["y"], rtol=1e-5, atol=1e-6)
    _, masks, _ = model.run_graph([data["xa"], data["xb"]], need_backprop=False)
    np.testing.assert_array_equal(masks[0], [[True] * 4 + [False], [True, True, False, True, True], [True] * 5])
