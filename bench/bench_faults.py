"""Fault benchmark: job-status polling under load while a worker and then Redis are killed.

    python bench/bench_faults.py [--pollers 50] [--jobs 20] [--workers 2] [--max-seconds 240]

Starts ``fitq serve --workers 2`` (embedded Redis, supervised workers) on loopback in a temporary
directory, submits ``--jobs`` small training jobs, and runs ``--pollers`` concurrent keep-alive clients
on ``GET /v1/jobs/{id}`` until every job has ended (or ``--max-seconds`` pass). Meanwhile it SIGKILLs
one worker and its horse (at ``--kill-worker-at`` s) and then the embedded redis-server (at
``--kill-redis-at`` s). It reports, as JSON: requests per second, p50 / p99 latency, answers by kind
(only ``ok`` and the documented ``503 unavailable`` are allowed), and each job's end: a job is lost
when it did not succeed with every epoch once. The exit status is 1 when anything else happened.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.client import Client  # noqa: E402
from tests.service.helpers import dense_spec, regression_arrays  # noqa: E402
from worker.redis_server import free_port  # noqa: E402

TIMINGS = {"FITQ_HEARTBEAT_INTERVAL": "0.5", "FITQ_HEARTBEAT_TTL": "3", "FITQ_SCAN_INTERVAL": "0.5",
           "FITQ_PROGRESS_INTERVAL": "0.2", "FITQ_RESTART_BACKOFF": "1"}
TERMINAL = {"succeeded", "failed", "canceled"}


def kind_of(response: httpx.Response) -> str:
    """``ok``, ``503 unavailable`` (documented), or the status and error type of anything else."""
    if response.status_code == 200:
        return "ok"
    try:
        error_type = response.json()["error"]["type"]
    except (ValueError, KeyError, TypeError):
        error_type = "no error body"
    return f"{response.status_code} {error_type}"


async def poller(client: httpx.AsyncClient, job_ids: list[str], offset: int, stop: asyncio.Event,
                 latencies: list[float], kinds: Counter) -> None:
    """Polls the jobs round-robin until ``stop`` (each poller holds one of the pool's keep-alive connections)."""
    i = offset
    while not stop.is_set():
        job_id = job_ids[i % len(job_ids)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.get(f"/v1/jobs/{job_id}")
            kinds[kind_of(response)] += 1
        except httpx.HTTPError as exc:
            kinds[f"exception {type(exc).__name__}"] += 1
        latencies.append(time.perf_counter() - started)


def kill_family(proc: psutil.Process) -> int:
    family = [proc, *proc.children(recursive=True)]
    for p in family:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    return len(family)


async def chaos(serve: subprocess.Popen, worker_at: float, redis_at: float, t0: float, log: list) -> None:
    """Kills a worker that is running a job (with its horse), then the embedded Redis."""
    await asyncio.sleep(max(0.0, worker_at - (time.monotonic() - t0)))
    children = psutil.Process(serve.pid).children()
    workers = [c for c in children if "worker" in c.cmdline()]
    busy = [w for w in workers if w.children()] or workers
    log.append({"at": round(time.monotonic() - t0, 1), "killed": "worker", "pid": busy[0].pid,
                "processes": kill_family(busy[0])})
    await asyncio.sleep(max(0.0, redis_at - (time.monotonic() - t0)))
    [redis_proc] = [c for c in psutil.Process(serve.pid).children() if "redis-server" in " ".join(c.cmdline())]
    log.append({"at": round(time.monotonic() - t0, 1), "killed": "redis-server", "pid": redis_proc.pid,
                "processes": kill_family(redis_proc)})


async def watch_jobs(url: str, job_ids: list[str], stop: asyncio.Event, deadline: float,
                     chaos_task: asyncio.Task) -> None:
    """Sets ``stop`` once the kills are done and every job has ended (or at ``deadline``)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            if not chaos_task.done():
                await asyncio.sleep(0.5)
                continue
            try:
                listing = (await client.get("/v1/jobs", params={"limit": 500})).json()
                if listing["total"] >= len(job_ids) and all(j["status"] in TERMINAL for j in listing["jobs"]):
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            await asyncio.sleep(0.5)
    stop.set()


async def loop_lag(stop: asyncio.Event, worst: list[float]) -> None:
    """The longest the event loop was late for a 50 ms sleep (a loaded client measures itself)."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.05)
        worst[0] = max(worst[0], time.monotonic() - started - 0.05)


async def load(url: str, serve: subprocess.Popen, job_ids: list[str], args) -> dict:
    stop = asyncio.Event()
    lag = [0.0]
    lag_task = asyncio.create_task(loop_lag(stop, lag))
    latencies: list[float] = []
    kinds: Counter = Counter()
    kills: list = []
    t0 = time.monotonic()
    # One client (one TLS context to build, not 50) whose pool keeps one connection per poller.
    client = httpx.AsyncClient(base_url=url, timeout=30,
                               limits=httpx.Limits(max_connections=args.pollers, max_keepalive_connections=args.pollers))
    pollers = [asyncio.create_task(poller(client, job_ids, i, stop, latencies, kinds)) for i in range(args.pollers)]
    chaos_task = asyncio.create_task(chaos(serve, args.kill_worker_at, args.kill_redis_at, t0, kills))
    await watch_jobs(url, job_ids, stop, t0 + args.max_seconds, chaos_task)
    elapsed = time.monotonic() - t0
    await asyncio.gather(*pollers, lag_task)
    await client.aclose()
    chaos_task.cancel()
    ms = np.asarray(latencies) * 1000
    return {"seconds": round(elapsed, 1), "requests": len(latencies),
            "requests_per_second": round(len(latencies) / elapsed, 1),
            "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 1),
                           "p99": round(float(np.percentile(ms, 99)), 1),
                           "max": round(float(ms.max()), 1)},
            "answers": dict(kinds.most_common()), "kills": kills,
            "client_loop_lag_max_s": round(lag[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--kill-worker-at", type=float, default=5.0)
    parser.add_argument("--kill-redis-at", type=float, default=12.0)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FITQ_API_TOKENS")}
        env.update(TIMINGS, FITQ_DATA_DIR=str(Path(tmp) / "data"), PYTHONPATH=str(ROOT))
        log = open(Path(tmp) / "serve.log", "wb")
        serve = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port",
                                  str(port), "--workers", str(args.workers), "--log-level", "warning"],
                                 env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            client = Client(url, timeout=30)
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.http.get("/healthz").json().get("workers") == args.workers:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise RuntimeError("fitq serve did not come up")
                time.sleep(0.2)
            ds = client.upload_arrays(regression_arrays(n=args.samples))["id"]
            job_ids = [client.submit(dense_spec(ds, epochs=args.epochs))["id"] for _ in range(args.jobs)]
            report = asyncio.run(load(url, serve, job_ids, args))
            ends = Counter()
            lost = []
            for job_id in job_ids:
                job = client.job(job_id)
                ends[f"{job['status']} (attempt {job['attempt']})"] += 1
                if job["status"] != "succeeded" or job["epoch"] != list(range(args.epochs)):
                    lost.append(job_id)
            client.close()
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
        undocumented = {k: v for k, v in report["answers"].items() if k not in ("ok", "503 unavailable")}
        report.update(pollers=args.pollers, jobs=args.jobs, workers=args.workers, job_ends=dict(ends),
                      jobs_lost=lost, undocumented_answers=undocumented)
        print(json.dumps(report, indent=2))
        return 1 if lost or undocumented else 0


if __name__ == "__main__":
    sys.exit(main())
