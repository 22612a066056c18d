"""Job lifecycle steps outside the training process: enqueue, cancel, and requeue of abandoned jobs.

The API calls these; so may any process holding a Redis connection (they import no web framework).
"""
from __future__ import annotations

import logging
import time

import redis

from worker import queues
from worker.errors import Conflict
from worker.records import Records
from worker.settings import Settings

log = logging.getLogger("fitq.lifecycle")

QUEUE_OF_KIND = {"train": queues.TRAIN_QUEUE, "predict": queues.PREDICT_QUEUE}


def enqueue_new(conn: redis.Redis, settings: Settings, record: dict) -> None:
    """Puts a freshly created record's first attempt on its queue."""
    queues.enqueue(conn, settings, QUEUE_OF_KIND[record["kind"]], record["id"], record["attempt"])


def cancel(records: Records, conn: redis.Redis, job_id: str) -> dict:
    """Cancels a job: a queued one at once, a running one at its next batch (its checkpoint stays).

    Returns the record after the request; 409 when the job has already finished.
    """
    for _ in range(3):
        current = records.fields(job_id, "status", "attempt")
        status = current["status"]
        if status == "queued":
            if records.transition(job_id, ["queued"], "canceled", finished_at=time.time()):
                queues.cancel(conn, job_id, current["attempt"])
                break
        elif status == "running":
            records.event(job_id, "cancel_requested", {"attempt": current["attempt"]}, cancel_requested=True)
            break
        else:
            raise Conflict(f"job {job_id!r} has already finished ({status})", field="id")
    return records.get(job_id)


def requeue_abandoned(records: Records, conn: redis.Redis, settings: Settings) -> list[str]:
    """Finds running jobs whose process stopped beating and requeues them (or fails/cancels them).

    A requeued job gets attempt + 1 and resumes from its last epoch checkpoint. Returns the ids acted on.
    """
    acted = []
    for job_id in records.running_ids():
        if records.is_alive(job_id):
            continue
        current = records.fields(job_id, "status", "attempt", "kind", "cancel_requested")
        if current["status"] != "running":
            conn.srem("fitq:running", job_id)
            continue
        attempt = current["attempt"]
        now = time.time()
        if current["cancel_requested"]:
            done = records.transition(job_id, ["running"], "canceled", expect_attempt=attempt, finished_at=now)
        elif attempt >= settings.max_attempts:
            error = {"type": "WorkerLost", "message": f"the worker running attempt {attempt} stopped; "
                     f"{settings.max_attempts} attempts made"}
            done = records.transition(job_id, ["running"], "failed", expect_attempt=attempt,
                                      finished_at=now, error=error)
        else:
            done = records.transition(job_id, ["running"], "queued", expect_attempt=attempt,
                                      attempt=attempt + 1, requeued_at=now)
            if done:
                queues.enqueue(conn, settings, QUEUE_OF_KIND[current["kind"]], job_id, attempt + 1)
        if done:
            log.warning("job %s: worker of attempt %d is gone; acted on it", job_id, attempt)
            acted.append(job_id)
    return acted


def restore_from_store(records: Records, conn: redis.Redis, settings: Settings) -> list[str]:
    """Puts back into Redis every job the store knows and Redis does not (after Redis lost its data).

    Finished jobs come back as they were; queued or running ones are queued again (attempt + 1) and
    resume from their last checkpoint. Returns the ids restored.
    """
    restored = []
    for path in sorted((records.store.root / "jobs").glob("*/record.json")):
        job_id = path.parent.name
        if conn.exists(f"fitq:job:{job_id}") or not conn.set(f"fitq:restoring:{job_id}", 1, nx=True, ex=60):
            continue
        record = records.store.read_json(path)
        requeue = record["status"] not in ("succeeded", "failed", "canceled")
        if requeue:
            record.update(status="queued", attempt=record["attempt"] + 1, progress=None)
        records.restore(record)
        if requeue:
            queues.enqueue(conn, settings, QUEUE_OF_KIND[record["kind"]], job_id, record["attempt"])
        restored.append(job_id)
    if restored:
        log.warning("restored %d job records from the store", len(restored))
    return restored
