"""Faults without `fitq serve`: Redis auth, jobs pushed into RQ naming other functions, 503 while Redis
is down (keep-alive connection kept), /healthz by worker heartbeat, the OpenAPI error documents, an
emptied Redis restored by the API's scanner, and the supervisor's restarts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus as RQStatus
from rq.serializers import JSONSerializer

from service.client import Client
from service.supervisor import Supervisor
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker import layout, queues
from worker.redis_server import EmbeddedRedis


def test_embedded_redis_requires_its_generated_password(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", appendonly=False) as server:
        password_file = tmp_path / "redis" / layout.REDIS_PASSWORD
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"
        assert server.password == password_file.read_text().strip() and len(server.password) >= 32
        assert server.password in server.url
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port).set("k", 1)
        assert redis.Redis.from_url(server.url).ping()
        cmdline = open(f"/proc/{server.pid}/cmdline", "rb").read().decode()
        assert server.password not in cmdline, "the password never shows in the process list"
    assert EmbeddedRedis(tmp_path / "redis").password == server.password, "kept across restarts"


def test_worker_runs_only_fitq_tasks(settings, redis_conn, workers, tmp_path):
    marker = tmp_path / "imported"
    module = tmp_path / "fitq_side_effect_module.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('imported')\n\ndef run():\n    return 'ran'\n")
    train = Queue(queues.TRAIN_QUEUE, connection=redis_conn, serializer=JSONSerializer)
    pushed = [train.enqueue_call("os.getpid"), train.enqueue_call("fitq_side_effect_module.run"),
              Queue(queues.TRAIN_QUEUE, connection=redis_conn).enqueue_call("os.getpid")]  # pickled, not JSON
    [proc] = workers.start(1, pythonpath=[tmp_path])
    for job in pushed:
        wait_for(lambda: job.get_status(refresh=True) == RQStatus.FAILED, timeout=30, what=f"{job.id} failed")
        fetched = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
        assert "refused" in fetched.latest_result().exc_string
        assert fetched.return_value() is None
    assert not marker.exists(), "the module was imported"
    assert proc.poll() is None, "the worker keeps serving"
    assert len(train.failed_job_registry) == 3 and len(train) == 0
    assert "refused" in workers.logs[0].read_text()


def test_redis_down_answers_503_and_keeps_the_connection(settings, make_api, tmp_path):
    server = EmbeddedRedis(tmp_path / "own-redis", appendonly=False).start()
    try:
        served = make_api(settings.model_copy(update={"redis_url": server.url}))
        client = Client(served.url)
        first = client.http.get("/v1/jobs")
        assert first.status_code == 200
        connection = first.extensions["network_stream"].get_extra_info("client_addr")
        server.stop()
        for path in ("/v1/jobs", "/v1/jobs/job_0123456789abcdef", "/v1/jobs/job_0123456789abcdef/history"):
            response = client.http.get(path)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["type"] == "unavailable"
            assert int(response.headers["retry-after"]) == settings.retry_after
            assert response.extensions["network_stream"].get_extra_info("client_addr") == connection
        health = client.http.get("/healthz")
        assert health.status_code == 503 and health.json()["redis"] is False
        server.start()
        again = client.http.get("/v1/jobs")
        assert again.status_code == 200
        assert again.extensions["network_stream"].get_extra_info("client_addr") == connection
        client.close()
    finally:
        server.stop()


def test_event_stream_waits_out_a_redis_restart(settings, make_api, tmp_path):
    server = EmbeddedRedis(tmp_path / "own-redis", appendonly=True).start()
    try:
        client = Client(make_api(settings.model_copy(update={"redis_url": server.url})).url)
        ds = client.upload_arrays(regression_arrays(n=32))["id"]
        job = client.submit(dense_spec(ds, epochs=1))  # no worker: it stays queued
        received = []
        reader = threading.Thread(target=lambda: received.extend(client.events(job["id"])), daemon=True)
        reader.start()
        wait_for(lambda: received, timeout=10, what="the first event")
        server.stop()
        time.sleep(2.5)
        assert reader.is_alive(), "the stream stayed open while Redis was down"
        server.start()
        wait_for(lambda: client.http.get("/v1/jobs").status_code == 200, timeout=10, what="Redis back")
        client.cancel(job["id"])
        reader.join(15)
        assert not reader.is_alive()
        assert [data["status"] for kind, data in received if kind == "status"] == ["queued", "canceled"]
        client.close()
    finally:
        server.stop()


def test_healthz_counts_workers_by_heartbeat(api, workers):
    [proc] = workers.start(1)
    wait_for(lambda: api.http.get("/healthz").status_code == 200, timeout=10, what="a live worker")
    assert api.http.get("/healthz").json()["workers"] == 1
    workers.kill(proc)
    response = wait_for(lambda: (r := api.http.get("/healthz")).status_code == 503 and r, timeout=10,
                        what="the dead worker to stop counting")
    assert response.json() == {"status": "unavailable", "redis": True, "workers": 0, "gpu_workers": [], "version": "0.1.0"}


def test_openapi_documents_every_error_status_and_the_event_stream(api):
    doc = api.http.get("/openapi.json").json()
    error_ref = "#/components/schemas/ErrorBody"
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert {"400", "401", "404", "409", "413", "422", "429", "503"} <= codes, (method, path)
            for code in ("404", "422", "503"):
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                if path != "/healthz" or code != "503":
                    assert schema == {"$ref": error_ref}, (method, path, code)
    events = doc["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream"]
    assert doc["paths"]["/healthz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Health"}


def test_emptied_redis_is_restored_from_the_store(api, redis_conn, workers):
    ds = api.upload_arrays(regression_arrays(n=64))["id"]
    finished = api.submit(dense_spec(ds, epochs=1))
    workers.start(1)
    assert api.wait(finished["id"], timeout=60)["status"] == "succeeded"
    proc = workers.procs[0]
    workers.kill(proc)
    queued = api.submit(dense_spec(ds, epochs=2))
    redis_conn.flushall()  # the scanner may restore before the next line runs: nothing to assert in between
    wait_for(lambda: api.jobs()["total"] == 2, timeout=10, what="the scanner to restore the records")
    assert api.job(finished["id"])["status"] == "succeeded"
    restored = api.job(queued["id"])
    assert restored["status"] == "queued" and restored["attempt"] == 2
    assert Queue(queues.TRAIN_QUEUE, connection=redis_conn, serializer=JSONSerializer).job_ids == \
        [queues.rq_job_id(queued["id"], 2)]
    workers.start(1)
    done = api.wait(queued["id"], timeout=60)
    assert done["status"] == "succeeded" and done["epoch"] == [0, 1]


def test_supervisor_restarts_a_dead_child_with_backoff():
    supervisor = Supervisor(backoff=0.2, backoff_max=1.0, poll=0.05)
    child = supervisor.add("sleeper", lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    supervisor.run_in_background()
    try:
        first = child.process.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: child.alive() and child.process.pid != first, timeout=10, what="a restart")
        assert child.restarts == 1 and child.delay == 0.2
        second = child.process.pid
        os.kill(second, signal.SIGKILL)  # died again at once: the delay doubles
        wait_for(lambda: child.alive() and child.process.pid != second, timeout=10, what="a second restart")
        assert child.restarts == 2 and child.delay == 0.4
    finally:
        supervisor.stop()
        child.process.kill()
        child.process.wait()


def test_a_worker_alone_restores_an_emptied_redis(settings, redis_conn, workers):
    """No API runs: the worker notices that Redis lost its data and restores records and queues."""
    from tests.service.helpers import dense_spec
    from worker import lifecycle
    from worker.records import Records
    from worker.spec import JobSpec
    from worker.status import JobKind
    from worker.store import Store

    records = Records(redis_conn, Store(settings.data_dir))
    job = lifecycle.submit(records, redis_conn, settings, "public", JobKind.TRAIN,
                           JobSpec.model_validate(dense_spec("ds_0000000000000000")), "kept")["id"]
    lifecycle.cancel(records, redis_conn, job)
    redis_conn.flushall()
    workers.start(1)
    deadline = time.monotonic() + 30
    while not records.exists(job):
        assert time.monotonic() < deadline, "the worker did not restore the emptied Redis within 30 s"
        time.sleep(0.2)
    assert records.get(job)["status"] == "canceled" and records.ids("public") == [job]
