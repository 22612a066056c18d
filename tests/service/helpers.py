"""Small helpers shared by the service tests: dataset files, tiny model specs, waiting on jobs."""
from __future__ import annotations

import io
import json
import time

import numpy as np


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def dense_model_json(inputs: int = 4, units: int = 1, hidden: int = 8, activation: str = "linear") -> dict:
    """A Keras-3-style Sequential JSON: Input(inputs) -> Dense(hidden, relu) -> Dense(units), with seeded
    initializers, so every model built from it starts from the same weights."""
    from engine import Input, Sequential, initializers, layers

    model = Sequential([Input(shape=(inputs,)),
                        layers.Dense(hidden, activation="relu", kernel_initializer=initializers.GlorotUniform(seed=1)),
                        layers.Dense(units, activation=activation, kernel_initializer=initializers.GlorotUniform(seed=2))])
    return json.loads(model.to_json())


def regression_arrays(n: int = 64, inputs: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, inputs)).astype("float32")
    y = (x @ rng.normal(size=(inputs, 1))).astype("float32")
    return {"x": x, "y": y}


def dense_spec(dataset_id: str, epochs: int = 2, batch_size: int = 16, **fit) -> dict:
    return {"name": "tiny", "model": dense_model_json(),
            "compile": {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
                        "loss": "mse", "metrics": ["mae"]},
            "data": {"x": f"{dataset_id}/x", "y": f"{dataset_id}/y"},
            "fit": {"epochs": epochs, "batch_size": batch_size, "shuffle": False, "verbose": 0, **fit}}


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.02, what: str = "condition"):
    """Polls ``predicate`` until it returns a truthy value; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
