"""The FastAPI application: routers, error handlers, Redis and the store, the scanner that requeues
abandoned jobs, stops laggard sweep trials and restores an emptied Redis from the store."""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

import redis
import redis.asyncio as aredis
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import errors
from service.etag import ETagMiddleware
from service.log_context import JobLogContext
from service.models_cache import ModelCache
from service.routes import dashboard, datasets, docs, health, job_details, jobs, metrics, model_files, sweeps
from service.routes.health import fitq_version
from worker import lifecycle
from worker import sweeps as worker_sweeps
from worker.records import Records
from worker.single_connection import SingleConnection
from worker.settings import Settings, get_settings
from worker.store import Store

log = logging.getLogger("fitq.api")

DOC_SECTIONS = ("health", "datasets", "jobs", "models", "sweeps")
"""The order of the API documentation's sections (whatever order the routers are matched in)."""


class Scanner:
    """One tick every ``scan_interval`` s: restore an emptied Redis from the store, requeue abandoned jobs,
    stop sweep trials that are clearly behind.

    After Redis was unreachable, requeuing waits ``heartbeat_ttl`` s from its return: the ``alive`` keys
    of jobs still running expired during the outage, and their heartbeats need one TTL to come back.
    """

    def __init__(self, records: Records, conn: redis.Redis, settings: Settings):
        self.records = records
        self.conn = conn
        self.settings = settings
        self.down = False
        self.grace_until = 0.0

    def tick(self) -> None:
        try:
            lifecycle.reconcile(self.records, self.conn, self.settings)
            if self.down:
                self.down = False
                self.grace_until = time.monotonic() + self.settings.heartbeat_ttl
                log.warning("Redis answers again; abandoned jobs are requeued from %.1f s on",
                            self.settings.heartbeat_ttl)
            if time.monotonic() >= self.grace_until:
                lifecycle.requeue_abandoned(self.records, self.conn, self.settings)
            for doc in worker_sweeps.active_sweeps(self.records, self.conn):
                worker_sweeps.stop_laggards(self.records, self.conn, doc)
        except redis.RedisError as exc:
            if not self.down:
                log.warning("scan failed: Redis is unavailable (%s); retrying every %.1f s", exc,
                            self.settings.scan_interval)
            self.down = True

    async def run(self) -> None:
        while True:
            await run_in_threadpool(self.tick)
            await asyncio.sleep(self.settings.scan_interval)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (`fitq serve` starts an embedded Redis and sets it)")
    timeouts = {"socket_timeout": settings.redis_timeout, "socket_connect_timeout": settings.redis_timeout}
    app.state.conn = redis.Redis.from_url(settings.redis_url, **timeouts)
    app.state.aconn = aredis.Redis.from_url(settings.redis_url, socket_connect_timeout=settings.redis_timeout)
    app.state.reads = SingleConnection(settings.redis_url, **timeouts)
    app.state.store = Store.from_settings(settings)
    await run_in_threadpool(app.state.store.remote.ensure)  # a fresh object store gets its bucket
    app.state.records = Records(app.state.conn, app.state.store)
    app.state.models = ModelCache(app.state.store)
    scanner = asyncio.create_task(Scanner(app.state.records, app.state.conn, settings).run())
    try:
        yield
    finally:
        scanner.cancel()
        await app.state.aconn.aclose()
        await app.state.reads.aclose()
        app.state.conn.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The fitq API for ``settings`` (read from the environment when not given)."""
    app = FastAPI(title="fitq", version=fitq_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Training jobs over HTTP: Keras model JSON in, History and predictions out.",
                  openapi_tags=[{"name": tag} for tag in DOC_SECTIONS])
    app.state.settings = settings or get_settings()
    errors.install(app)
    # Routes are matched in order: the job read, which dashboards poll, then the jobs router.
    jobs.install_job_read(app)
    for module in (jobs, job_details, health, datasets, model_files, sweeps, metrics, dashboard):
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    docs.install(app)
    dashboard.install(app)
    app.add_middleware(ETagMiddleware)
    app.add_middleware(JobLogContext)
    metrics.install(app)
    return app
