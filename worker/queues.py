"""RQ queues, one per purpose, with the JSON serializer: only job ids and attempt numbers travel.

RQ's defaults (180 s timeout, 500 s result TTL) do not fit training, so every enqueue sets
``job_timeout``, ``result_ttl`` and ``failure_ttl`` from the settings. History and artifacts live in
the job record and the store, never in RQ's result.
"""
from __future__ import annotations

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.settings import Settings

TRAIN_QUEUE = "fitq-train"
PREDICT_QUEUE = "fitq-predict"
QUEUES = (TRAIN_QUEUE, PREDICT_QUEUE)
TASKS = {TRAIN_QUEUE: "worker.tasks.run_training", PREDICT_QUEUE: "worker.tasks.run_prediction"}


def rq_job_id(job_id: str, attempt: int) -> str:
    """The RQ job id of one attempt of a fitq job (each attempt is its own RQ job)."""
    return f"{job_id}-{attempt}"


def queue(conn: redis.Redis, name: str) -> Queue:
    """The RQ queue ``name`` with the JSON serializer."""
    return Queue(name, connection=conn, serializer=JSONSerializer)


def enqueue(conn: redis.Redis, settings: Settings, queue_name: str, job_id: str, attempt: int) -> Job:
    """Puts attempt ``attempt`` of ``job_id`` on ``queue_name`` with explicit timeouts and TTLs."""
    timeout = settings.job_timeout if queue_name == TRAIN_QUEUE else settings.predict_timeout
    return queue(conn, queue_name).enqueue_call(
        TASKS[queue_name], args=(job_id, attempt), job_id=rq_job_id(job_id, attempt), timeout=timeout,
        result_ttl=settings.result_ttl, failure_ttl=settings.result_ttl, description=f"fitq {job_id}")


def cancel(conn: redis.Redis, job_id: str, attempt: int) -> None:
    """Takes a queued attempt off its RQ queue (a no-op when RQ already dropped or ran it)."""
    try:
        Job.fetch(rq_job_id(job_id, attempt), connection=conn, serializer=JSONSerializer).cancel()
    except (NoSuchJobError, InvalidJobOperation):
        return
