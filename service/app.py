"""The FastAPI application: routers, error handlers, Redis and the store, the abandoned-job scanner."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

import redis
import redis.asyncio as aredis
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import errors
from service.models_cache import ModelCache
from service.routes import dashboard, datasets, health, jobs, model_files, sweeps
from service.routes.health import fitq_version
from worker import lifecycle
from worker import sweeps as worker_sweeps
from worker.records import Records
from worker.settings import Settings, get_settings
from worker.store import Store

log = logging.getLogger("fitq.api")


async def scan_abandoned(app: FastAPI) -> None:
    """Requeues, every ``scan_interval`` seconds, running jobs whose worker stopped beating."""
    settings = app.state.settings
    while True:
        await asyncio.sleep(settings.scan_interval)
        try:
            await run_in_threadpool(lifecycle.requeue_abandoned, app.state.records, app.state.conn, settings)
            await run_in_threadpool(_stop_laggard_trials, app)
        except redis.RedisError:
            log.exception("abandoned-job scan failed; retrying at the next tick")


def _stop_laggard_trials(app: FastAPI) -> None:
    for doc in worker_sweeps.active_sweeps(app.state.records, app.state.conn):
        worker_sweeps.stop_laggards(app.state.records, app.state.conn, doc)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (`fitq serve` starts an embedded Redis and sets it)")
    app.state.conn = redis.Redis.from_url(settings.redis_url)
    app.state.aconn = aredis.Redis.from_url(settings.redis_url)
    app.state.store = Store.from_settings(settings)
    app.state.records = Records(app.state.conn, app.state.store)
    app.state.models = ModelCache(app.state.store)
    await run_in_threadpool(lifecycle.restore_from_store, app.state.records, app.state.conn, settings)
    scanner = asyncio.create_task(scan_abandoned(app))
    try:
        yield
    finally:
        scanner.cancel()
        await app.state.aconn.aclose()
        app.state.conn.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The fitq API for ``settings`` (read from the environment when not given)."""
    app = FastAPI(title="fitq", version=fitq_version(), lifespan=lifespan,
                  description="Training jobs over HTTP: Keras model JSON in, History and predictions out.")
    app.state.settings = settings or get_settings()
    errors.install(app)
    for module in (health, datasets, jobs, model_files, sweeps, dashboard):
        app.include_router(module.router)
    return app
