"""``GET /metrics``: Prometheus metrics of the API, the queues, the workers and training.

- ``fitq_jobs{status}``: jobs by status, counted from the job records at scrape time;
- ``fitq_queue_depth{queue}``: RQ jobs waiting on each of fitq's queues;
- ``fitq_workers_alive``: workers whose heartbeat is within its TTL (as ``/healthz`` counts them);
- ``fitq_epoch_seconds`` / ``fitq_step_seconds``: training durations that workers add to Redis
  (:mod:`worker.telemetry` says why Redis rather than multiprocess files);
- ``fitq_http_request_duration_seconds{method,route,status}``: the API's latency, observed in-process.

Each app has its own registry, so several apps in one process (tests) never collide.
"""
from __future__ import annotations

import time

import redis
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from starlette.concurrency import run_in_threadpool

from worker import presence, queues, telemetry
from worker.records import Records
from worker.settings import PUBLIC_TENANT, Settings
from worker.status import JobStatus

router = APIRouter(tags=["health"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def tenants(settings: Settings) -> set[str]:
    """Every tenant this server can have jobs for."""
    return set(settings.api_tokens.values()) or {PUBLIC_TENANT}


class FitqCollector:
    """Reads jobs, queues, workers and training histograms from Redis when Prometheus scrapes."""

    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self):
        state = self.app.state
        if not hasattr(state, "conn"):
            return
        conn: redis.Redis = state.conn
        records: Records = state.records
        try:
            jobs = GaugeMetricFamily("fitq_jobs", "Jobs by status.", labels=["status"])
            counts = {status.value: 0 for status in JobStatus}
            for tenant in sorted(tenants(state.settings)):
                for status in records.statuses(records.ids(tenant)):
                    if status in counts:
                        counts[status] += 1
            for status, count in counts.items():
                jobs.add_metric([status], count)
            depth = GaugeMetricFamily("fitq_queue_depth", "RQ jobs waiting on each queue.", labels=["queue"])
            for name in (*queues.CPU_QUEUES, *queues.GPU_QUEUES):
                depth.add_metric([name], queues.queue(conn, name).count)
            workers = GaugeMetricFamily("fitq_workers_alive", "Workers whose heartbeat is within its TTL.",
                                        value=presence.count(conn))
            timings = []
            for name, text in (("epoch_seconds", "Duration of training epochs."),
                               ("step_seconds", "Duration of training steps (batches).")):
                buckets, total, _ = telemetry.read(conn, name)
                family = HistogramMetricFamily(f"fitq_{name}", text)
                family.add_metric([], buckets, total)
                timings.append(family)
        except redis.RedisError:
            up = GaugeMetricFamily("fitq_redis_up", "Whether Redis answered the scrape.", value=0)
            yield up
            return
        yield GaugeMetricFamily("fitq_redis_up", "Whether Redis answered the scrape.", value=1)
        yield jobs
        yield depth
        yield workers
        yield from timings


def install(app: FastAPI) -> None:
    """Gives ``app`` its registry, the scrape-time collector and the HTTP latency middleware."""
    registry = CollectorRegistry()
    registry.register(FitqCollector(app))
    latency = Histogram("fitq_http_request_duration_seconds", "Latency of API requests.",
                        ["method", "route", "status"], registry=registry, buckets=LATENCY_BUCKETS)
    app.state.metrics_registry = registry
    app.add_middleware(LatencyMiddleware, histogram=latency)


class LatencyMiddleware:
    """Observes each request's time to its response headers (a pure ASGI middleware: streams stay streams).

    The histogram's child per ``(method, route, status)`` is looked up once, then kept.
    """

    def __init__(self, app, histogram: Histogram):
        self.app = app
        self.histogram = histogram
        self.children: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                path = getattr(scope.get("route"), "path", None) or "unmatched"
                key = (scope["method"], path, message["status"])
                child = self.children.get(key)
                if child is None:
                    child = self.children[key] = self.histogram.labels(key[0], path, str(key[2]))
                child.observe(time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, timed)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of this API's metrics."""
    body = await run_in_threadpool(generate_latest, request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
