"""A thread that keeps a running attempt marked alive in Redis while its process lives."""
from __future__ import annotations

import logging
import threading

import redis

from worker.records import Records

log = logging.getLogger("fitq.worker")


class Heartbeat:
    """Refreshes the job's ``alive`` key every ``interval`` s with a ``ttl`` s expiry until stopped.

    A Redis error skips one beat (logged once per outage); the next tick tries again, so the thread
    outlives a Redis restart."""

    def __init__(self, records: Records, job_id: str, attempt: int, interval: float, ttl: float):
        self.records = records
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval
        self.ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> "Heartbeat":
        self.records.beat(self.job_id, self.attempt, self.ttl)
        self._thread.start()
        return self

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                if self.records.fields(self.job_id, "attempt")["attempt"] != self.attempt:
                    return
                self.records.beat(self.job_id, self.attempt, self.ttl)
            except redis.RedisError as exc:
                if not failing:
                    log.warning("job %s attempt %d: heartbeat failed (%s); retrying", self.job_id, self.attempt, exc)
                failing = True
                continue
            failing = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
