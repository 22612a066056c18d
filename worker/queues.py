"""RQ queues, one per job kind, with the JSON serializer: only job ids and attempt numbers travel.

RQ's defaults (180 s timeout, 500 s result TTL) do not fit training, so every enqueue sets
``job_timeout``, ``result_ttl`` and ``failure_ttl`` from the settings. History and artifacts live in
the job record and the store, never in RQ's result. Every enqueue of fitq goes through :func:`enqueue`.
"""
from __future__ import annotations

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.settings import Settings
from worker.status import JobKind

TRAIN_QUEUE = "fitq-train"
PREDICT_QUEUE = "fitq-predict"
GPU_TRAIN_QUEUE = "fitq-train-gpu"
QUEUE_OF_KIND = {JobKind.TRAIN: TRAIN_QUEUE, JobKind.PREDICT: PREDICT_QUEUE}
CPU_QUEUES = (PREDICT_QUEUE, TRAIN_QUEUE)
"""What a CPU worker serves, predict first."""
GPU_QUEUES = (GPU_TRAIN_QUEUE,)
"""What a GPU worker serves: training that asked for a GPU, one job at a time."""
TASK_OF_KIND = {JobKind.TRAIN: "worker.tasks.run_training", JobKind.PREDICT: "worker.tasks.run_prediction"}
TASKS = frozenset(TASK_OF_KIND.values())
"""The only functions a fitq worker runs, whatever a queue holds."""


def rq_job_id(job_id: str, attempt: int) -> str:
    """The RQ job id of one attempt of a fitq job (each attempt is its own RQ job)."""
    return f"{job_id}-{attempt}"


def queue(conn: redis.Redis, name: str) -> Queue:
    """The RQ queue ``name`` with the JSON serializer."""
    return Queue(name, connection=conn, serializer=JSONSerializer)


def queue_for(kind: JobKind, device: str | None) -> str:
    """The queue of a job: a GPU training job waits for a GPU worker; the rest go to CPU workers."""
    if JobKind(kind) == JobKind.TRAIN and device == "gpu":
        return GPU_TRAIN_QUEUE
    return QUEUE_OF_KIND[JobKind(kind)]


def enqueue(conn: redis.Redis, settings: Settings, kind: JobKind, job_id: str, attempt: int,
            device: str | None = None) -> Job:
    """Puts attempt ``attempt`` of ``job_id`` on its queue with explicit timeouts and TTLs."""
    timeout = settings.job_timeout if kind == JobKind.TRAIN else settings.predict_timeout
    return queue(conn, queue_for(kind, device)).enqueue_call(
        TASK_OF_KIND[JobKind(kind)], args=(job_id, attempt), job_id=rq_job_id(job_id, attempt), timeout=timeout,
        result_ttl=settings.result_ttl, failure_ttl=settings.result_ttl, description=f"fitq {job_id}")


def cancel(conn: redis.Redis, job_id: str, attempt: int) -> None:
    """Takes a queued attempt off its RQ queue (a no-op when RQ already dropped or ran it)."""
    try:
        Job.fetch(rq_job_id(job_id, attempt), connection=conn, serializer=JSONSerializer).cancel()
    except (NoSuchJobError, InvalidJobOperation):
        return
