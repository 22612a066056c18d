"""Job lifecycle steps outside the training process: submit, cancel, requeue of abandoned jobs, restore.

The API calls these; so may any process holding a Redis connection (they import no web framework).
"""
from __future__ import annotations

import logging
import time

import redis

from worker import queues
from worker.errors import Conflict, TooManyRequests
from worker.layout import ACTIVE_INDEXED, INSTANCE
from worker.records import Records
from worker.store import new_id
from worker.settings import Settings
from worker.spec import DataSpec, JobSpec, PredictJob
from worker.status import TERMINAL, JobKind, JobStatus

log = logging.getLogger("fitq.lifecycle")


def submit(records: Records, conn: redis.Redis, settings: Settings, tenant: str, kind: JobKind, spec,
           name: str | None, extra: dict | None = None) -> dict:
    """Stores a validated spec under a new job id, creates its ``queued`` record and enqueues attempt 1;
    429 when the tenant already has ``max_active_jobs`` queued or running."""
    active = records.active_count(tenant)
    if active >= settings.max_active_jobs:
        raise TooManyRequests(f"{active} jobs are already queued or running, this server's limit per "
                              f"caller (FITQ_MAX_ACTIVE_JOBS); wait for one to end or cancel one")
    if isinstance(spec, JobSpec) and spec.device is None:
        spec = spec.model_copy(update={"device": "gpu" if spec.backend == "cupy" else settings.default_device})
    job_id = new_id("job")
    records.store.write_spec(job_id, spec)
    device = getattr(spec, "device", None)
    record = records.create(job_id, tenant, kind, name, {**(extra or {}), **({"device": device} if device else {})})
    queues.enqueue(conn, settings, kind, job_id, record["attempt"], device)
    return record


def active_jobs(records: Records, tenant: str) -> list[str]:
    """The tenant's queued or running jobs, newest first (a running job whose worker died is requeued:
    still active)."""
    return records.active(tenant)


def jobs_using_dataset(records: Records, tenant: str, dataset_id: str) -> list[str]:
    """The tenant's active jobs that will read ``dataset_id`` (training data, or a predict job's input)."""
    from worker.data import dataset_ids  # noqa: PLC0415 - data imports the engine, which only this check needs

    using = []
    for job_id in active_jobs(records, tenant):
        kind = records.fields(job_id, "kind")["kind"]
        if kind == JobKind.TRAIN:
            ids = dataset_ids(records.store.read_spec(job_id, JobSpec).data)
        else:
            ids = dataset_ids(DataSpec(x=records.store.read_spec(job_id, PredictJob).dataset, y=None))
        if dataset_id in ids:
            using.append(job_id)
    return using


def cancel(records: Records, conn: redis.Redis, job_id: str) -> dict:
    """Cancels a job: a queued one at once, a running one at its next batch (its checkpoint stays).

    Returns the record after the request; 409 when the job has already finished.
    """
    for _ in range(3):
        current = records.fields(job_id, "status", "attempt")
        status = current["status"]
        if status == JobStatus.QUEUED:
            if records.transition(job_id, [JobStatus.QUEUED], JobStatus.CANCELED, finished_at=time.time()):
                queues.cancel(conn, job_id, current["attempt"])
                break
        elif status == JobStatus.RUNNING:
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
        current = records.fields(job_id, "status", "attempt", "kind", "cancel_requested", "device")
        if current["status"] != JobStatus.RUNNING:
            records.forget_running(job_id)
            continue
        attempt = current["attempt"]
        now = time.time()
        if current["cancel_requested"]:
            done = records.transition(job_id, [JobStatus.RUNNING], JobStatus.CANCELED, expect_attempt=attempt, finished_at=now)
        elif attempt >= settings.max_attempts:
            error = {"type": "WorkerLost", "message": f"the worker running attempt {attempt} stopped; "
                     f"{settings.max_attempts} attempts made"}
            done = records.transition(job_id, [JobStatus.RUNNING], JobStatus.FAILED, expect_attempt=attempt,
                                      finished_at=now, error=error)
        else:
            done = records.transition(job_id, [JobStatus.RUNNING], JobStatus.QUEUED, expect_attempt=attempt,
                                      attempt=attempt + 1, requeued_at=now)
            if done:
                queues.enqueue(conn, settings, current["kind"], job_id, attempt + 1, current["device"])
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
    for job_id in records.store.record_ids():
        if records.exists(job_id) or not records.lock_restore(job_id):
            continue
        record = records.store.read_record(job_id)
        requeue = record["status"] not in TERMINAL
        if requeue:
            record.update(status=JobStatus.QUEUED, attempt=record["attempt"] + 1, progress=None)
        records.restore(record)
        if requeue:
            queues.enqueue(conn, settings, record["kind"], job_id, record["attempt"], record.get("device"))
        restored.append(job_id)
    if restored:
        log.warning("restored %d job records from the store", len(restored))
    return restored


def reconcile(records: Records, conn: redis.Redis, settings: Settings) -> list[str]:
    """Restores records and queues from the store when Redis lacks fitq's marker (an emptied or new
    Redis), then sets the marker, and builds the set of active jobs where Redis has none yet; a
    no-op (one EXISTS) otherwise. Returns the ids restored."""
    if conn.exists(INSTANCE, ACTIVE_INDEXED) == 2:
        return []
    restored = []
    if not conn.exists(INSTANCE):
        log.warning("this Redis holds no fitq marker (emptied or new): restoring jobs from the store")
        restored = restore_from_store(records, conn, settings)
        conn.set(INSTANCE, new_id("redis"))
    records.index_active()
    return restored
