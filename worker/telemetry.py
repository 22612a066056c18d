"""Training durations (per epoch, per step) kept as histograms in Redis, for the API's ``/metrics``.

Why Redis and not prometheus-client's multiprocess mode: every job runs in a child that RQ forks and
that exits when the job ends, and workers may run on other machines than the API. Multiprocess mode
needs one directory shared by the API and every process that records (so one machine), leaves one
file per short-lived child behind, and must be set up before ``prometheus_client`` is imported. The
workers already share Redis with the API, so each job adds its observations to a histogram hash
there (bucket counts, sum, count) and the API reads them at scrape time.

Each histogram is a hash (:func:`worker.layout.metrics_key`) with fields ``le:<bound>`` (non-cumulative
counts), ``sum`` and ``count``.
"""
from __future__ import annotations

import math
import time

import redis

from engine import callbacks

from worker import layout

EPOCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
HISTOGRAMS = {"epoch_seconds": EPOCH_BUCKETS, "step_seconds": STEP_BUCKETS}


class Histogram:
    """Observations gathered in one process, added to Redis with :meth:`flush`."""

    def __init__(self, name: str):
        self.name = name
        self.bounds = HISTOGRAMS[name]
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(self.bounds):
            if seconds <= bound:
                self._counts[i] += 1
                break
        else:
            self._counts[-1] += 1
        self._sum += seconds

    def flush(self, conn: redis.Redis) -> None:
        """Adds what was observed since the last flush to the Redis hash (one round trip)."""
        total = sum(self._counts)
        if not total:
            return
        key = layout.metrics_key(self.name)
        pipe = conn.pipeline(transaction=True)
        for bound, count in zip((*self.bounds, math.inf), self._counts):
            if count:
                pipe.hincrby(key, f"le:{bound}", count)
        pipe.hincrbyfloat(key, "sum", self._sum)
        pipe.hincrby(key, "count", total)
        pipe.execute()
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0


def read(conn: redis.Redis, name: str) -> tuple[list[tuple[str, int]], float, int]:
    """A histogram as Prometheus wants it: cumulative ``(le, count)`` buckets ending with ``+Inf``, sum, count."""
    raw = {k.decode(): v.decode() for k, v in conn.hgetall(layout.metrics_key(name)).items()}
    buckets, running = [], 0
    for bound in (*HISTOGRAMS[name], math.inf):
        running += int(raw.get(f"le:{bound}", 0))
        buckets.append(("+Inf" if bound == math.inf else repr(bound), running))
    return buckets, float(raw.get("sum", 0.0)), int(raw.get("count", 0))


class TrainingTimer(callbacks.Callback):
    """Times each training epoch and step of a job and flushes them to Redis at every epoch end."""

    def __init__(self, conn: redis.Redis):
        super().__init__()
        self.conn = conn
        self.epochs = Histogram("epoch_seconds")
        self.steps = Histogram("step_seconds")
        self._epoch_start = self._step_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.observe(time.perf_counter() - self._step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.observe(time.perf_counter() - self._epoch_start)
        self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        try:
            self.epochs.flush(self.conn)
            self.steps.flush(self.conn)
        except redis.RedisError:  # timings are best effort: never fail a job over them
            return
