"""Streaming jobs: batches read from memory-mapped arrays and decoded image folders (with augmentation)
by real workers, as ``fit_generator`` does."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from tests.service.helpers import dense_spec, regression_arrays


def image_zip(per_class: int = 8, size: int = 8) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for cls, base in (("dark", 30), ("light", 220)):
            for i in range(per_class):
                pixels = np.clip(base + rng.normal(0, 10, (size, size, 3)), 0, 255).astype("uint8")
                png = io.BytesIO()
                Image.fromarray(pixels).save(png, format="PNG")
                archive.writestr(f"{cls}/{i}.png", png.getvalue())
    return buf.getvalue()


def flatten_classifier_json(size: int = 8, classes: int = 2) -> dict:
    from engine import Input, Sequential, layers

    model = Sequential([Input(shape=(size, size, 3)), layers.Flatten(), layers.Dense(classes, activation="softmax")])
    return json.loads(model.to_json())


def test_generator_over_memory_mapped_arrays(api, workers):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=200))["id"]
    spec = dense_spec(ds, epochs=2)
    spec["data"] = {"generator": {"dataset": ds, "x": "x", "y": "y", "batch_size": 32, "shuffle": True,
                                  "seed": 1, "validation_split": 0.2}}
    spec["fit"] = {"epochs": 2, "verbose": 0, "max_queue_size": 4, "workers": 1}
    done = api.wait(api.submit(spec)["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert done["epoch"] == [0, 1] and set(done["history"]) >= {"loss", "mae", "val_loss", "val_mae"}
    assert done["progress"]["steps"] == 5  # ceil(160 / 32) batches per epoch


def test_image_folder_with_augmentation(api, workers):
    workers.start(1)
    response = api.http.post("/v1/datasets", files={"file": ("tones.zip", image_zip(), "application/zip")})
    ds = response.json()["id"]
    spec = {"model": flatten_classifier_json(), "compile": {"optimizer": "adam", "loss": "categorical_crossentropy",
                                                          "metrics": ["accuracy"]},
            "data": {"generator": {"dataset": ds, "target_size": [8, 8], "batch_size": 4, "class_mode": "categorical",
                                   "validation_split": 0.25, "seed": 3,
                                   "augment": {"rescale": 1 / 255, "horizontal_flip": True,
                                               "width_shift_range": 0.1}}},
            "fit": {"epochs": 2, "verbose": 0}}
    done = api.wait(api.submit(spec)["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert set(done["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}

    bad = json.loads(json.dumps(spec))
    bad["data"]["generator"]["target_size"] = [9, 9]
    response = api.http.post("/v1/jobs", json=bad)
    assert response.status_code == 422 and response.json()["error"]["field"] == "data.generator"


def test_featurewise_augmentation_is_fitted_on_training_samples(tmp_path):
    from worker.generators import sequence
    from worker.spec import GeneratorSpec
    from worker.store import Store

    store = Store(tmp_path)
    ds = "ds_00000000000000aa"
    arrays = store.dataset_dir(ds) / "arrays"
    arrays.mkdir(parents=True)
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(40, 3, 3, 1)).astype("float32")
    np.save(arrays / "x.npy", x)
    np.save(arrays / "y.npy", np.zeros(40, "float32"))
    store.write_json(store.dataset_dir(ds) / "meta.json", {
        "id": ds, "tenant": "t", "arrays": {"x": {"shape": [40, 3, 3, 1], "dtype": "float32"},
                                            "y": {"shape": [40], "dtype": "float32"}}})
    spec = GeneratorSpec(dataset=ds, x="x", y="y", batch_size=10, shuffle=False, validation_split=0.25,
                         augment={"featurewise_center": True, "featurewise_std_normalization": True})
    train, validation = sequence(store, "t", spec, "data.generator")
    centred = np.concatenate([train[i][0] for i in range(len(train))])
    assert abs(float(centred.mean())) < 1e-4 and abs(float(centred.std()) - 1.0) < 1e-3
    assert len(validation) == 1 and abs(float(validation[0][0].mean())) < 1.5
