"""Typed dependencies: settings, Redis, the store, job records and the caller's tenant.

Each is an ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per
dependency per request for what is an attribute lookup."""
from __future__ import annotations

import secrets
from typing import Annotated

import redis
from fastapi import Depends, Request

from worker.errors import NotFound, Unauthorized
from worker.records import Records
from worker.settings import PUBLIC_TENANT, Settings
from worker.store import Store, check_id


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_conn(request: Request) -> redis.Redis:
    return request.app.state.conn


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_records(request: Request) -> Records:
    return request.app.state.records


async def get_tenant(request: Request) -> str:
    """The caller's tenant: from ``Authorization: Bearer TOKEN`` when tokens are configured."""
    tokens: dict[str, str] = request.app.state.settings.api_tokens
    if not tokens:
        return PUBLIC_TENANT
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("this server needs 'Authorization: Bearer TOKEN'")
    for known, tenant in tokens.items():
        if secrets.compare_digest(known.encode(), token.strip().encode()):
            return tenant
    raise Unauthorized("unknown API token")


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[redis.Redis, Depends(get_conn)]
StoreDep = Annotated[Store, Depends(get_store)]
RecordsDep = Annotated[Records, Depends(get_records)]
TenantDep = Annotated[str, Depends(get_tenant)]


def job_of_tenant(records: Records, job_id: str, tenant: str) -> dict:
    """The record of ``job_id`` when it belongs to ``tenant``; 404 otherwise (others' jobs do not exist)."""
    record = records.get(check_id(job_id, "id"))
    require_tenant(job_id, record and record.get("tenant"), tenant)
    return record


def require_tenant(job_id: str, owner: str | None, tenant: str) -> None:
    """404 unless a job's ``owner`` (None: no such job) is ``tenant``."""
    if owner is None or owner != tenant:
        raise NotFound(f"job {job_id!r} does not exist", field="id")
