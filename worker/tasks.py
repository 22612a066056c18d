"""The RQ jobs: ``run_training`` and ``run_prediction``, called by RQ's forking worker with a job id.

Each call is one attempt. It marks the job running (only if it is still queued at this attempt),
beats a heartbeat while it works, and ends in ``succeeded``, ``failed`` (with the exception's type and
message) or ``canceled``; a job whose process dies is requeued by :func:`worker.lifecycle.requeue_abandoned`
and resumes from its last epoch checkpoint.
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import redis
from rq import get_current_job

from worker import data, layout
from worker.generators import training_sequences
from worker.heartbeat import Heartbeat
from worker.logs import job_context
from worker.models import build_model, compile_kwargs, load_trained
from worker.progress import JobReporter
from worker.records import Records, when_redis_answers
from worker.settings import Settings, get_settings
from worker.spec import JobSpec, PredictJob
from worker.status import JobKind, JobStatus
from worker.store import Store
from worker.telemetry import TrainingTimer

log = logging.getLogger("fitq.worker")


@dataclass
class Context:
    """What a job needs from its process: settings, Redis, the store and the records."""

    settings: Settings
    conn: redis.Redis
    store: Store
    records: Records

    @classmethod
    def from_env(cls, conn: redis.Redis | None = None) -> "Context":
        """The context from the environment's settings; ``conn`` is a Redis client to share (the RQ
        worker's, which its job process has already connected: a new one costs a handshake per job)."""
        settings = get_settings()
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set")
        conn = conn or redis.Redis.from_url(settings.redis_url)
        store = Store.from_settings(settings)
        return cls(settings, conn, store, Records(conn, store))


def _fit_data(spec: JobSpec, ctx: Context, tenant: str, model) -> dict:
    """``x``, ``y``, ``sample_weight`` and ``validation_data`` for ``model.fit`` from the spec's data."""
    d = spec.data
    if d.generator is not None:
        train, validation = training_sequences(ctx.store, tenant, d.generator, d.validation_generator)
        return {"x": train, "validation_data": validation}
    return data.resolve(ctx.store, tenant, d, list(model.input_names), list(model.output_names)).arguments()


def _fit_options(spec: JobSpec) -> dict:
    f = spec.fit
    options = f.model_dump(exclude={"callbacks", "class_weight"})
    if f.class_weight is not None:
        options["class_weight"] = {int(k): v for k, v in f.class_weight.items()}
    if spec.data.generator is not None:
        options.pop("batch_size")
        options.pop("shuffle")
    return options


def _train(ctx: Context, job_id: str, attempt: int, record: dict) -> None:
    from engine import callbacks  # noqa: PLC0415 - the engine loads in the work horse, after the fork
    from engine import random as engine_random  # noqa: PLC0415

    spec = ctx.store.read_spec(job_id, JobSpec)
    checkpoint = ctx.store.load_checkpoint(job_id)
    # Each job seeds its own generators (none inherited through fork); a resumed attempt reuses the seed.
    seed = checkpoint[0]["seed"] if checkpoint else spec.seed if spec.seed is not None else secrets.randbelow(2**31)
    engine_random.set_random_seed(seed)
    with engine_random.tracking() as generators:
        model = build_model(spec.model)
        model.use_backend(spec.array_backend)
        model.compile(**compile_kwargs(spec.compile))
        options = _fit_options(spec)
        if checkpoint is not None:
            state, arrays = checkpoint
            model.set_weights(arrays["weights"])
            model.optimizer.build(model.trainable_weights)
            model.optimizer.load_own_variables({str(i): v for i, v in enumerate(arrays.get("optimizer", []))})
            options["initial_epoch"] = state["epoch"] + 1
            log.info("job %s attempt %d resumes after epoch %d", job_id, attempt, state["epoch"] + 1)
        elif spec.initial_weights:
            model.set_weights(ctx.store.load_weights(spec.initial_weights, field="initial_weights"))
        peers = [callbacks.get(cb.model_dump()) for cb in spec.fit.callbacks]
        reporter = JobReporter(ctx.records, ctx.store, job_id, attempt, ctx.settings.progress_interval, seed,
                               generators, peers, checkpoint)
        # A checkpoint taken as a callback stopped training (EarlyStopping) ends the job as it did then.
        stopped = checkpoint is not None and checkpoint[0].get("stopped", False)
        if options["initial_epoch"] < options["epochs"] and not stopped:
            timer = TrainingTimer(ctx.conn)  # epoch and step durations for /metrics
            model.fit(**_fit_data(spec, ctx, record["tenant"], model), callbacks=peers + [reporter, timer], **options)
    if reporter.superseded:
        return
    if reporter.canceled:
        _end(ctx, job_id, attempt, JobStatus.CANCELED)
        return
    if reporter.diverged is not None:
        _fail_diverged(ctx, job_id, attempt, reporter)
        return
    ctx.store.save_trained(job_id, model.to_json(), model.get_weights(),
                           {"epoch": reporter.epochs_done, "history": reporter.history})
    _end(ctx, job_id, attempt, JobStatus.SUCCEEDED, history=reporter.history, epoch=reporter.epochs_done)


def _end(ctx: Context, job_id: str, attempt: int, status: JobStatus, **fields) -> None:
    """Moves this attempt from ``running`` to its final ``status``, waiting out a short Redis outage."""
    when_redis_answers(lambda: ctx.records.transition(job_id, [JobStatus.RUNNING], status, expect_attempt=attempt,
                                                      finished_at=time.time(), **fields))


def _fail_diverged(ctx: Context, job_id: str, attempt: int, reporter: JobReporter) -> None:
    """Ends a job whose loss stopped being finite: ``failed``, naming the epoch and batch; the weights of
    its last finite checkpoint (if any) become its downloadable weights."""
    d = reporter.diverged
    message = f"the loss became {d['loss']} at epoch {d['epoch'] + 1}, batch {d['batch'] + 1}"
    checkpoint = ctx.store.load_checkpoint(job_id)
    if checkpoint is not None:
        ctx.store.save_weights(job_id, checkpoint[1]["weights"])
        message += f"; the weights after epoch {checkpoint[0]['epoch'] + 1} (the last finite checkpoint) are kept"
    else:
        message += "; no epoch finished, so there are no weights to keep"
    _end(ctx, job_id, attempt, JobStatus.FAILED, error={"type": "NonFiniteLoss", "message": message},
         history=reporter.history, epoch=reporter.epochs_done)


def _predict(ctx: Context, job_id: str, attempt: int, record: dict) -> None:
    request = ctx.store.read_spec(job_id, PredictJob)
    parent_spec = ctx.store.read_spec(request.parent, JobSpec)
    model = load_trained(ctx.store, request.parent)  # predict jobs run on CPU workers
    x = data.load(data.by_name(ctx.store, record["tenant"], request.dataset, list(model.input_names), "dataset"))
    predictions = model.predict(x, batch_size=request.batch_size, verbose=0)
    if len(model.output_names) == 1:
        predictions = [predictions]
    arrays = dict(zip(model.output_names, predictions))
    ctx.store.write_npz(ctx.store.job_file(job_id, layout.PREDICTIONS), arrays)
    outputs = {name: {"shape": list(a.shape), "dtype": a.dtype.name} for name, a in arrays.items()}
    _end(ctx, job_id, attempt, JobStatus.SUCCEEDED, outputs=outputs)


def run(ctx: Context, kind: JobKind, job_id: str, attempt: int) -> str:
    """Runs attempt ``attempt`` of ``job_id`` in this process; returns the job's status after it.

    Nothing happens unless the job is queued at that attempt (a cancel or a newer attempt won). Log
    records made meanwhile carry the job's id and attempt.
    """
    with job_context(job_id, attempt):
        return _run_attempt(ctx, kind, job_id, attempt)


def _run_attempt(ctx: Context, kind: JobKind, job_id: str, attempt: int) -> str:
    ctx.records.beat(job_id, attempt, ctx.settings.heartbeat_ttl)
    if not ctx.records.transition(job_id, [JobStatus.QUEUED], JobStatus.RUNNING, expect_attempt=attempt,
                                  started_at=time.time(), cancel_requested=False, progress=None):
        return "skipped"
    heartbeat = Heartbeat(ctx.records, job_id, attempt, ctx.settings.heartbeat_interval,
                          ctx.settings.heartbeat_ttl).start()
    try:
        _RUNNERS[JobKind(kind)](ctx, job_id, attempt, ctx.records.get(job_id))
    except Exception as exc:  # every failure is recorded on the job, with its type and message
        log.exception("job %s attempt %d failed", job_id, attempt)
        error = {"type": type(exc).__name__, "message": str(exc)}
        _end(ctx, job_id, attempt, JobStatus.FAILED, error=error)
    finally:
        heartbeat.stop()
    return ctx.records.fields(job_id, "status")["status"]


_RUNNERS = {JobKind.TRAIN: _train, JobKind.PREDICT: _predict}


def _rq_connection() -> redis.Redis | None:
    """The Redis client of the RQ job this process runs, if any."""
    job = get_current_job()
    return job.connection if job is not None else None


def run_training(job_id: str, attempt: int) -> str:
    """RQ entry: trains attempt ``attempt`` of job ``job_id``; returns the job's status after it."""
    return run(Context.from_env(_rq_connection()), JobKind.TRAIN, job_id, attempt)


def run_prediction(job_id: str, attempt: int) -> str:
    """RQ entry: predicts a dataset with a finished job's model; returns the job's status after it."""
    return run(Context.from_env(_rq_connection()), JobKind.PREDICT, job_id, attempt)
