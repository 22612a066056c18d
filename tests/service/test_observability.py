"""What other dashboards and operators read: ETag / 304 on job, History and list reads, Prometheus
``/metrics``, ``/docs`` and ``/redoc`` with no CDN, a job's spec / summary / layer graph / event log,
a finished job's final progress, and JSON log lines carrying job ids."""
from __future__ import annotations

import json
import logging
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker import logs


def finished_job(api, workers, epochs: int = 3) -> dict:
    workers.start(1)
    ds = api.upload_arrays(regression_arrays(n=64))["id"]
    job = api.submit(dense_spec(ds, epochs=epochs, batch_size=16))
    done = api.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    return done


def test_etag_and_304_on_job_history_and_list_reads(api, workers):
    job = finished_job(api, workers, epochs=2)
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/history", "/v1/jobs", "/v1/jobs?status=succeeded",
                 "/v1/datasets"):
        first = api.http.get(path)
        tag = first.headers["etag"]
        assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{32}"', tag), path
        again = api.http.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag, path
        assert api.http.get(path, headers={"If-None-Match": f'"other", W/{tag}'}).status_code == 304
        assert api.http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # a change of the resource changes its tag: a new job changes the list, not the finished job
    listing = api.http.get("/v1/jobs")
    job_tag = api.http.get(f"/v1/jobs/{job['id']}").headers["etag"]
    ds = api.datasets()[0]["id"]
    api.submit(dense_spec(ds, epochs=1))
    assert api.http.get("/v1/jobs", headers={"If-None-Match": listing.headers["etag"]}).status_code == 200
    assert api.http.get(f"/v1/jobs/{job['id']}", headers={"If-None-Match": job_tag}).status_code == 304
    # errors, writes and event streams carry no tag
    assert "etag" not in api.http.get("/v1/jobs/job_0123456789abcdef").headers
    assert "etag" not in api.http.post(f"/v1/jobs/{job['id']}/cancel").headers


def test_finished_job_progress_is_final(api, workers):
    job = finished_job(api, workers, epochs=3)
    # 64 samples in batches of 16: 4 steps an epoch; progress is the last epoch's last step
    assert job["progress"]["epoch"] == 2 and job["progress"]["epochs"] == 3
    assert job["progress"]["batch"] == job["progress"]["steps"] == 4
    assert job["progress"]["logs"]["loss"] == job["history"]["loss"][-1]


def metric_values(text: str) -> dict[tuple, float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_count_jobs_queues_workers_and_durations(api, workers):
    job = finished_job(api, workers, epochs=3)
    ds = api.datasets()[0]["id"]
    queued = api.submit(dense_spec(ds, epochs=1))
    api.cancel(queued["id"])
    api.http.get("/v1/jobs")
    response = api.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = metric_values(response.text)
    assert values[("fitq_jobs", (("status", "succeeded"),))] == 1
    assert values[("fitq_jobs", (("status", "canceled"),))] == 1
    assert values[("fitq_jobs", (("status", "running"),))] == 0
    assert values[("fitq_queue_depth", (("queue", "fitq-train"),))] == 0
    assert values[("fitq_queue_depth", (("queue", "fitq-train-gpu"),))] == 0
    assert values[("fitq_workers_alive", ())] == 1
    assert values[("fitq_redis_up", ())] == 1
    # three epochs of four steps, recorded by the job's forked process
    assert values[("fitq_epoch_seconds_count", ())] == 3
    assert values[("fitq_step_seconds_count", ())] == 12
    assert values[("fitq_epoch_seconds_bucket", (("le", "+Inf"),))] == 3
    assert 0 < values[("fitq_step_seconds_sum", ())] <= values[("fitq_epoch_seconds_sum", ())]
    latency = ("fitq_http_request_duration_seconds_count", (("method", "GET"), ("route", "/v1/jobs/{job_id}"),
                                                            ("status", "200")))
    assert values[latency] >= 1
    assert job["id"] not in response.text  # no per-job label: bounded cardinality


def test_queue_depth_counts_waiting_jobs(api, redis_conn):
    ds = api.upload_arrays(regression_arrays(n=16))["id"]
    for _ in range(2):
        api.submit(dense_spec(ds, epochs=1))
    values = metric_values(api.http.get("/metrics").text)
    assert values[("fitq_queue_depth", (("queue", "fitq-train"),))] == 2
    assert values[("fitq_jobs", (("status", "queued"),))] == 2
    assert values[("fitq_workers_alive", ())] == 0


def test_docs_and_redoc_are_served_without_a_cdn(api):
    for page, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")), ("/redoc", ("redoc.standalone.js",))):
        html = api.http.get(page).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls and all(u.startswith("/") for u in urls), (page, urls)  # nothing off this server
        for asset in assets:
            url = next(u for u in urls if u.endswith(asset))
            response = api.http.get(url)
            assert response.status_code == 200 and len(response.content) > 50_000, url
        assert "fonts.googleapis" not in html and "cdn" not in html.lower()


def test_spec_summary_graph_and_log_of_a_job(api, workers):
    job = finished_job(api, workers, epochs=2)
    spec = api.http.get(f"/v1/jobs/{job['id']}/spec").json()
    assert spec["fit"]["epochs"] == 2 and spec["compile"]["loss"] == "mse"
    body = api.http.get(f"/v1/jobs/{job['id']}/summary").json()
    assert "Total params: 49" in body["summary"] and "Dense" in body["summary"]
    graph = body["graph"]
    assert [n["class_name"] for n in graph["nodes"]] == ["InputLayer", "Dense", "Dense"]
    assert [n["params"] for n in graph["nodes"]] == [0, 40, 9]
    names = [n["name"] for n in graph["nodes"]]
    assert graph["edges"] == [{"source": names[0], "target": names[1]}, {"source": names[1], "target": names[2]}]
    assert graph["inputs"] == names[:1] and graph["outputs"] == names[2:]
    events = api.log(job["id"])
    assert [(e["type"], e["data"].get("status")) for e in events] == [
        ("status", "queued"), ("status", "running"), ("epoch", None), ("epoch", None), ("status", "succeeded")]
    assert events[0]["time"] <= events[-1]["time"] and job["created_at"] - 1 < events[0]["time"]
    with_progress = api.http.get(f"/v1/jobs/{job['id']}/log", params={"progress": "true"}).json()["events"]
    assert any(e["type"] == "progress" for e in with_progress)


def test_summary_draws_shared_layers_of_functional_models(api, redis_conn, settings):
    from engine import Input, Model, layers
    from worker.records import Records
    from worker.spec import JobSpec
    from worker.store import Store, new_id

    a, b = Input(shape=(4,), name="left"), Input(shape=(4,), name="right")
    shared = layers.Dense(3, name="shared")
    out = layers.Dense(1, name="out")(layers.Concatenate(name="join")([shared(a), shared(b)]))
    store = Store(settings.data_dir)
    job_id = new_id("job")
    store.write_spec(job_id, JobSpec.model_validate({
        "model": json.loads(Model([a, b], out).to_json()), "compile": {"loss": "mse"},
        "data": {"x": {"left": "ds_0123456789abcdef/x", "right": "ds_0123456789abcdef/x"},
                 "y": "ds_0123456789abcdef/y"}}))
    Records(redis_conn, store).create(job_id, "public", "train", "graph")
    graph = api.http.get(f"/v1/jobs/{job_id}/summary").json()["graph"]
    shared_node = next(n for n in graph["nodes"] if n["name"] == "shared")
    assert shared_node["calls"] == 2 and graph["inputs"] == ["left", "right"] and graph["outputs"] == ["out"]
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("left", "shared"), ("right", "shared"), ("shared", "join"), ("join", "out")}


def test_json_logs_carry_the_job_id(capsys):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logs.configure(logging.INFO, "json", force=True)
    try:
        with logs.job_context("job_0123456789abcdef", 2):
            logging.getLogger("fitq.worker").info("epoch %d done", 3)
        logging.getLogger("fitq.api").warning("no job here")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["job_id"] == "job_0123456789abcdef" and lines[0]["attempt"] == 2
    assert lines[0]["message"] == "epoch 3 done" and lines[0]["level"] == "info" and lines[0]["logger"] == "fitq.worker"
    assert "job_id" not in lines[1] and lines[1]["level"] == "warning"


def test_worker_writes_json_logs_with_the_failing_job_id(api, workers, settings, monkeypatch):
    import shutil

    from worker.store import Store

    monkeypatch.setenv("FITQ_LOG_FORMAT", "json")
    ds = api.upload_arrays(regression_arrays(n=16))["id"]
    job = api.submit(dense_spec(ds, epochs=1))
    # the dataset's files vanish from the store: the job fails in the worker, which says so in its log
    shutil.rmtree(Store(settings.data_dir).dataset_dir(ds))
    workers.start(1)
    assert api.wait(job["id"], timeout=60)["status"] == "failed"
    lines = wait_for(lambda: [json.loads(line) for line in workers.logs[0].read_text().splitlines()
                              if job["id"] in line and '"level": "error"' in line], what="the error log line")
    assert lines[0]["job_id"] == job["id"] and lines[0]["attempt"] == 1 and "exception" in lines[0]
