"""The architectures of the Keras guides (functional API guide and the flower CNN), at reduced
sizes, built with fitq's layers, trained for a few steps and run."""
import numpy as np
import pytest

from engine import Input, Model, Sequential, layers

RNG = np.random.default_rng(0)


def fit_twice(model, x, y, **compile_kwargs):
    """Compiles, fits two epochs with shuffle=False and returns the History's losses."""
    model.compile(**compile_kwargs)
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    return history


def test_news_model_two_inputs_two_outputs_with_loss_weights():
    main_input = Input(shape=(12,), dtype="int32", name="main_input")
    x = layers.Embedding(output_dim=8, input_dim=50, input_length=12)(main_input)
    lstm_out = layers.LSTM(6)(x)
    auxiliary_output = layers.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    auxiliary_input = Input(shape=(5,), name="aux_input")
    x = layers.concatenate([lstm_out, auxiliary_input])
    for _ in range(3):
        x = layers.Dense(8, activation="relu")(x)
    main_output = layers.Dense(1, activation="sigmoid", name="main_output")(x)
    model = Model(inputs=[main_input, auxiliary_input], outputs=[main_output, auxiliary_output])
    headlines = RNG.integers(1, 50, size=(16, 12)).astype("int32")
    extra = RNG.standard_normal((16, 5)).astype("float32")
    labels = RNG.integers(0, 2, size=(16, 1)).astype("float32")
    history = fit_twice(model, {"main_input": headlines, "aux_input": extra},
                        {"main_output": labels, "aux_output": labels}, optimizer="rmsprop",
                        loss={"main_output": "binary_crossentropy", "aux_output": "binary_crossentropy"},
                        loss_weights={"main_output": 1.0, "aux_output": 0.2})
    h = history.history
    np.testing.assert_allclose(h["loss"][-1], h["main_output_loss"][-1] + 0.2 * h["aux_output_loss"][-1],
                               rtol=1e-4)
    main, aux = model.predict([headlines, extra])
    assert main.shape == (16, 1) and aux.shape == (16, 1)


def test_shared_lstm_tweet_model():
    tweet_a, tweet_b = Input(shape=(7, 10)), Input(shape=(7, 10))
    shared_lstm = layers.LSTM(8)
    encoded_a, encoded_b = shared_lstm(tweet_a), shared_lstm(tweet_b)
    merged = layers.concatenate([encoded_a, encoded_b], axis=-1)
    predictions = layers.Dense(1, activation="sigmoid")(merged)
    model = Model(inputs=[tweet_a, tweet_b], outputs=predictions)
    assert len(model.weights) == 5
    assert shared_lstm.get_output_at(0) is encoded_a and shared_lstm.get_output_at(1) is encoded_b
    data_a = RNG.standard_normal((12, 7, 10)).astype("float32")
    data_b = RNG.standard_normal((12, 7, 10)).astype("float32")
    labels = RNG.integers(0, 2, size=(12, 1)).astype("float32")
    fit_twice(model, [data_a, data_b], labels, optimizer="rmsprop", loss="binary_crossentropy",
              metrics=["accuracy"])
    out = model.predict([data_a, data_a])
    same = Model(tweet_a, shared_lstm(tweet_a)).predict(data_a)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(np.concatenate([same, same], 1) @ model.layers[-1].kernel.value
                                                      + model.layers[-1].bias.value))), rtol=1e-5)


def test_conv_layer_called_on_two_input_shapes():
    a, b = Input(shape=(8, 8, 3)), Input(shape=(12, 12, 3))
    conv = layers.Conv2D(4, (3, 3), padding="same")
    conv(a)
    assert conv.input_shape == (None, 8, 8, 3)
    conv(b)
    assert conv.get_input_shape_at(0) == (None, 8, 8, 3)
    assert conv.get_input_shape_at(1) == (None, 12, 12, 3)


def test_inception_block():
    input_img = Input(shape=(8, 8, 3))
    tower_1 = layers.Conv2D(4, (1, 1), padding="same", activation="relu")(input_img)
    tower_1 = layers.Conv2D(4, (3, 3), padding="same", activation="relu")(tower_1)
    tower_2 = layers.Conv2D(4, (1, 1), padding="same", activation="relu")(input_img)
    tower_2 = layers.Conv2D(4, (5, 5), padding="same", activation="relu")(tower_2)
    tower_3 = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(input_img)
    tower_3 = layers.Conv2D(4, (1, 1), padding="same", activation="relu")(tower_3)
    output = layers.concatenate([tower_1, tower_2, tower_3], axis=1)
    model = Model(input_img, output)
    assert model.outputs[0].shape == (None, 24, 8, 4)
    x = RNG.standard_normal((6, 8, 8, 3)).astype("float32")
    fit_twice(model, x, RNG.standard_normal((6, 24, 8, 4)).astype("float32"), optimizer="sgd", loss="mse")


def test_residual_connection():
    x = Input(shape=(8, 8, 3))
    y = layers.Conv2D(3, (3, 3), padding="same")(x)
    z = layers.add([x, y])
    model = Model(x, z)
    data = RNG.standard_normal((4, 8, 8, 3)).astype("float32")
    conv = model.layers[1]
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    np.testing.assert_allclose(model.predict(data), data, rtol=1e-6)
    fit_twice(model, data, 2 * data, optimizer="adam", loss="mse")


def test_shared_vision_model_called_twice():
    digit_input = Input(shape=(9, 9, 1))
    x = layers.Conv2D(4, (3, 3))(digit_input)
    x = layers.Conv2D(4, (3, 3))(x)
    x = layers.MaxPooling2D((2, 2))(x)
    vision_model = Model(digit_input, layers.Flatten()(x))
    digit_a, digit_b = Input(shape=(9, 9, 1)), Input(shape=(9, 9, 1))
    out_a, out_b = vision_model(digit_a), vision_model(digit_b)
    out = layers.Dense(1, activation="sigmoid")(layers.concatenate([out_a, out_b]))
    model = Model([digit_a, digit_b], out)
    assert len(model.weights) == 6
    xa = RNG.standard_normal((8, 9, 9, 1)).astype("float32")
    xb = RNG.standard_normal((8, 9, 9, 1)).astype("float32")
    before = vision_model.get_weights()[0].copy()
    fit_twice(model, [xa, xb], RNG.integers(0, 2, (8, 1)).astype("float32"), optimizer="adam",
              loss="binary_crossentropy")
    assert not np.allclose(vision_model.get_weights()[0], before)


def small_vision_model():
    vision_model = Sequential()
    vision_model.add(layers.Conv2D(4, (3, 3), activation="relu", padding="same", input_shape=(10, 10, 3)))
    vision_model.add(layers.Conv2D(4, (3, 3), activation="relu"))
    vision_model.add(layers.MaxPooling2D((2, 2)))
    vision_model.add(layers.Conv2D(6, (3, 3), activation="relu", padding="same"))
    vision_model.add(layers.MaxPooling2D((2, 2)))
    vision_model.add(layers.Flatten())
    return vision_model


def test_visual_question_answering_and_video_question_answering():
    vision_model = small_vision_model()
    image_input = Input(shape=(10, 10, 3))
    encoded_image = vision_model(image_input)
    question_input = Input(shape=(6,), dtype="int32")
    embedded_question = layers.Embedding(input_dim=30, output_dim=5, input_length=6)(question_input)
    encoded_question = layers.LSTM(7)(embedded_question)
    merged = layers.concatenate([encoded_question, encoded_image])
    output = layers.Dense(11, activation="softmax")(merged)
    vqa_model = Model(inputs=[image_input, question_input], outputs=output)
    images = RNG.standard_normal((8, 10, 10, 3)).astype("float32")
    questions = RNG.integers(1, 30, (8, 6)).astype("int32")
    answers = np.eye(11, dtype="float32")[RNG.integers(0, 11, 8)]
    fit_twice(vqa_model, [images, questions], answers, optimizer="adam", loss="categorical_crossentropy")

    video_input = Input(shape=(3, 10, 10, 3))
    encoded_frame_sequence = layers.TimeDistributed(vision_model)(video_input)
    encoded_video = layers.LSTM(5)(encoded_frame_sequence)
    question_encoder = Model(inputs=question_input, outputs=encoded_question)
    video_question_input = Input(shape=(6,), dtype="int32")
    encoded_video_question = question_encoder(video_question_input)
    merged = layers.concatenate([encoded_video, encoded_video_question])
    output = layers.Dense(11, activation="softmax")(merged)
    video_qa_model = Model(inputs=[video_input, video_question_input], outputs=output)
    videos = RNG.standard_normal((4, 3, 10, 10, 3)).astype("float32")
    frames = vision_model.predict(videos.reshape(12, 10, 10, 3)).reshape(4, 3, -1)
    td = video_qa_model.layers[[type(l).__name__ for l in video_qa_model.layers].index("TimeDistributed")]
    np.testing.assert_allclose(td.call(videos), frames, rtol=1e-5, atol=1e-6)
    before = vision_model.get_weights()[0].copy()
    fit_twice(video_qa_model, [videos, questions[:4]], answers[:4], optimizer="adam",
              loss="categorical_crossentropy")
    assert not np.allclose(vision_model.get_weights()[0], before)


def test_flower_cnn_with_keras1_convolution2d():
    w = h = 30
    model = Sequential()
    model.add(layers.Convolution2D(4, 5, 5, input_shape=(w, h, 3)))
    model.add(layers.Activation("relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Convolution2D(8, 3, 3))
    model.add(layers.Activation("relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Convolution2D(16, 3, 3))
    model.add(layers.Activation("relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(16))
    model.add(layers.Activation("relu"))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(5))
    model.add(layers.Activation("softmax"))
    assert model.layers[0].kernel.shape == (5, 5, 3, 4)
    assert model.outputs[0].shape == (None, 5)
    x = RNG.random((12, w, h, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[RNG.integers(0, 5, 12)]
    fit_twice(model, x, y, loss="categorical_crossentropy", optimizer="adam")


def test_keras1_convolution1d_arguments():
    conv = layers.Convolution1D(8, 3, border_mode="same", subsample_length=2, input_shape=(10, 4))
    model = Sequential([conv])
    assert type(conv).__name__ == "Conv1D" and conv.kernel.shape == (3, 4, 8)
    assert model.outputs[0].shape == (None, 5, 8)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(border_mode="same", subsample=(2, 2)), dict(padding="same", strides=[2, 2])),
    (dict(dim_ordering="th"), dict(data_format="channels_first")),
    (dict(init="he_normal", bias=False), dict(use_bias=False)),
])
def test_keras1_convolution2d_arguments(kwargs, expected):
    conv = layers.Convolution2D(4, 5, 3, **kwargs)
    config = conv.get_config()
    assert config["kernel_size"] == [5, 3] and config["filters"] == 4
    for key, value in expected.items():
        assert config[key] == value
    assert type(conv).__name__ == "Conv2D"


# ---------------------------------------------------------------- against Keras
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import engine  # noqa: E402
from engine import model_from_json  # noqa: E402
from tests.fixtures.keras.layer_seed_models import FIT, SEEDS  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "keras" / "layers"
RECORDS = json.loads((FIXTURES / "seeds.json").read_text())


def _indexed(data, prefix):
    n = len([k for k in data.files if k.startswith(prefix)])
    return [data[f"{prefix}{i}"] for i in range(n)]


def _flat_predictions(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0])
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_architecture_predicts_and_trains_like_keras(name):
    """Keras's initial weights and data: the same predictions, History and weights after fit(shuffle=False)."""
    model, compile_kwargs, _ = SEEDS[name](engine)
    data = np.load(FIXTURES / f"seed_{name}.npz")
    xs, ts = _indexed(data, "x_"), _indexed(data, "t_")
    model.set_weights(_indexed(data, "w0_"))
    for ours, keras_pred in zip(_flat_predictions(model, xs), _indexed(data, "p_")):
        np.testing.assert_allclose(ours, keras_pred, rtol=1e-5, atol=1e-6)
    model.compile(**compile_kwargs)
    history = model.fit(xs if len(xs) > 1 else xs[0], ts if len(ts) > 1 else ts[0], verbose=0, **FIT)
    keras_history = RECORDS[name]["history"]
    for key, values in keras_history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-4, err_msg=key)
    for i, (ours, theirs) in enumerate(zip(model.get_weights(), _indexed(data, "w1_"))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=f"weight {i} after fit")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_architecture_loads_from_keras_json(name):
    model = model_from_json(RECORDS[name]["model_json"])
    data = np.load(FIXTURES / f"seed_{name}.npz")
    model.set_weights(_indexed(data, "w0_"))
    for ours, keras_pred in zip(_flat_predictions(model, _indexed(data, "x_")), _indexed(data, "p_")):
        np.testing.assert_allclose(ours, keras_pred, rtol=1e-5, atol=1e-6)
