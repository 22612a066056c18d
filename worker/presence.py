"""Which workers are alive: each worker process beats its name into :data:`worker.layout.WORKERS`.

The sorted set maps a worker's name to the time its heartbeat expires, so a worker killed with
SIGKILL stops counting ``heartbeat_ttl`` seconds later without anyone cleaning up after it.
"""
from __future__ import annotations

import logging
import re
import threading
import time

import redis

from worker.layout import WORKERS

log = logging.getLogger("fitq.worker")

GPU_NAME = re.compile(r"-gpu\d+(-\d+)?$")
FORGET_AFTER = 3600.0
"""Entries expired this many seconds ago are dropped from the set."""


def beat(conn: redis.Redis, name: str, ttl: float) -> None:
    """Marks worker ``name`` alive for ``ttl`` seconds."""
    now = time.time()
    pipe = conn.pipeline()
    pipe.zadd(WORKERS, {name: now + ttl})
    pipe.zremrangebyscore(WORKERS, "-inf", now - FORGET_AFTER)
    pipe.execute()


def leave(conn: redis.Redis, name: str) -> None:
    """Removes worker ``name`` (on a clean exit)."""
    conn.zrem(WORKERS, name)


def count(conn: redis.Redis) -> int:
    """How many workers beat within their TTL."""
    return int(conn.zcount(WORKERS, f"({time.time()}", "+inf"))


def gpu_workers(conn: redis.Redis) -> list[str]:
    """Names of the live workers that serve a GPU (``fitq worker --gpu N`` names end in ``-gpuN``)."""
    names = [n.decode() for n in conn.zrangebyscore(WORKERS, f"({time.time()}", "+inf")]
    return sorted(n for n in names if GPU_NAME.search(n))


class Presence:
    """A daemon thread beating ``name`` every ``interval`` s with a ``ttl`` s expiry; Redis errors are
    logged and retried at the next tick. It has its own Redis client, so a fork never inherits a
    connection it might be using."""

    def __init__(self, url: str, name: str, interval: float, ttl: float):
        self.conn = redis.Redis.from_url(url, socket_timeout=max(interval, 1.0), socket_connect_timeout=1.0)
        self.name = name
        self.interval = interval
        self.ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"presence-{name}", daemon=True)

    def start(self) -> "Presence":
        self._thread.start()
        return self

    def _run(self) -> None:
        failing = False
        while True:
            try:
                beat(self.conn, self.name, self.ttl)
                if failing:
                    log.info("worker %s: Redis answers again", self.name)
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    log.warning("worker %s: heartbeat failed (%s); retrying every %.1f s", self.name, exc,
                                self.interval)
                failing = True
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """Stops beating and removes the name (when Redis answers)."""
        self._stop.set()
        self._thread.join(self.interval + 2)
        try:
            leave(self.conn, self.name)
        except redis.RedisError:
            pass
        self.conn.close()
