"""The ``fitq`` command as a user runs it: serve (embedded Redis + workers + API), datasets upload,
submit --follow, jobs, and a clean stop of every process on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from tests.conftest import FAST_TIMINGS, ROOT
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker.redis_server import free_port


def fitq(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_serve_submit_follow_jobs_and_stop(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FITQ_API_TOKENS")}
    env.update(FAST_TIMINGS, FITQ_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), FITQ_URL=url)
    serve = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1",
                              "--log-level", "warning"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        def healthy():
            try:
                return httpx.get(f"{url}/healthz", timeout=1).json()["workers"] == 1
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=60, interval=0.1, what="fitq serve")
        children = psutil.Process(serve.pid).children(recursive=True)
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)
        assert (tmp_path / "data" / "redis").is_dir()

        np.savez(tmp_path / "reg.npz", **regression_arrays(n=64))
        uploaded = fitq("datasets", "upload", str(tmp_path / "reg.npz"), env=env)
        assert uploaded.returncode == 0, uploaded.stderr
        ds = json.loads(uploaded.stdout)["id"]
        (tmp_path / "job.json").write_text(json.dumps(dense_spec(ds, epochs=3)))
        submitted = fitq("submit", str(tmp_path / "job.json"), "--follow", env=env)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "History" in submitted.stdout and "succeeded" in submitted.stdout
        assert "epoch 3:" in submitted.stdout
        listed = fitq("jobs", env=env)
        assert listed.returncode == 0 and "succeeded" in listed.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
    time.sleep(0.2)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
