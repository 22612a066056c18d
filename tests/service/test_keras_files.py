"""Keras model files over REST: import a Keras 2 ``.h5`` / a ``.keras``, fine-tune it, download ``.keras`` / ``.h5``."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

import engine
from tests.service.helpers import dense_spec, regression_arrays

TF215 = Path(__file__).resolve().parents[1] / "fixtures" / "keras2" / "tf215"
KERAS3 = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "core"


def _upload(api, name: str, content: bytes):
    return api.http.post("/v1/models", files={"file": (name, content, "application/octet-stream")})


def _fixture(name):
    with np.load(TF215 / name) as data:
        return {k: data[k] for k in data.files}


def _load(content: bytes, suffix: str, tmp_path):
    path = tmp_path / f"downloaded{suffix}"
    path.write_bytes(content)
    return engine.load_model(path)


def test_keras2_h5_imports_downloads_and_fine_tunes(api, workers, tmp_path):
    """A tf.keras 2.15 ``model.save("m.h5")`` file: imported, downloaded as .keras / .h5, trained from its weights."""
    arrays = _fixture("seed_cnn.npz")
    answer = _upload(api, "seed_cnn.h5", (TF215 / "seed_cnn.h5").read_bytes())
    assert answer.status_code == 201, answer.text
    imported = answer.json()
    assert imported["kind"] == "import" and imported["status"] == "succeeded"
    assert imported["keras_version"] == "2.15.0" and imported["model"]["keras_version"] == "2.15.0"
    for fmt, suffix in (("h5", ".h5"), ("keras", ".keras")):
        got = api.http.get(f"/v1/jobs/{imported['id']}/model", params={"format": fmt})
        assert got.status_code == 200 and got.headers["content-disposition"].endswith(f'{suffix}"')
        model = _load(got.content, suffix, tmp_path)
        np.testing.assert_allclose(model.predict(arrays["x0"], verbose=0), arrays["predict0"], rtol=1e-5, atol=1e-6)

    workers.start(1)
    rng = np.random.default_rng(0)
    ds = api.upload_arrays({"x": rng.random((4, 20, 20, 3), dtype="float32"),
                            "y": np.eye(5, dtype="float32")[[0, 1, 2, 3]]})["id"]
    spec = {"model": imported["model"], "initial_weights": imported["id"],
            "compile": {"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.0}},
                        "loss": "categorical_crossentropy"},
            "data": {"x": f"{ds}/x", "y": f"{ds}/y"}, "fit": {"epochs": 1, "batch_size": 4, "verbose": 0}}
    job = api.wait(api.submit(spec)["id"], timeout=120)
    assert job["status"] == "succeeded", job["error"]
    for a, b in zip(api.weights(job["id"]), api.weights(imported["id"]), strict=True):
        np.testing.assert_array_equal(a, b)
    preds = np.asarray(api.predict(job["id"], instances=arrays["x0"])["predictions"], dtype="float32")
    np.testing.assert_allclose(preds, arrays["predict0"], rtol=1e-5, atol=1e-6)


def test_keras2_semantics_survive_import_training_and_serving(api, workers, tmp_path):
    """A Keras 2 model with hard_sigmoid gates keeps Keras 2's function through import, a job and predict."""
    arrays = _fixture("rnn_hard_sigmoid.npz")
    model = engine.model_from_json((TF215 / "rnn_hard_sigmoid.json").read_text())
    model.set_weights([arrays[f"w_final_{i}"] for i in range(len(model.weights))])
    model.save(tmp_path / "rnn.h5")
    imported = _upload(api, "rnn.h5", (tmp_path / "rnn.h5").read_bytes()).json()
    workers.start(1)
    ds = api.upload_arrays({"x": arrays["x0"], "y": arrays["y0"]})["id"]
    spec = {"model": imported["model"], "initial_weights": imported["id"],
            "compile": {"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.0}}, "loss": "mse"},
            "data": {"x": f"{ds}/x", "y": f"{ds}/y"}, "fit": {"epochs": 1, "batch_size": 8, "verbose": 0}}
    job = api.wait(api.submit(spec)["id"], timeout=120)
    assert job["status"] == "succeeded", job["error"]
    preds = np.asarray(api.predict(job["id"], instances=arrays["x0"])["predictions"], dtype="float32")
    np.testing.assert_allclose(preds, arrays["predict0"], rtol=1e-5, atol=1e-6)
    assert api.http.get(f"/v1/jobs/{job['id']}/model").json()["keras_version"] == "2.15.0"


def test_trained_job_downloads_as_keras_and_h5(api, workers, tmp_path):
    workers.start(1)
    data = regression_arrays(n=32)
    ds = api.upload_arrays(data)["id"]
    queued = api.submit(dense_spec(ds, epochs=1))
    early = api.http.get(f"/v1/jobs/{queued['id']}/model", params={"format": "keras"})
    job = api.wait(queued["id"], timeout=60)
    assert job["status"] == "succeeded", job["error"]
    assert early.status_code in (200, 409)
    want = np.asarray(api.predict(job["id"], instances=data["x"][:5])["predictions"], dtype="float32")
    keras_file = api.http.get(f"/v1/jobs/{job['id']}/model", params={"format": "keras"}).content
    assert {"config.json", "metadata.json", "model.weights.h5"} == set(zipfile.ZipFile(io.BytesIO(keras_file)).namelist())
    h5_file = api.http.get(f"/v1/jobs/{job['id']}/model", params={"format": "h5"}).content
    with h5py.File(io.BytesIO(h5_file)) as f:
        assert "model_config" in f.attrs and "training_config" in f.attrs
    for content, suffix in ((keras_file, ".keras"), (h5_file, ".h5")):
        model = _load(content, suffix, tmp_path)
        np.testing.assert_allclose(model.predict(data["x"][:5], verbose=0), want, rtol=1e-6)
        assert model.compiled and model.loss == "mse"
    bad = api.http.get(f"/v1/jobs/{job['id']}/model", params={"format": "pickle"})
    assert bad.status_code == 422


def _keras_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_untrusted_model_files_are_refused_with_422(api, tmp_path):
    model = engine.Sequential([engine.Input((3,)), engine.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    good = dict((n, zipfile.ZipFile(tmp_path / "m.keras").read(n)) for n in ("config.json", "metadata.json",
                                                                            "model.weights.h5"))
    lambda_config = json.loads(good["config.json"])
    lambda_config["config"]["layers"].append({"class_name": "Lambda", "config": {"function": "print"}})
    model.save_weights(tmp_path / "w.h5")
    cases = {
        "pickle in the archive": ("m.keras", _keras_zip({**good, "model.pkl": b"\x80\x04N."})),
        "Lambda layer": ("m.keras", _keras_zip({**good, "config.json": json.dumps(lambda_config).encode()})),
        "not a model file name": ("m.txt", b"hello"),
        "name and content disagree": ("m.h5", _keras_zip(good)),
        "weights only": ("w.h5", (tmp_path / "w.h5").read_bytes()),
        "not JSON": ("m.keras", _keras_zip({**good, "config.json": b"{"})),
    }
    for what, (name, content) in cases.items():
        answer = _upload(api, name, content)
        assert answer.status_code == 422, (what, answer.text)
        assert answer.json()["error"]["field"].startswith("file"), what
    assert _upload(api, "m.keras", _keras_zip(good)).status_code == 201


def test_keras3_keras_file_imports_with_keras3_semantics(api, tmp_path):
    """A ``.keras`` written by real Keras 3: imported as it is, its weights downloadable as a .h5 model."""
    answer = _upload(api, "two_output.keras", (KERAS3 / "keras_two_output.keras").read_bytes())
    assert answer.status_code == 201, answer.text
    imported = answer.json()
    assert imported["keras_version"] is None and "keras_version" not in imported["model"]
    original = engine.load_model(KERAS3 / "keras_two_output.keras", compile=False)
    got = api.http.get(f"/v1/jobs/{imported['id']}/model", params={"format": "h5"})
    model = _load(got.content, ".h5", tmp_path)
    for a, b in zip(model.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
