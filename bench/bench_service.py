"""Service benchmark: queue latency, a tiny job's turnaround, and job-status reads per second.

    python bench/bench_service.py [--jobs 30] [--seconds 5]

Starts its own stack in a temporary directory (embedded redis-server, one ``fitq worker``, the API
via ``fitq serve --workers 0`` on a free port) and reports, as JSON:

- submit -> running: from just before ``POST /v1/jobs`` to the worker marking the job running
  (the record's ``started_at``), with the worker idle before each submit; p50 and p99.
- submit -> succeeded of a 1-epoch tiny Dense job, seen by the client through the job's SSE stream.
- ``GET /v1/jobs/{id}`` requests per second, one keep-alive client, and four concurrent clients.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.client import Client  # noqa: E402
from worker.redis_server import EmbeddedRedis, free_port  # noqa: E402

TINY_MODEL = {
    "class_name": "Sequential",
    "config": {"name": "tiny", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 8, "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "out", "units": 1}}]},
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def wait_healthy(url: str, workers: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/healthz", timeout=2).json()
            if health["redis"] and health["workers"] >= workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the stack did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as redis_srv:
        port = free_port()
        env = {**os.environ, "REDIS_URL": redis_srv.url, "FITQ_DATA_DIR": str(Path(tmp) / "data"),
               "PYTHONPATH": str(ROOT)}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": ROOT}
        procs = [subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--log-level", "warning"], **quiet),
                 subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers",
                                   "0", "--log-level", "warning"], **quiet)]
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, workers=1)
            client = Client(url)
            rng = np.random.default_rng(0)
            ds = client.upload_arrays({"x": rng.normal(size=(64, 4)).astype("float32"),
                                       "y": rng.normal(size=(64, 1)).astype("float32")})["id"]
            spec = {"model": TINY_MODEL, "compile": {"optimizer": "adam", "loss": "mse"},
                    "data": {"x": f"{ds}/x", "y": f"{ds}/y"}, "fit": {"epochs": 1, "batch_size": 32, "verbose": 0}}
            client.wait(client.submit(spec)["id"], timeout=60)  # warm-up: first fork, imports

            to_running, to_succeeded, job_id = [], [], None
            for _ in range(args.jobs):
                t0 = time.time()
                job_id = client.submit(spec)["id"]
                for event, data in client.events(job_id):
                    if event == "status" and data["status"] == "succeeded":
                        to_succeeded.append(time.time() - t0)
                record = client.job(job_id)
                assert record["status"] == "succeeded", record
                to_running.append(record["started_at"] - t0)

            def reads(counter: list[int], stop: float) -> None:
                with httpx.Client(base_url=url) as http:
                    while time.monotonic() < stop:
                        http.get(f"/v1/jobs/{job_id}").raise_for_status()
                        counter[0] += 1

            rps = {}
            for clients in (1, 4):
                counters = [[0] for _ in range(clients)]
                stop = time.monotonic() + args.seconds
                threads = [threading.Thread(target=reads, args=(c, stop)) for c in counters]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                rps[f"{clients}_client"] = round(sum(c[0] for c in counters) / args.seconds, 1)

            print(json.dumps({
                "jobs": args.jobs,
                "submit_to_running_ms": {"p50": round(1000 * percentile(to_running, 50), 1),
                                         "p99": round(1000 * percentile(to_running, 99), 1)},
                "tiny_1_epoch_submit_to_succeeded_ms": {"p50": round(1000 * percentile(to_succeeded, 50), 1),
                                                        "p99": round(1000 * percentile(to_succeeded, 99), 1)},
                "get_job_requests_per_second": rps,
                "cpu_count": os.cpu_count(),
            }, indent=2))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(20)


if __name__ == "__main__":
    main()
