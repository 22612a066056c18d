"""Chaos under a real `fitq serve`: SIGKILL of a worker (parent and horse), SIGKILL of the embedded
Redis, and FLUSHALL of Redis while a job trains. Each time the job (seeded, shuffled) ends ``succeeded``
with every epoch once in its History and the same weights as the same job run without a fault, and
nothing is restarted by hand."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import redis

from service.client import Client
from tests.conftest import FAST_TIMINGS, ROOT
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker import layout
from worker.redis_server import free_port

EPOCHS = 8
SAMPLES = 2048  # about half a second an epoch here


class Serve:
    """`fitq serve` as a subprocess with its embedded Redis and ``workers`` workers."""

    def __init__(self, tmp_path: Path, workers: int = 1, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = tmp_path / "data"
        self.log = tmp_path / "serve.log"
        self.env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FITQ_API_TOKENS")}
        self.env.update(FAST_TIMINGS, FITQ_DATA_DIR=str(self.data), PYTHONPATH=str(ROOT), **env)
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.client = Client(self.url, timeout=10)

    def __enter__(self) -> "Serve":
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
                                      "--workers", str(self.workers), "--log-level", "warning"],
                                     env=self.env, cwd=ROOT, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.health().get("workers") == self.workers, timeout=60, interval=0.1, what="fitq serve")
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()

    def health(self) -> dict:
        try:
            return self.client.http.get("/healthz").json()
        except (httpx.HTTPError, ValueError):
            return {}

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def redis_process(self) -> psutil.Process:
        [proc] = [c for c in self.children() if "redis-server" in " ".join(c.cmdline())]
        return proc

    def worker_processes(self) -> list[psutil.Process]:
        return [c for c in self.children() if "worker" in c.cmdline()]

    def redis(self) -> redis.Redis:
        port = int(" ".join(self.redis_process().cmdline()).rsplit(":", 1)[1].split()[0])
        password = (self.data / layout.REDIS_DIR / layout.REDIS_PASSWORD).read_text().strip()
        return redis.Redis(port=port, password=password)

    def start_job(self, epochs: int = EPOCHS) -> tuple[str, str]:
        """Runs the job once undisturbed (the reference), submits it again and returns both ids once the
        second has finished two epochs."""
        ds = self.client.upload_arrays(regression_arrays(n=SAMPLES))["id"]
        spec = {**dense_spec(ds, epochs=epochs, batch_size=16, shuffle=True), "seed": 11}
        reference = self.client.submit(spec)["id"]
        assert self.finished(reference)["status"] == "succeeded"
        job = self.client.submit(spec)
        wait_for(lambda: len(self.client.job(job["id"])["epoch"]) >= 2, timeout=60, interval=0.05,
                 what="two epochs")
        return job["id"], reference

    def finished(self, job_id: str, timeout: float = 60) -> dict:
        def done():
            try:
                job = self.client.job(job_id)
            except Exception:  # noqa: BLE001 - 503s while Redis is away
                return None
            return job if job["status"] in ("succeeded", "failed", "canceled") else None

        return wait_for(done, timeout=timeout, interval=0.1, what=f"job {job_id} to finish")


def assert_complete(serve: Serve, job: dict, reference: str) -> None:
    """Succeeded, every epoch once, the reference's History and bit-identical weights."""
    assert job["status"] == "succeeded", (job, serve.log.read_text()[-3000:])
    assert job["epoch"] == list(range(EPOCHS))
    history = serve.client.history(job["id"])
    assert history["epoch"] == list(range(EPOCHS))
    assert all(len(values) == EPOCHS for values in history["history"].values())
    assert history == serve.client.history(reference)
    for ours, theirs in zip(serve.client.weights(job["id"]), serve.client.weights(reference), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def kill_family(proc: psutil.Process) -> None:
    """SIGKILLs a process and its children (a worker and its horse)."""
    for p in [proc, *proc.children(recursive=True)]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def test_killed_worker_is_restarted_and_the_job_resumes(tmp_path):
    with Serve(tmp_path, workers=1) as serve:
        job_id, reference = serve.start_job()
        [worker] = serve.worker_processes()
        assert worker.children(), "the job runs in the worker's horse"
        kill_family(worker)
        wait_for(lambda: serve.health().get("workers") == 0, timeout=10, what="the dead worker to stop counting")
        job = serve.finished(job_id)
        assert_complete(serve, job, reference)
        assert job["attempt"] == 2
        [again] = serve.worker_processes()
        assert again.pid != worker.pid
        assert "worker 1 (pid" in serve.log.read_text() and "restarted" in serve.log.read_text()


def test_killed_redis_is_restarted_and_workers_ride_it_out(tmp_path):
    with Serve(tmp_path, workers=1, FITQ_RESTART_BACKOFF="2") as serve:
        job_id, reference = serve.start_job()
        workers = sorted(p.pid for p in serve.worker_processes())
        old = serve.redis_process()
        old.send_signal(signal.SIGKILL)
        response = serve.client.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 503 and response.json()["error"]["type"] == "unavailable"
        assert serve.client.http.get("/healthz").status_code == 503
        wait_for(lambda: serve.health().get("status") == "ok", timeout=20, interval=0.1, what="Redis back")
        assert serve.redis_process().pid != old.pid
        job = serve.finished(job_id)
        assert_complete(serve, job, reference)
        assert job["attempt"] == 1, "the job's process rode out the outage"
        assert sorted(p.pid for p in serve.worker_processes()) == workers, "the workers survived"


def test_emptied_redis_is_restored_while_a_job_runs(tmp_path):
    with Serve(tmp_path, workers=1) as serve:
        job_id, reference = serve.start_job()
        workers = sorted(p.pid for p in serve.worker_processes())
        conn = serve.redis()
        conn.flushall()
        wait_for(lambda: conn.exists(layout.INSTANCE), timeout=30, what="the scanner to notice")
        job = serve.finished(job_id)
        assert_complete(serve, job, reference)
        assert job["attempt"] >= 2
        assert sorted(p.pid for p in serve.worker_processes()) == workers, "nothing was restarted"
        assert serve.client.jobs()["total"] == 2, "the finished reference is restored too"
