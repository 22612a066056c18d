"""``GET /v1/jobs/{id}``, the read dashboards poll: every field of the Job model, the same bytes as the
model's own encoding, the store's copy when Redis lacks the record, others' jobs invisible."""
from __future__ import annotations

from service.client import Client
from service.schemas import Job, job_json
from worker import layout
from worker.records import Records, decode
from worker.status import JobStatus
from worker.store import Store, new_id

JOB_FIELDS = ["id", "kind", "name", "status", "attempt", "created_at", "started_at", "finished_at", "progress",
              "epoch", "history", "error", "cancel_requested", "parent", "outputs"]


def finished_record(records: Records, tenant: str = "public") -> str:
    """A training job that ran two epochs and failed, with progress, History (a None in it) and an error."""
    job_id = new_id("job")
    records.create(job_id, tenant, "train", "two epochs", {"device": "cpu"})
    records.transition(job_id, [JobStatus.QUEUED], JobStatus.RUNNING, started_at=1.5)
    records.event(job_id, "progress", {}, progress={"epoch": 1, "epochs": 2, "batch": 4, "steps": 4,
                                                    "logs": {"loss": 0.25, "mae": None}})
    records.transition(job_id, [JobStatus.RUNNING], JobStatus.FAILED, finished_at=2.5, epoch=[0, 1],
                       history={"loss": [0.5, 0.25], "val_loss": [None, 0.3]},
                       error={"type": "ValueError", "message": "boom"})
    return job_id


def test_job_json_is_the_job_models_encoding(settings, redis_conn):
    records = Records(redis_conn, Store(settings.data_dir))
    fresh = new_id("job")
    records.create(fresh, "public", "train", None)
    predict = new_id("job")
    records.create(predict, "public", "predict", "p", {"parent": fresh})
    records.transition(predict, [JobStatus.QUEUED], JobStatus.RUNNING)
    records.transition(predict, [JobStatus.RUNNING], JobStatus.SUCCEEDED,
                       outputs={"out": {"shape": [3, 1], "dtype": "float32"}})
    for job_id in (fresh, predict, finished_record(records)):
        raw = redis_conn.hgetall(layout.job_key(job_id))
        assert job_json(raw) == Job.model_validate(decode(raw)).model_dump_json().encode()


def test_job_read_answers_every_field(api, settings, redis_conn):
    job_id = finished_record(Records(redis_conn, Store(settings.data_dir)))
    response = api.http.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == JOB_FIELDS
    assert body == {"id": job_id, "kind": "train", "name": "two epochs", "status": "failed", "attempt": 1,
                    "created_at": body["created_at"], "started_at": 1.5, "finished_at": 2.5,
                    "progress": {"epoch": 1, "epochs": 2, "batch": 4, "steps": 4, "logs": {"loss": 0.25, "mae": None}},
                    "epoch": [0, 1], "history": {"loss": [0.5, 0.25], "val_loss": [None, 0.3]},
                    "error": {"type": "ValueError", "message": "boom"}, "cancel_requested": False,
                    "parent": None, "outputs": None}
    assert isinstance(body["created_at"], float)


def test_job_read_falls_back_to_the_store(api, settings, redis_conn):
    job_id = finished_record(Records(redis_conn, Store(settings.data_dir)))
    from_redis = api.http.get(f"/v1/jobs/{job_id}")
    redis_conn.delete(layout.job_key(job_id))  # Redis lost this record (the marker stays: no restore runs)
    from_store = api.http.get(f"/v1/jobs/{job_id}")
    assert from_store.status_code == 200
    assert from_store.content == from_redis.content and from_store.headers["etag"] == from_redis.headers["etag"]
    assert api.http.get(f"/v1/jobs/{new_id('job')}").status_code == 404


def test_job_read_of_another_tenant_is_not_found(settings, make_api, redis_conn):
    served = make_api(settings.model_copy(update={"api_tokens": {"tok-a": "alice", "tok-b": "bob"}}))
    records = Records(redis_conn, Store(settings.data_dir))
    job_id = finished_record(records, tenant="alice")
    with Client(served.url, "tok-a") as alice, Client(served.url, "tok-b") as bob, Client(served.url) as nobody:
        assert alice.job(job_id)["id"] == job_id
        answer = bob.http.get(f"/v1/jobs/{job_id}")
        assert answer.status_code == 404 and answer.json()["error"] == {
            "type": "not_found", "message": f"job {job_id!r} does not exist", "field": "id"}
        assert nobody.http.get(f"/v1/jobs/{job_id}").status_code == 401
        redis_conn.delete(layout.job_key(job_id))
        assert bob.http.get(f"/v1/jobs/{job_id}").status_code == 404
        assert alice.job(job_id)["status"] == "failed"


def test_head_of_a_job_answers_its_headers_without_the_body(api, settings, redis_conn):
    job_id = finished_record(Records(redis_conn, Store(settings.data_dir)))
    got, head = api.http.get(f"/v1/jobs/{job_id}"), api.http.head(f"/v1/jobs/{job_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"] and head.headers["content-type"] == "application/json"
    assert api.http.head(f"/v1/jobs/{new_id('job')}").status_code == 404
