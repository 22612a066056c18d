"""``GET /healthz``: Redis reachable, workers alive, version."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import redis
from fastapi import APIRouter
from rq import Worker

from service.deps import ConnDep
from service.schemas import Health

router = APIRouter(tags=["health"])


def fitq_version() -> str:
    try:
        return version("fitq")
    except PackageNotFoundError:
        return "unknown"


@router.get("/healthz", response_model=Health)
def healthz(conn: ConnDep) -> Health:
    """Whether Redis answers and how many RQ workers are registered."""
    try:
        conn.ping()
        workers = Worker.count(connection=conn)
        ok = True
    except redis.RedisError:
        ok, workers = False, 0
    return Health(status="ok" if ok else "degraded", redis=ok, workers=workers, version=fitq_version())
