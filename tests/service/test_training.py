"""End to end: jobs submitted over HTTP, trained by real worker processes on a real Redis."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from service.client import ApiError
from tests.service.helpers import dense_spec, regression_arrays, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "service"


def news_arrays(n: int = 32, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    headlines = rng.integers(0, 50, size=(n, 8)).astype("int32")
    labels = rng.integers(0, 2, size=(n, 1)).astype("float32")
    return {"headlines": headlines, "extra": rng.normal(size=(n, 5)).astype("float32"), "labels": labels}


def news_spec(ds: str, epochs: int = 2) -> dict:
    return {
        "name": "news-model",
        "model": json.loads((FIXTURES / "news_small.json").read_text()),
        "compile": {"optimizer": {"class_name": "RMSprop", "config": {"learning_rate": 0.001}},
                    "loss": {"main_output": "binary_crossentropy", "aux_output": "binary_crossentropy"},
                    "loss_weights": {"main_output": 1.0, "aux_output": 0.2},
                    "metrics": {"main_output": ["accuracy"], "aux_output": ["accuracy"]}},
        "data": {"x": {"main_input": f"{ds}/headlines", "aux_input": f"{ds}/extra"},
                 "y": {"main_output": f"{ds}/labels", "aux_output": f"{ds}/labels"}},
        "fit": {"epochs": epochs, "batch_size": 8, "validation_split": 0.25, "verbose": 0},
    }


def test_news_model_over_http_has_keras_history_and_serves_predictions(api, workers):
    from engine import model_from_json

    workers.start(1)
    ds = api.upload_arrays(news_arrays())["id"]
    job = api.submit(news_spec(ds))
    assert job["status"] == "queued" and job["attempt"] == 1
    done = api.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    history = api.history(job["id"])
    assert sorted(history["history"]) == json.loads((FIXTURES / "news_small_history_keys.json").read_text())
    assert history["epoch"] == [0, 1] and all(len(v) == 2 for v in history["history"].values())
    assert done["started_at"] <= done["finished_at"]

    model = model_from_json(json.dumps(api.model(job["id"])))
    model.set_weights(api.weights(job["id"]))
    x = news_arrays(n=5, seed=9)
    expected = model.predict({"main_input": x["headlines"], "aux_input": x["extra"]}, verbose=0)
    rows = api.predict(job["id"], instances=[{"main_input": h.tolist(), "aux_input": e.tolist()}
                                             for h, e in zip(x["headlines"], x["extra"])])["predictions"]
    columns = api.predict(job["id"], inputs={"main_input": x["headlines"], "aux_input": x["extra"]})["outputs"]
    for name, want in zip(model.output_names, expected):
        np.testing.assert_allclose(np.array([r[name] for r in rows]), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.array(columns[name]), want, rtol=1e-5, atol=1e-6)

    scores = api.evaluate(job["id"], x={"main_input": f"{ds}/headlines", "aux_input": f"{ds}/extra"},
                          y={"main_output": f"{ds}/labels", "aux_output": f"{ds}/labels"})
    assert {"loss", "main_output_loss", "aux_output_loss"} <= set(scores)

    pred_job = api.predict(job["id"], dataset={"main_input": f"{ds}/headlines", "aux_input": f"{ds}/extra"})
    assert pred_job["kind"] == "predict" and api.wait(pred_job["id"], timeout=60)["status"] == "succeeded"
    full = api.predictions(pred_job["id"])
    assert full["main_output"].shape == (32, 1) and full["aux_output"].shape == (32, 1)


def test_sse_delivers_status_progress_and_epochs_in_order(api, workers):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=256))["id"]
    job = api.submit(dense_spec(ds, epochs=3, batch_size=8))
    events = list(api.events(job["id"]))
    statuses = [d["status"] for e, d in events if e == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    epochs = [d["epoch"] for e, d in events if e == "epoch"]
    assert epochs == [0, 1, 2]
    kinds = [e for e, _ in events]
    assert kinds.index("epoch") > kinds.index("progress") > 1
    assert kinds[-1] == "status"
    last_epoch = [d for e, d in events if e == "epoch"][-1]
    assert last_epoch["logs"]["loss"] == pytest.approx(api.history(job["id"])["history"]["loss"][-1])

    raw = api.http.get(f"/v1/jobs/{job['id']}/events").text
    ids = [line[4:] for line in raw.splitlines() if line.startswith("id: ")]
    assert len(ids) == len(events) and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    resumed = list(api.events(job["id"], last_event_id=ids[1]))
    assert resumed == events[2:]


def test_cancel_queued_and_running_jobs(api, workers, data_dir):
    ds = api.upload_arrays(regression_arrays(n=4096))["id"]
    queued = api.submit(dense_spec(ds, epochs=2))
    assert api.cancel(queued["id"])["status"] == "canceled"
    workers.start(1)
    running = api.submit(dense_spec(ds, epochs=500, batch_size=4))
    wait_for(lambda: api.job(running["id"])["epoch"], timeout=60, what="a first epoch")
    asked = time.monotonic()
    api.cancel(running["id"])
    done = api.wait(running["id"], timeout=30)
    assert done["status"] == "canceled" and time.monotonic() - asked < 5
    assert len(done["epoch"]) < 500
    assert (data_dir / "jobs" / running["id"] / "checkpoint.json").is_file()
    assert api.job(queued["id"])["status"] == "canceled" and api.job(queued["id"])["started_at"] is None
    with pytest.raises(ApiError) as err:
        api.cancel(running["id"])
    assert err.value.status == 409


def test_two_workers_run_two_jobs_at_once(api, workers):
    workers.start(2)
    ds = api.upload_arrays(regression_arrays(n=2048))["id"]
    jobs = [api.submit(dense_spec(ds, epochs=5, batch_size=8)) for _ in range(2)]
    done = [api.wait(j["id"], timeout=120) for j in jobs]
    assert [d["status"] for d in done] == ["succeeded", "succeeded"]
    a, b = done
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"], "the jobs did not overlap"
    page = api.jobs(status="succeeded", offset=1, limit=1)
    assert page["total"] == 2 and [j["id"] for j in page["jobs"]] == [jobs[0]["id"]]
    assert api.jobs(status="running")["total"] == 0


def test_initial_weights_start_from_a_finished_job(api, workers):
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=64))["id"]
    first = api.wait(api.submit(dense_spec(ds, epochs=2))["id"], timeout=60)
    frozen = dense_spec(ds, epochs=1)
    frozen["compile"]["optimizer"] = {"class_name": "SGD", "config": {"learning_rate": 0.0}}
    frozen["initial_weights"] = first["id"]
    second = api.wait(api.submit(frozen)["id"], timeout=60)
    assert second["status"] == "succeeded", second["error"]
    for a, b in zip(api.weights(first["id"]), api.weights(second["id"])):
        np.testing.assert_array_equal(a, b)
    unknown = api.http.post("/v1/jobs", json={**frozen, "initial_weights": "job_00000000000000ff"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "initial_weights"
    bad_weights = api.http.post("/v1/jobs", json={**frozen, "fit": {"class_weight": {"cat": 2.0}}})
    assert bad_weights.status_code == 422 and bad_weights.json()["error"]["field"] == "fit.class_weight"


def test_bad_specs_are_422_naming_the_field(api):
    ds = api.upload_arrays({**regression_arrays(n=16), "wide": np.zeros((16, 5), "float32"),
                            "floats": np.zeros((16, 8), "float32")})["id"]
    good = dense_spec(ds)

    def submit(spec):
        response = api.http.post("/v1/jobs", json=spec)
        assert response.status_code == 422, response.text
        return response.json()["error"]

    unknown = json.loads(json.dumps(good))
    unknown["model"]["config"]["layers"][1]["class_name"] = "Dense3000"
    error = submit(unknown)
    assert error["field"] == "model" and "Dense3000" in error["message"]

    lam = json.loads(json.dumps(good))
    lam["model"]["config"]["layers"][1] = {"class_name": "Lambda", "config": {"function": "os.system('x')"}}
    assert submit(lam)["field"].startswith("model.config.layers[1]")

    error = submit({**good, "data": {"x": f"{ds}/wide", "y": f"{ds}/y"}})
    assert error["field"] == "data.x" and "(4,)" in error["message"] and "(5,)" in error["message"]

    error = submit({**good, "data": {"x": "ds_00000000deadbeef/x", "y": f"{ds}/y"}})
    assert error["field"] == "data.x" and "does not exist" in error["message"]

    error = submit({**good, "data": {"x": f"{ds}/nope", "y": f"{ds}/y"}})
    assert error["field"] == "data.x" and "no array 'nope'" in error["message"]

    error = submit({**good, "data": {"x": f"{ds}/x", "y": f"{ds}/wide"}})
    assert error["field"] == "data.y"

    error = submit({**good, "compile": {**good["compile"], "loss": {"nope": "mse"}}})
    assert error["field"] == "compile.loss.nope"

    error = submit({**good, "compile": {**good["compile"], "loss": "not_a_loss"}})
    assert error["field"] == "compile.loss"

    error = submit({**good, "compile": {**good["compile"], "optimizer": "sgdd"}})
    assert error["field"] == "compile.optimizer"

    from engine import Input, Model, layers

    ids = Input(shape=(8,), dtype="int32", name="ids")
    int_model = json.loads(Model(ids, layers.Dense(1, name="out")(ids)).to_json())
    error = submit({**good, "model": int_model, "data": {"x": {"ids": f"{ds}/floats"}, "y": {"out": f"{ds}/y"}}})
    assert error["field"] == "data.x.ids" and "integers" in error["message"]
    assert api.jobs()["total"] == 0


def test_worker_killed_mid_job_resumes_from_checkpoint(api, workers):
    """The machine-gone case: worker and job process SIGKILLed; another worker resumes from the last
    epoch checkpoint (weights and optimizer state), and the History equals an uninterrupted run's."""
    (first,) = workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=2048))["id"]
    job = api.submit(dense_spec(ds, epochs=16, batch_size=8))
    wait_for(lambda: len(api.job(job["id"])["epoch"]) >= 2, timeout=60, interval=0.01, what="two epochs")
    workers.kill(first)
    assert api.job(job["id"])["status"] == "running"
    workers.start(1)
    done = api.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempt"] == 2
    assert done["epoch"] == list(range(16))
    assert all(len(v) == 16 for v in done["history"].values())
    assert api.history(job["id"])["epoch"] == list(range(16))

    uninterrupted = api.wait(api.submit(dense_spec(ds, epochs=16, batch_size=8))["id"], timeout=120)
    assert uninterrupted["attempt"] == 1
    for key, values in uninterrupted["history"].items():
        np.testing.assert_allclose(done["history"][key], values, rtol=1e-5, err_msg=key)


def test_dense_predictions_over_rest_equal_engine_predictions(api, workers):
    from engine import model_from_json

    workers.start(1)
    arrays = regression_arrays(n=64)
    ds = api.upload_arrays(arrays)["id"]
    job = api.submit(dense_spec(ds, epochs=2))
    assert api.wait(job["id"], timeout=60)["status"] == "succeeded"
    model = model_from_json(json.dumps(api.model(job["id"])))
    model.set_weights(api.weights(job["id"]))
    x = arrays["x"][:7]
    expected = model.predict(x, verbose=0)
    rows = api.predict(job["id"], instances=x)["predictions"]
    columns = api.predict(job["id"], inputs=x)["outputs"]
    np.testing.assert_allclose(np.array(rows), expected, rtol=1e-6)
    np.testing.assert_allclose(np.array(columns), expected, rtol=1e-6)

    model.compile(loss="mse", metrics=["mae"])
    want = model.evaluate(arrays["x"], arrays["y"], verbose=0, return_dict=True)
    got = api.evaluate(job["id"], x=arrays["x"], y=arrays["y"])
    assert got == pytest.approx({k: float(v) for k, v in want.items()}, rel=1e-5)

    pred_job = api.predict(job["id"], dataset=f"{ds}/x")
    assert api.wait(pred_job["id"], timeout=60)["status"] == "succeeded"
    (stored,) = api.predictions(pred_job["id"]).values()
    np.testing.assert_allclose(stored, model.predict(arrays["x"], verbose=0), rtol=1e-6)

    bad = api.http.post(f"/v1/jobs/{job['id']}/predict", json={"instances": [[1.0, 2.0]]})
    assert bad.status_code == 422 and "(4,)" in bad.json()["error"]["message"]
    both = api.http.post(f"/v1/jobs/{job['id']}/predict", json={"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]})
    assert both.status_code == 422


def two_input_two_output_json() -> dict:
    """The news model's graph with Dense layers only: two named inputs, two named outputs."""
    from engine import Input, Model, layers

    main_input = Input(shape=(6,), name="main_input")
    aux_input = Input(shape=(5,), name="aux_input")
    hidden = layers.Dense(4, activation="relu")(main_input)
    aux_output = layers.Dense(1, activation="sigmoid", name="aux_output")(hidden)
    merged = layers.Concatenate()([hidden, aux_input])
    main_output = layers.Dense(1, activation="sigmoid", name="main_output")(layers.Dense(8, activation="relu")(merged))
    return json.loads(Model(inputs=[main_input, aux_input], outputs=[main_output, aux_output]).to_json())


def test_two_input_two_output_dense_model_with_loss_weights(api, workers):
    from engine import model_from_json

    workers.start(1)
    rng = np.random.default_rng(4)
    arrays = {"a": rng.normal(size=(48, 6)).astype("float32"), "b": rng.normal(size=(48, 5)).astype("float32"),
              "labels": rng.integers(0, 2, size=(48, 1)).astype("float32")}
    ds = api.upload_arrays(arrays)["id"]
    spec = news_spec(ds)
    spec["model"] = two_input_two_output_json()
    spec["data"] = {"x": {"main_input": f"{ds}/a", "aux_input": f"{ds}/b"},
                    "y": [f"{ds}/labels", f"{ds}/labels"]}
    done = api.wait(api.submit(spec)["id"], timeout=60)
    assert done["status"] == "succeeded", done["error"]
    assert sorted(done["history"]) == json.loads((FIXTURES / "news_small_history_keys.json").read_text())
    h = done["history"]
    for i in range(2):
        weighted = h["main_output_loss"][i] + 0.2 * h["aux_output_loss"][i]
        assert h["loss"][i] == pytest.approx(weighted, rel=1e-4)

    model = model_from_json(json.dumps(api.model(done["id"])))
    model.set_weights(api.weights(done["id"]))
    want = model.predict({"main_input": arrays["a"][:3], "aux_input": arrays["b"][:3]}, verbose=0)
    rows = api.predict(done["id"], instances=[{"main_input": a, "aux_input": b}
                                              for a, b in zip(arrays["a"][:3].tolist(), arrays["b"][:3].tolist())])
    cols = api.predict(done["id"], inputs={"aux_input": arrays["b"][:3], "main_input": arrays["a"][:3]})
    for name, expected in zip(model.output_names, want):
        np.testing.assert_allclose([r[name] for r in rows["predictions"]], expected, rtol=1e-6)
        np.testing.assert_allclose(cols["outputs"][name], expected, rtol=1e-6)
    missing = api.http.post(f"/v1/jobs/{done['id']}/predict", json={"instances": [{"main_input": [0] * 6}]})
    assert missing.status_code == 422 and "aux_input" in missing.json()["error"]["message"]


def test_a_tenant_cannot_train_on_another_tenants_dataset(settings, make_api):
    from service.client import Client

    served = make_api(settings.model_copy(update={"api_tokens": {"tok-a": "alice", "tok-b": "bob"}}))
    alice, bob = Client(served.url, "tok-a"), Client(served.url, "tok-b")
    ds = alice.upload_arrays(regression_arrays(n=16))["id"]
    response = bob.http.post("/v1/jobs", json=dense_spec(ds))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "data.x" and "does not exist" in response.json()["error"]["message"]
    assert alice.submit(dense_spec(ds))["status"] == "queued"
    assert bob.jobs()["total"] == 0 and alice.jobs()["total"] == 1


def test_job_whose_process_is_killed_resumes_on_the_same_worker(api, workers):
    """The out-of-memory case: only the job's process dies; its worker lives on and takes the retry."""
    import os
    import signal

    import psutil

    (worker,) = workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=2048))["id"]
    job = api.submit(dense_spec(ds, epochs=16, batch_size=8))
    wait_for(lambda: len(api.job(job["id"])["epoch"]) >= 2, timeout=60, interval=0.01, what="two epochs")
    (horse,) = psutil.Process(worker.pid).children()
    os.kill(horse.pid, signal.SIGKILL)
    done = api.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded" and done["attempt"] == 2
    assert done["epoch"] == list(range(16)) and worker.poll() is None
