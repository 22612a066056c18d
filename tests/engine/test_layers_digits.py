"""A real dataset learns: a small CNN on scikit-learn's bundled 8x8 digits reaches >= 97% test
accuracy, as the same architecture does in Keras (tests/fixtures/keras/layers/digits.json)."""
import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from engine import Input, Sequential, layers, random

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "keras" / "layers" / "digits.json"


def digits_model():
    return Sequential([
        Input((8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def test_digits_cnn_reaches_keras_accuracy():
    settings = json.loads(FIXTURE.read_text())
    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    y = data.target.astype("int32")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=settings["test_size"],
                                              random_state=settings["split_seed"], stratify=y)
    random.set_random_seed(0)
    model = digits_model()
    model.compile(optimizer=settings["optimizer"], loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Batches of 32 make small matrix products: one BLAS thread is fastest (and steady on a busy machine).
    with threadpool_limits(limits=1, user_api="blas"):
        history = model.fit(x_tr, y_tr, epochs=settings["epochs"], batch_size=settings["batch_size"], verbose=0)
        loss, acc = model.evaluate(x_te, y_te, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert acc >= 0.97, f"fitq digits test accuracy {acc:.4f} (Keras: {settings['keras_test_accuracy']:.4f})"
    assert settings["keras_test_accuracy"] >= 0.97
    assert np.isfinite(loss)
