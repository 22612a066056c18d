"""The API's contract without training: error shape, auth and tenant isolation, loopback-only default,
job records in Redis, cancel of a queued job taken off RQ's queue, and the dashboard page."""
from __future__ import annotations

import numpy as np
import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from service.cli import is_loopback, main
from service.client import Client
from tests.service.helpers import dense_spec
from worker import layout, lifecycle, queues
from worker.records import Records
from worker.spec import JobSpec
from worker.status import JobKind
from worker.store import Store, new_id


def test_health_and_openapi(api):
    response = api.http.get("/healthz")
    assert response.status_code == 503  # no worker is alive
    assert response.json() == {"status": "unavailable", "redis": True, "workers": 0, "gpu_workers": [], "version": "0.1.0"}
    paths = api.http.get("/openapi.json").json()["paths"]
    for path in ("/v1/datasets", "/v1/jobs", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/predict"):
        assert path in paths
    assert "fitq" in api.http.get("/").text and api.http.get("/docs").status_code == 200


def test_errors_have_one_shape(api):
    cases = [
        (api.http.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}), 400),
        (api.http.get("/v1/jobs/job_0123456789abcdef"), 404),
        (api.http.get("/v1/jobs/../../etc/passwd"), 404),
        (api.http.get("/v1/datasets/..%2F..%2Fetc"), 404),
        (api.http.get("/nowhere"), 404),
        (api.http.post("/v1/jobs", json={"model": {}, "compile": {"loss": "mse"}, "data": {"x": "a/b"}}), 422),
        (api.http.get("/v1/jobs", params={"status": "sleeping"}), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) <= {"type", "message", "field"} and error["message"]


def test_spec_field_errors_name_the_field(api):
    response = api.http.post("/v1/jobs", json={"model": {"class_name": "Sequential", "config": {}},
                                               "compile": {"loss": "mse"}, "data": {"x": "ds_0/x"},
                                               "fit": {"epochs": 2, "bacth_size": 3}})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "fit.bacth_size"
    response = api.http.post("/v1/jobs", json={"model": "{\"class_name\": ", "compile": {"loss": "mse"},
                                               "data": {"x": "ds_0/x"}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "model"
    response = api.http.post("/v1/jobs", json={"model": {"class_name": "Sequential"}, "compile": {"loss": "mse"},
                                               "data": {"x": "a/b"},
                                               "fit": {"callbacks": [{"class_name": "LambdaCallback"}]}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "fit.callbacks[0].class_name"


def test_tokens_isolate_tenants(settings, make_api):
    served = make_api(settings.model_copy(update={"api_tokens": {"tok-a": "alice", "tok-b": "bob"}}))
    assert Client(served.url).http.get("/v1/datasets").status_code == 401
    assert Client(served.url, "wrong").http.get("/v1/datasets").json()["error"]["type"] == "unauthorized"
    alice, bob = Client(served.url, "tok-a"), Client(served.url, "tok-b")
    ds = alice.upload_arrays({"x": np.zeros((2, 3))})
    assert [d["id"] for d in alice.datasets()] == [ds["id"]]
    assert bob.datasets() == []
    assert bob.http.get(f"/v1/datasets/{ds['id']}").status_code == 404
    assert bob.http.delete(f"/v1/datasets/{ds['id']}").status_code == 404
    assert alice.http.get(f"/v1/datasets/{ds['id']}").status_code == 200


def test_jobs_of_other_tenants_are_invisible(settings, make_api, redis_conn):
    served = make_api(settings.model_copy(update={"api_tokens": {"tok-a": "alice", "tok-b": "bob"}}))
    records = Records(redis_conn, Store(settings.data_dir))
    job_id = new_id("job")
    records.create(job_id, "alice", "train", "mine")
    alice, bob = Client(served.url, "tok-a"), Client(served.url, "tok-b")
    assert alice.job(job_id)["name"] == "mine"
    assert alice.jobs()["total"] == 1 and bob.jobs()["total"] == 0
    for path in ("", "/history", "/events", "/model", "/weights"):
        assert bob.http.get(f"/v1/jobs/{job_id}{path}").status_code == 404
    assert bob.http.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
    assert alice.cancel(job_id)["status"] == "canceled"


def test_serve_refuses_public_host_without_tokens(monkeypatch, capsys):
    monkeypatch.delenv("FITQ_API_TOKENS", raising=False)
    from worker.settings import get_settings

    get_settings.cache_clear()
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "without API tokens" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_cancel_queued_job_removes_it_from_rq(settings, redis_conn):
    records = Records(redis_conn, Store(settings.data_dir))
    job_id = lifecycle.submit(records, redis_conn, settings, "public", JobKind.TRAIN,
                              JobSpec.model_validate(dense_spec("ds_0000000000000000")), None)["id"]
    queue = Queue(queues.TRAIN_QUEUE, connection=redis_conn, serializer=JSONSerializer)
    assert queue.job_ids == [queues.rq_job_id(job_id, 1)]
    rq_job = queue.fetch_job(queues.rq_job_id(job_id, 1))
    assert rq_job.timeout == settings.job_timeout and rq_job.result_ttl == settings.result_ttl
    assert rq_job.args == [job_id, 1]
    assert lifecycle.cancel(records, redis_conn, job_id)["status"] == "canceled"
    assert queue.job_ids == []
    with pytest.raises(Exception) as err:
        lifecycle.cancel(records, redis_conn, job_id)
    assert getattr(err.value, "status", None) == 409
    events = [(kind, data["status"]) for _, kind, data in records.read_events(job_id)]
    assert events == [("status", "queued"), ("status", "canceled")]


def test_abandoned_running_job_is_requeued_with_next_attempt(settings, redis_conn):
    records = Records(redis_conn, Store(settings.data_dir))
    job_id = new_id("job")
    records.create(job_id, "public", "train", None)
    assert records.transition(job_id, ["queued"], "running", expect_attempt=1)
    records.beat(job_id, 1, ttl=30)
    assert lifecycle.requeue_abandoned(records, redis_conn, settings) == []
    redis_conn.delete(layout.alive_key(job_id))
    assert lifecycle.requeue_abandoned(records, redis_conn, settings) == [job_id]
    assert records.fields(job_id, "status", "attempt") == {"status": "queued", "attempt": 2}
    queue = Queue(queues.TRAIN_QUEUE, connection=redis_conn, serializer=JSONSerializer)
    assert queue.job_ids == [queues.rq_job_id(job_id, 2)]
    assert not records.transition(job_id, ["queued"], "running", expect_attempt=1)


def test_jobs_survive_redis_losing_its_data(settings, redis_conn, make_api):
    records = Records(redis_conn, Store(settings.data_dir))
    job_id = new_id("job")
    records.create(job_id, "public", "train", "kept")
    records.transition(job_id, ["queued"], "running")
    records.transition(job_id, ["running"], "succeeded", history={"loss": [0.5, 0.25]}, epoch=[0, 1])
    waiting = new_id("job")
    records.create(waiting, "public", "train", "waiting")
    redis_conn.flushall()
    with Client(make_api().url) as api:
        assert api.job(job_id)["status"] == "succeeded"
        assert api.history(job_id) == {"epoch": [0, 1], "history": {"loss": [0.5, 0.25]}}
        listing = api.jobs()
        assert [j["id"] for j in listing["jobs"]] == [waiting, job_id]
        assert api.job(waiting)["status"] == "queued" and api.job(waiting)["attempt"] == 2
    queue = Queue(queues.TRAIN_QUEUE, connection=redis_conn, serializer=JSONSerializer)
    assert queue.job_ids == [queues.rq_job_id(waiting, 2)]


def test_dashboard_pages_have_urls_and_their_assets_are_served(api):
    import re

    page = api.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path in ("/jobs/job_0123456789abcdef", "/datasets", "/compare?jobs=a,b", "/submit"):
        assert api.http.get(path).text == page.text  # one page; its script shows the view of the URL
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/vendor/uPlot.iife.min.js" in assets and "/static/js/app.js" in assets
    for asset in assets:
        assert api.http.get(asset).status_code == 200, asset
    for module in re.findall(r'from "\./([a-z]+\.js)"', api.http.get("/static/js/app.js").text):
        assert api.http.get(f"/static/js/{module}").status_code == 200, module
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))  # nothing from elsewhere
