"""A worker's watch for an emptied or new Redis: every ``interval`` seconds, :func:`worker.lifecycle.reconcile`
(one ``EXISTS`` while Redis holds fitq's marker; a restore of records and queues from the store when it
does not), so workers notice a Redis that lost its data even where no API runs."""
from __future__ import annotations

import logging
import threading

import redis

from worker import lifecycle
from worker.records import Records
from worker.settings import Settings
from worker.store import Store

log = logging.getLogger("fitq.worker")


class Reconciler:
    """A daemon thread with its own Redis client (a forked job never inherits a connection it uses)."""

    def __init__(self, settings: Settings, interval: float):
        self.settings = settings
        self.interval = interval
        self.conn = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.records = Records(self.conn, Store.from_settings(settings))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self) -> "Reconciler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                lifecycle.reconcile(self.records, self.conn, self.settings)
            except redis.RedisError as exc:  # Redis away: the next tick tries again
                log.debug("reconcile skipped: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()
