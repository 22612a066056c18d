"""``GET /healthz``: Redis reachable, workers alive, version; 503 (same body) when either is missing."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import ConnDep
from service.schemas import Health
from worker import presence

router = APIRouter(tags=["health"])


def fitq_version() -> str:
    try:
        return version("fitq")
    except PackageNotFoundError:
        return "unknown"


@router.get("/healthz", response_model=Health,
            responses={503: {"model": Health, "description": "Redis is unreachable or no worker is alive"}})
def healthz(conn: ConnDep):
    """Whether Redis answers and how many workers beat within their heartbeat TTL (503 when Redis is
    unreachable or no worker is alive)."""
    try:
        conn.ping()
        workers, gpus = presence.count(conn), presence.gpu_workers(conn)
        reachable = True
    except redis.RedisError:
        reachable, workers, gpus = False, 0, []
    ok = reachable and workers > 0
    body = Health(status="ok" if ok else "unavailable", redis=reachable, workers=workers, gpu_workers=gpus,
                  version=fitq_version())
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
