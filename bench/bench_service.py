"""Service benchmark: job-status reads per second, submit latency with and without a backlog, the
worker's hand-off between queued jobs, and a tiny job's turnaround.

    python bench/bench_service.py [--jobs 30] [--seconds 4] [--rounds 3] [--backlog 20]

Starts its own stack in a temporary directory (embedded redis-server, the API via ``fitq serve
--workers 0 --log-level warning`` on a free port, so no access log; one ``fitq worker`` started once a
backlog is queued) and reports, as JSON:

- ``POST /v1/jobs`` latency (p50, p99) with no job queued and with ``--backlog`` jobs queued (no
  worker runs yet; each timed submit is cancelled again, untimed, so the backlog stays put);
- the worker's hand-off while it drains that backlog: from one job's ``finished_at`` to the next
  job's ``started_at`` (the worker's between-job overhead), p50 and p99;
- submit -> running with the worker idle before each submit (0.3 s after the previous job ended):
  from just before ``POST /v1/jobs`` to the record's ``started_at``; submit -> succeeded of a 1-epoch tiny Dense job, seen through its SSE
  stream; p50 and p99;
- ``GET /v1/jobs/{id}`` reads with 1 and 8 concurrent keep-alive clients, ``--rounds`` rounds
  alternating the two: requests per second, latency, the API process's CPU milliseconds per request
  and the load generator's own, and the share of the machine's CPU time its hypervisor took away
  during each round (steal; on a shared virtual machine a round with much of it reads slower).
  Medians over rounds, with each round's values as the spread.

The load generator is a lean asyncio HTTP/1.1 client (one protocol object per keep-alive connection,
no HTTP library), so it leaves the API most of the machine; its CPU use is reported all the same.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import psutil

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


def ms(values: list[float]) -> dict:
    """p50 and p99 of durations in seconds, as milliseconds."""
    return {"p50": round(1000 * percentile(values, 50), 1), "p99": round(1000 * percentile(values, 99), 1),
            "n": len(values)}


# -- the load generator ------------------------------------------------------------------------------
class KeepAliveReader(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection sending ``request`` again as soon as each answer is complete,
    until ``deadline`` (``time.perf_counter``); answers must carry ``Content-Length``."""

    def __init__(self, request: bytes, deadline: float, latencies: list[float], done: asyncio.Future):
        self.request = request
        self.deadline = deadline
        self.latencies = latencies
        self.done = done
        self.buffer = b""
        self.sent = 0.0
        self.errors = 0
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.sent = time.perf_counter()
        if self.sent >= self.deadline:
            self.transport.close()
            return
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
            stop = head.find(b"\r\n", at + 17)
            length = int(head[at + 17:stop if stop >= 0 else None])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            if self.buffer[9:12] != b"200":
                self.errors += 1
            self.latencies.append(time.perf_counter() - self.sent)
            self.buffer = self.buffer[end:]
            self._send()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.errors)


async def _read_load(host: str, port: int, path: str, clients: int, seconds: float) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    done = [loop.create_future() for _ in range(clients)]
    for future in done:
        await loop.create_connection(lambda f=future: KeepAliveReader(request, deadline, latencies, f), host, port)
    errors = sum(await asyncio.gather(*done))
    return latencies, errors


def read_load(host: str, port: int, path: str, clients: int, seconds: float, server: psutil.Process) -> dict:
    """``clients`` keep-alive connections reading ``path`` for ``seconds``: requests per second,
    latency, CPU milliseconds per request of ``server`` and of this load generator, and the share of
    the machine's CPU time that its hypervisor took for others meanwhile (steal: a virtual machine's
    rounds are only comparable where it is low)."""
    me = psutil.Process()
    server_cpu, own_cpu, start = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.perf_counter()
    steal = getattr(psutil.cpu_times(), "steal", 0.0)
    latencies, errors = asyncio.run(_read_load(host, port, path, clients, seconds))
    elapsed = time.perf_counter() - start
    server_cpu, own_cpu = sum(server.cpu_times()[:2]) - server_cpu, sum(me.cpu_times()[:2]) - own_cpu
    steal = getattr(psutil.cpu_times(), "steal", 0.0) - steal
    if errors:
        raise RuntimeError(f"{errors} of {len(latencies)} reads did not answer 200")
    n = max(len(latencies), 1)
    return {"rps": round(len(latencies) / elapsed, 1), "latency_ms": ms(latencies),
            "api_cpu_ms_per_request": round(1000 * server_cpu / n, 3),
            "client_cpu_ms_per_request": round(1000 * own_cpu / n, 3),
            "cpu_stolen_percent": round(100 * steal / (elapsed * (os.cpu_count() or 1)), 1)}


def read_rounds(host: str, port: int, path: str, server: psutil.Process, seconds: float, rounds: int,
                client_counts=(1, 8)) -> dict:
    """:func:`read_load` in ``rounds`` rounds alternating ``client_counts``; the median of each measure
    and every round's requests per second."""
    runs: dict[int, list[dict]] = {c: [] for c in client_counts}
    for _ in range(rounds):
        for clients in client_counts:
            runs[clients].append(read_load(host, port, path, clients, seconds, server))
    out = {}
    for clients, results in runs.items():
        def median(key, inner=None):
            return round(statistics.median(r[key][inner] if inner else r[key] for r in results), 3)

        out[f"{clients}_client{'s' if clients > 1 else ''}"] = {
            "rps": median("rps"), "rps_rounds": [r["rps"] for r in results],
            "cpu_stolen_percent_rounds": [r["cpu_stolen_percent"] for r in results],
            "latency_p50_ms": median("latency_ms", "p50"), "latency_p99_ms": median("latency_ms", "p99"),
            "api_cpu_ms_per_request": median("api_cpu_ms_per_request"),
            "client_cpu_ms_per_request": median("client_cpu_ms_per_request")}
    return out


# -- the stack ---------------------------------------------------------------------------------------
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


class Stack:
    """An embedded Redis, the API (``fitq serve --workers 0``) and, on :meth:`start_worker`, one worker,
    all running the code under ``code`` in ``tmp``."""

    def __init__(self, tmp: Path, redis_url: str, code: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "REDIS_URL": redis_url, "FITQ_DATA_DIR": str(tmp / "data"),
                    "PYTHONPATH": str(code), "FITQ_MAX_ACTIVE_JOBS": "10000"}
        self.code = code
        self.procs: list[subprocess.Popen] = []
        self.api = self._start("serve", "--port", str(self.port), "--workers", "0")
        wait_healthy(self.url, workers=0)

    def _start(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", *args, "--log-level", "warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env, cwd=self.code)
        self.procs.append(proc)
        return proc

    def start_worker(self) -> None:
        self._start("worker")
        wait_healthy(self.url, workers=1)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(20)


@contextmanager
def stack(code: Path = ROOT) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as redis_srv:
        running = Stack(Path(tmp), redis_srv.url, code)
        try:
            yield running
        finally:
            running.close()


def tiny_spec(client: Client) -> dict:
    rng = np.random.default_rng(0)
    ds = client.upload_arrays({"x": rng.normal(size=(64, 4)).astype("float32"),
                               "y": rng.normal(size=(64, 1)).astype("float32")})["id"]
    return {"model": TINY_MODEL, "compile": {"optimizer": "adam", "loss": "mse"},
            "data": {"x": f"{ds}/x", "y": f"{ds}/y"}, "fit": {"epochs": 1, "batch_size": 32, "verbose": 0}}


# -- the measures ------------------------------------------------------------------------------------
def submit_latency(client: Client, spec: dict, samples: int) -> list[float]:
    """Seconds of ``POST /v1/jobs`` each; every job submitted is cancelled again (untimed)."""
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        job_id = client.submit(spec)["id"]
        out.append(time.perf_counter() - t0)
        client.cancel(job_id)
    return out


def hand_offs(client: Client, job_ids: list[str], timeout: float = 300) -> list[float]:
    """Seconds from each job's end to the next job's start, once all of ``job_ids`` have finished."""
    records = [client.wait(job_id, timeout=timeout) for job_id in job_ids]
    assert all(r["status"] == "succeeded" for r in records), [r["status"] for r in records]
    records.sort(key=lambda r: r["started_at"])
    return [b["started_at"] - a["finished_at"] for a, b in zip(records, records[1:])]


def idle_turnaround(client: Client, spec: dict, jobs: int, settle: float = 0.3) -> tuple[list[float], list[float]]:
    """Submit -> running and submit -> succeeded, each job submitted ``settle`` s after the previous one
    ended (its process has exited and the worker waits for work again)."""
    to_running, to_succeeded = [], []
    for _ in range(jobs):
        time.sleep(settle)
        t0 = time.time()
        job_id = client.submit(spec)["id"]
        for event, data in client.events(job_id):
            if event == "status" and data["status"] == "succeeded":
                to_succeeded.append(time.time() - t0)
        record = client.job(job_id)
        assert record["status"] == "succeeded", record
        to_running.append(record["started_at"] - t0)
    return to_running, to_succeeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30, help="jobs submitted to an idle worker")
    parser.add_argument("--backlog", type=int, default=20, help="jobs queued while submit latency is measured")
    parser.add_argument("--submits", type=int, default=40, help="timed submits with and without the backlog")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round of reads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of reads, alternating 1 and 8 clients")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with stack() as s, Client(s.url) as client:
        spec = tiny_spec(client)
        submit_idle = submit_latency(client, spec, args.submits)
        backlog = [client.submit(spec)["id"] for _ in range(args.backlog)]
        submit_queued = submit_latency(client, spec, args.submits)
        s.start_worker()
        gaps = hand_offs(client, backlog)
        to_running, to_succeeded = idle_turnaround(client, spec, args.jobs)
        reads = read_rounds("127.0.0.1", s.port, f"/v1/jobs/{backlog[-1]}", psutil.Process(s.api.pid),
                            args.seconds, args.rounds)
    print(json.dumps({
        "submit_ms": {"no_backlog": ms(submit_idle), f"{args.backlog}_queued": ms(submit_queued)},
        "hand_off_ms": ms(gaps),
        "submit_to_running_idle_ms": ms(to_running),
        "tiny_1_epoch_submit_to_succeeded_ms": ms(to_succeeded),
        "get_job": reads,
        "cpu_count": os.cpu_count(),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
    }, indent=2))


if __name__ == "__main__":
    main()
