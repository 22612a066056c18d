"""The RQ worker fitq runs: RQ's forking ``Worker`` that runs only fitq's own tasks and rides out Redis
outages, and :func:`run`, the loop that rejoins Redis with a fresh worker after one.

RQ's ``Worker.work()`` quits on any unhandled exception, a ``ConnectionError`` from a heartbeat or
from registry maintenance included. Here those calls log and carry on (the next one retries), a
running job's horse is waited for whatever Redis does, and when ``work()`` still ends because Redis
went away, :func:`run` waits until Redis answers and starts a new ``FitqWorker`` under a new name (the
old name may still be registered in a Redis that kept its data).
"""
from __future__ import annotations

import gc
import logging
import os
import socket
import time
from itertools import count

import redis
from redis.driver_info import DriverInfo
from rq import Worker
from rq.exceptions import DeserializationError, StopRequested
from rq.serializers import JSONSerializer
from rq.utils import now

from engine import gemm, kernels
from worker import queues
from worker.presence import Presence
from worker.reconciler import Reconciler
from worker.settings import Settings

log = logging.getLogger("fitq.worker")

REJOIN_PAUSE = 1.0
"""Seconds between a worker ending and the next one starting (never a tight loop)."""
REDIS_WAIT_MAX = 5.0
"""Longest pause between two tries to reach Redis while waiting for a job."""

RECONCILE_INTERVAL = 10.0
"""Seconds between a worker's checks for an emptied Redis (the API checks at every scan too)."""

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
"""The errors that mean Redis is unreachable right now (not that a command was wrong)."""


def task_of(job) -> str | None:
    """The function an RQ job names when it is one of :data:`worker.queues.TASKS`, else None.

    Reads only the job's serialized data: nothing is imported.
    """
    try:
        name, instance = job.func_name, job.instance
    except DeserializationError:
        return None
    if instance is not None or name not in queues.TASKS:
        return None
    return name


class FitqWorker(Worker):
    """A forking RQ worker for fitq's queues: fitq's tasks only, Redis errors tolerated where it can."""

    def execute_job(self, job, queue):
        if task_of(job) is None:
            self._refuse(job, queue)
            return
        try:
            super().execute_job(job, queue)
        except REDIS_DOWN as exc:
            log.warning("worker %s: Redis failed while job %s ran (%s); waiting for its horse", self.name,
                        job.id, exc)
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0

    def _refuse(self, job, queue) -> None:
        """Fails a job that names anything but fitq's tasks, without importing or running it."""
        try:
            named = repr(job.func_name)
        except DeserializationError:
            named = "data this worker cannot read"
        reason = f"refused: job {job.id} names {named}, not one of fitq's tasks {sorted(queues.TASKS)}"
        log.error("worker %s: %s (queue %s)", self.name, reason, queue.name)
        queue.intermediate_queue.remove(job.id)
        job.ended_at = now()
        self.handle_job_failure(job, queue, exc_string=reason)

    # RQ's bookkeeping calls: an unreachable Redis is logged and retried on the next call.
    def heartbeat(self, *args, **kwargs):
        try:
            return super().heartbeat(*args, **kwargs)
        except REDIS_DOWN as exc:
            log.warning("worker %s: heartbeat failed: %s", self.name, exc)

    def maintain_heartbeats(self, job, execution):
        try:
            return super().maintain_heartbeats(job, execution)
        except REDIS_DOWN as exc:
            log.warning("worker %s: heartbeat of job %s failed: %s", self.name, job.id, exc)

    def set_state(self, state, pipeline=None):
        try:
            return super().set_state(state, pipeline=pipeline)
        except REDIS_DOWN as exc:
            log.warning("worker %s: could not record state %s: %s", self.name, state, exc)

    def check_for_suspension(self, burst):
        try:
            return super().check_for_suspension(burst)
        except REDIS_DOWN as exc:
            log.warning("worker %s: could not check for suspension: %s", self.name, exc)

    def run_maintenance_tasks(self):
        try:
            return super().run_maintenance_tasks()
        except REDIS_DOWN as exc:
            log.warning("worker %s: registry maintenance failed: %s", self.name, exc)


def stop_asked(worker: Worker) -> bool:
    """Whether SIGTERM / SIGINT asked ``worker`` to stop: RQ sets ``_stop_requested`` only when the stop
    comes during a job; an idle worker is stopped by an exception and leaves only the request's date."""
    return bool(worker._stop_requested or worker._shutdown_requested_date is not None)


def wait_for_redis(conn: redis.Redis, stop, first: float = 0.5, longest: float = 5.0) -> bool:
    """Pings until Redis answers (True) or ``stop()`` is true (False), backing off up to ``longest`` s."""
    delay = first
    while not stop():
        try:
            conn.ping()
            return True
        except REDIS_DOWN:
            time.sleep(delay)
            delay = min(delay * 2, longest)
    return False


def run(settings: Settings, burst: bool = False, logging_level: str = "INFO", gpu: int | None = None) -> int:
    """Works fitq's queues until asked to stop, rejoining Redis with a fresh worker after an outage.

    With ``gpu``, the worker serves only the GPU queue (one job at a time on that GPU); its horses, not
    this process, create the CUDA context (a CUDA context does not survive ``fork``).
    """
    # Each job runs in a process forked from this one: what is loaded here, every job has at once;
    # frozen, the garbage collector of a job's process leaves it alone (and so its pages stay shared).
    kernels.warm_up()
    gemm.hold_openblas_on_caller()
    gc.freeze()
    base = f"fitq-{socket.gethostname()}-{os.getpid()}" + (f"-gpu{gpu}" if gpu is not None else "")
    presence = Presence(settings.redis_url, base, settings.heartbeat_interval, settings.heartbeat_ttl).start()
    reconciler = Reconciler(settings, RECONCILE_INTERVAL).start()
    # Each horse opens its own connection (redis-py resets a pool after fork); with the version named
    # here, redis-py does not look it up in the installed packages' metadata for every new connection.
    conn = redis.Redis.from_url(settings.redis_url, driver_info=DriverInfo(lib_version=redis.__version__))
    names = list(queues.GPU_QUEUES if gpu is not None else queues.CPU_QUEUES)
    worker = None
    try:
        for incarnation in count():
            if incarnation:
                time.sleep(REJOIN_PAUSE)
            if not wait_for_redis(conn, lambda: worker is not None and stop_asked(worker)):
                return 0
            worker = FitqWorker([queues.queue(conn, n) for n in names], connection=conn,
                                serializer=JSONSerializer, name=base if incarnation == 0 else f"{base}-{incarnation}",
                                worker_ttl=settings.worker_ttl,
                                job_monitoring_interval=max(1, int(settings.heartbeat_ttl)))
            worker.max_connection_wait_time = REDIS_WAIT_MAX
            try:
                worker.work(burst=burst, logging_level=logging_level, with_scheduler=False)
            except REDIS_DOWN as exc:
                log.warning("worker %s: Redis went away: %s", worker.name, exc)
            if burst or stop_asked(worker):
                return 0
            log.warning("worker %s stopped working (Redis unreachable?); rejoining when Redis answers",
                        worker.name)
    except StopRequested:  # RQ's SIGTERM/SIGINT handler, received between two workers
        return 0
    finally:
        reconciler.stop()
        presence.stop()
        conn.close()
