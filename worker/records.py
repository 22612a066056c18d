"""Job records in Redis: status, progress, History so far, error, timings, attempt, and an event stream.

The keys are :mod:`worker.layout`'s. Status changes go through one Lua script that checks the current
status (and attempt) and writes the new fields, the status event and the job's membership of the
set of active (queued or running) jobs atomically, so a worker, the canceller and the abandoned-job
scanner never overwrite each other, and counting a tenant's active jobs reads that set, not every
job the tenant ever had. Every status change is also written to the store (``record.json``), so a
Redis that lost its data loses no job.
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable

import redis

from worker.layout import (ACTIVE_INDEXED, RUNNING, active_key, alive_key, events_key, job_key, restoring_key,
                          tenant_key)
from worker.single_connection import SingleConnection
from worker.status import ACTIVE as ACTIVE_STATUSES
from worker.status import JobKind, JobStatus
from worker.store import Store, dumps

Event = tuple[str, str, Any]
"""One stream entry: ``(stream id, type, data)``."""

EVENTS_MAXLEN = 20_000

_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return 0 end
local allowed = cjson.decode(ARGV[1])
local ok = false
for _, s in ipairs(allowed) do if ('"' .. s .. '"') == cur then ok = true end end
if not ok then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2] then return 0 end
local fields = cjson.decode(ARGV[3])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status', 'data', ARGV[4])
local active = ARGV[7] .. cjson.decode(redis.call('HGET', KEYS[1], 'tenant'))
if ARGV[6] == '1' then redis.call('SADD', active, ARGV[8]) else redis.call('SREM', active, ARGV[8]) end
return 1
"""

_INDEX_ACTIVE = """
local added = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  if status == '"queued"' or status == '"running"' then added = added + redis.call('SADD', KEYS[2], id) end
end
return added
"""


def decode(raw: dict) -> dict:
    """A record hash (bytes -> JSON-encoded values) as a dict."""
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}


def when_redis_answers(call, timeout: float = 120.0, first_wait: float = 0.2):
    """``call()``, retried with backoff while Redis is unreachable (a restart, a failover), for up to
    ``timeout`` seconds: what a job must write (its epoch's History, its end) outlives a short outage."""
    deadline = time.monotonic() + timeout
    wait = first_wait
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() + wait > deadline:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


def parse_events(reply) -> list[Event]:
    """An ``XREAD`` reply on one job's stream as a list of :data:`Event`."""
    out = []
    for _, entries in reply or []:
        for entry_id, values in entries:
            out.append((entry_id.decode(), values[b"type"].decode(), json.loads(values[b"data"])))
    return out


async def read_events_async(aconn, job_id: str, after: str = "0", block_ms: int | None = None,
                            count: int = 500) -> list[Event]:
    """:meth:`Records.read_events` on an asyncio Redis connection (the SSE route's)."""
    return parse_events(await aconn.xread({events_key(job_id): after}, block=block_ms, count=count))


async def read_raw_async(conn: SingleConnection, job_id: str) -> dict[bytes, bytes] | None:
    """A record's hash as Redis holds it (field -> JSON text), in one ``HGETALL``; None when Redis
    lacks the record (see :meth:`Records.get` for the store's copy)."""
    reply = await conn.execute("HGETALL", job_key(job_id))
    raw = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))
    return raw if b"status" in raw else None


class Records:
    """Reads and writes job records; ``store`` receives a snapshot at every status change."""

    def __init__(self, conn: redis.Redis, store: Store):
        self.conn = conn
        self.store = store
        self._transition = conn.register_script(_TRANSITION)
        self._index_active = conn.register_script(_INDEX_ACTIVE)

    # -- create / read -----------------------------------------------------------------------
    def create(self, job_id: str, tenant: str, kind: JobKind, name: str | None, extra: dict | None = None) -> dict:
        """Writes a new ``queued`` record and its first status event; returns the record."""
        now = time.time()
        record = {"id": job_id, "tenant": tenant, "kind": kind, "name": name, "status": JobStatus.QUEUED,
                  "attempt": 1, "created_at": now, "started_at": None, "finished_at": None,
                  "progress": None, "epoch": [], "history": {}, "error": None,
                  "cancel_requested": False, **(extra or {})}
        pipe = self.conn.pipeline()
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in record.items()})
        pipe.zadd(tenant_key(tenant), {job_id: now})
        pipe.sadd(active_key(tenant), job_id)
        pipe.xadd(events_key(job_id), {"type": "status", "data": dumps({"status": JobStatus.QUEUED, "attempt": 1})},
                  maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.execute()
        self.snapshot(job_id, record)
        return record

    def restore(self, record: dict) -> None:
        """Writes back a record read from the store (see :func:`worker.lifecycle.restore_from_store`)."""
        job_id = record["id"]
        pipe = self.conn.pipeline()
        pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in record.items()})
        pipe.zadd(tenant_key(record["tenant"]), {job_id: record["created_at"]})
        if record["status"] in ACTIVE_STATUSES:
            pipe.sadd(active_key(record["tenant"]), job_id)
        else:
            pipe.srem(active_key(record["tenant"]), job_id)
        pipe.xadd(events_key(job_id), {"type": "status", "data": dumps({"status": record["status"],
                                                                        "attempt": record["attempt"]})},
                  maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.execute()
        self.snapshot(job_id, record)

    def get(self, job_id: str) -> dict | None:
        """The record, from Redis or (after a Redis restart) from the store's snapshot; None if unknown."""
        raw = self.conn.hgetall(job_key(job_id))
        if b"status" in raw:
            return decode(raw)
        return self.store.read_record(job_id)

    def exists(self, job_id: str) -> bool:
        """Whether Redis holds the job's record (a hash with a status: a late progress write into an
        emptied Redis leaves a partial hash, which does not count)."""
        return bool(self.conn.hexists(job_key(job_id), "status"))

    def lock_restore(self, job_id: str, seconds: int = 60) -> bool:
        """Takes the short lock that lets one process restore ``job_id`` from the store."""
        return bool(self.conn.set(restoring_key(job_id), 1, nx=True, ex=seconds))

    def fields(self, job_id: str, *names: str) -> dict:
        """Some fields of a record (missing ones are None)."""
        values = self.conn.hmget(job_key(job_id), names)
        return {n: (json.loads(v) if v is not None else None) for n, v in zip(names, values)}

    def ids(self, tenant: str) -> list[str]:
        """The tenant's job ids, newest first."""
        return [i.decode() for i in self.conn.zrevrange(tenant_key(tenant), 0, -1)]

    def active_count(self, tenant: str) -> int:
        """How many jobs the tenant has queued or running (one SCARD)."""
        return self.conn.scard(active_key(tenant))

    def active(self, tenant: str) -> list[str]:
        """The tenant's queued or running jobs, newest first."""
        ids = [i.decode() for i in self.conn.smembers(active_key(tenant))]
        return [i for _, i in sorted(zip(self.created(ids), ids), reverse=True)]

    def created(self, job_ids: list[str]) -> list[float]:
        """The ``created_at`` of each job id (0 for unknown ids)."""
        pipe = self.conn.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(job_key(job_id), "created_at")
        return [json.loads(v) if v is not None else 0.0 for v in pipe.execute()]

    def index_active(self) -> int:
        """Builds every tenant's set of active jobs from the records, each in one atomic step, unless
        they were built already (a Redis written by a fitq that kept no such sets); returns the number
        of jobs added."""
        if self.conn.exists(ACTIVE_INDEXED):
            return 0
        added = 0
        prefix = tenant_key("")
        for key in self.conn.scan_iter(match=tenant_key("*")):
            tenant = key.decode()[len(prefix):]
            added += self._index_active(keys=[key, active_key(tenant)], args=[job_key("")])
        self.conn.set(ACTIVE_INDEXED, 1)
        return added

    def statuses(self, job_ids: Iterable[str]) -> list[str | None]:
        """The status of each job id (None for unknown ids)."""
        pipe = self.conn.pipeline()
        for job_id in job_ids:
            pipe.hget(job_key(job_id), "status")
        return [json.loads(v) if v is not None else None for v in pipe.execute()]

    # -- writes by the running job -----------------------------------------------------------
    def event(self, job_id: str, kind: str, data: dict, **fields: Any) -> None:
        """Appends a ``kind`` event and sets ``fields`` in one round trip."""
        pipe = self.conn.pipeline(transaction=True)
        if fields:
            pipe.hset(job_key(job_id), mapping={k: dumps(v) for k, v in fields.items()})
        pipe.xadd(events_key(job_id), {"type": kind, "data": dumps(data)}, maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.execute()

    def transition(self, job_id: str, allowed: Iterable[JobStatus], status: JobStatus, expect_attempt: int | None = None,
                   **fields: Any) -> bool:
        """Moves a job from one of ``allowed`` statuses to ``status`` (only at ``expect_attempt`` when given).

        Returns False, changing nothing, when the job is in another status or attempt.
        """
        fields = {"status": status, **fields}
        data = {"status": status, **{k: v for k, v in fields.items() if k in ("attempt", "error")}}
        done = self._transition(
            keys=[job_key(job_id), events_key(job_id)],
            args=[json.dumps(list(allowed)), "" if expect_attempt is None else dumps(expect_attempt),
                  json.dumps({k: dumps(v) for k, v in fields.items()}), dumps(data), EVENTS_MAXLEN,
                  "1" if status in ACTIVE_STATUSES else "0", active_key(""), job_id])
        if done:
            if status == JobStatus.RUNNING:
                self.conn.sadd(RUNNING, job_id)
            else:
                self.conn.srem(RUNNING, job_id)
            self.snapshot(job_id)
        return bool(done)

    def snapshot(self, job_id: str, record: dict | None = None) -> None:
        """Writes the record to the store's ``record.json``."""
        record = record if record is not None else decode(self.conn.hgetall(job_key(job_id)))
        if record:
            self.store.write_record(job_id, record)

    # -- liveness ----------------------------------------------------------------------------
    def beat(self, job_id: str, attempt: int, ttl: float) -> None:
        """Marks attempt ``attempt`` of a job alive for ``ttl`` seconds."""
        self.conn.set(alive_key(job_id), attempt, px=int(ttl * 1000))

    def is_alive(self, job_id: str) -> bool:
        return bool(self.conn.exists(alive_key(job_id)))

    def running_ids(self) -> list[str]:
        """Ids in the running set (some may have moved on: check their status)."""
        return [i.decode() for i in self.conn.smembers(RUNNING)]

    def forget_running(self, job_id: str) -> None:
        """Drops a job that is no longer running from the running set."""
        self.conn.srem(RUNNING, job_id)

    # -- events ------------------------------------------------------------------------------
    def read_events(self, job_id: str, after: str = "0", block_ms: int | None = None, count: int = 500) -> list[Event]:
        """Events after stream id ``after``: a list of ``(id, type, data)``."""
        return parse_events(self.conn.xread({events_key(job_id): after}, block=block_ms, count=count))
