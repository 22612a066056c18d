"""Where everything lives: every Redis key fitq uses and every path in the store, in one module.

Redis (all under ``fitq:``)::

    fitq:job:<id>             hash: the job record (JSON-encoded values)
    fitq:job:<id>:events      stream: status / progress / epoch events, in order (read by SSE)
    fitq:job:<id>:alive       string with a TTL, refreshed by the process running attempt N (value N)
    fitq:jobs:<tenant>        sorted set: the tenant's job ids by submit time
    fitq:running              set: ids of running jobs (scanned for abandoned ones)
    fitq:active:<tenant>      set: the tenant's queued and running job ids (changed with their status)
    fitq:active-indexed       marker: the active sets were built from the records (absent: build them)
    fitq:sweeps:<tenant>      sorted set: the tenant's sweep ids by creation time
    fitq:sweeps-active        set: ``tenant/sweep id`` of sweeps that may still have trials to rule on
    fitq:sweep:<id>:decided   set: ``trial@rung`` pairs the early-stopping rule has ruled on
    fitq:restoring:<id>       short lock while one process restores a job from the store
    fitq:instance             the marker a Redis holds while its data is fitq's (gone = emptied / new)
    fitq:workers              sorted set: live worker names by the time their heartbeat expires
    fitq:metrics:<name>       hash: a training-duration histogram (bucket counts, sum, count) for /metrics

Store (under ``FITQ_DATA_DIR``)::

    datasets/<id>/meta.json            what the dataset holds, its tenant
    datasets/<id>/arrays/<name>.npy    arrays, opened as memory maps
    datasets/<id>/images/<class>/...   an image folder's files
    jobs/<id>/spec.json                the job spec as submitted (train) / predict.json (predict)
    jobs/<id>/record.json              the job record's latest snapshot (survives a Redis restart)
    jobs/<id>/checkpoint.json          last finished epoch, History and RNG state up to it
    jobs/<id>/checkpoints/epoch-NNNNN.npz   weights and optimizer variables after that epoch
    jobs/<id>/model.json, weights.npz, history.json, predictions.npz
    sweeps/<id>/sweep.json             a sweep: its spec, tenant and trial job ids
    tmp/                               uploads and datasets being assembled
    redis/                             the embedded redis-server's files (append-only file, logs)
    redis/password                     its generated password (mode 0600)
"""
from __future__ import annotations

from pathlib import PurePosixPath

PREFIX = "fitq"

# -- Redis -------------------------------------------------------------------------------------------
RUNNING = f"{PREFIX}:running"
ACTIVE_INDEXED = f"{PREFIX}:active-indexed"
ACTIVE_SWEEPS = f"{PREFIX}:sweeps-active"
INSTANCE = f"{PREFIX}:instance"
WORKERS = f"{PREFIX}:workers"


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def events_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:events"


def alive_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:alive"


def tenant_key(tenant: str) -> str:
    return f"{PREFIX}:jobs:{tenant}"


def active_key(tenant: str) -> str:
    return f"{PREFIX}:active:{tenant}"


def sweeps_key(tenant: str) -> str:
    return f"{PREFIX}:sweeps:{tenant}"


def sweep_decided_key(sweep_id: str) -> str:
    return f"{PREFIX}:sweep:{sweep_id}:decided"


def restoring_key(job_id: str) -> str:
    return f"{PREFIX}:restoring:{job_id}"


def metrics_key(name: str) -> str:
    return f"{PREFIX}:metrics:{name}"


# -- store -------------------------------------------------------------------------------------------
DATASETS = PurePosixPath("datasets")
JOBS = PurePosixPath("jobs")
SWEEPS = PurePosixPath("sweeps")
SWEEP = "sweep.json"
TMP = PurePosixPath("tmp")
REDIS_DIR = PurePosixPath("redis")
REDIS_PASSWORD = "password"

DATASET_META = "meta.json"
DATASET_ARRAYS = "arrays"
DATASET_IMAGES = "images"

SPEC = "spec.json"
PREDICT_REQUEST = "predict.json"
RECORD = "record.json"
CHECKPOINT = "checkpoint.json"
CHECKPOINTS = "checkpoints"
MODEL = "model.json"
WEIGHTS = "weights.npz"
HISTORY = "history.json"
PREDICTIONS = "predictions.npz"


def checkpoint_name(epoch: int) -> str:
    """The file of the checkpoint taken after 0-based ``epoch``."""
    return f"epoch-{epoch + 1:05d}.npz"
