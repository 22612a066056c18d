"""Settings shared by the API and the workers, read from the environment with pydantic-settings.

Every variable except ``REDIS_URL`` carries the ``FITQ_`` prefix, for instance ``FITQ_DATA_DIR``,
``FITQ_MAX_UPLOAD_BYTES`` or ``FITQ_API_TOKENS='{"TOKEN": "tenant"}'``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PUBLIC_TENANT = "public"


class Settings(BaseSettings):
    """fitq's configuration; one instance per process (see :func:`get_settings`)."""

    model_config = SettingsConfigDict(env_prefix="FITQ_", extra="ignore")

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "FITQ_REDIS_URL"),
        description="Redis to use; unset means `fitq serve` starts an embedded redis-server.")
    data_dir: Path = Field(default=Path("fitq-data"), description="Root of the store (a cache with `store`).")
    store: str | None = Field(default=None, description="Object store for every file, s3://bucket/prefix; "
                              "unset: the data dir is the whole store.")
    store_endpoint: str | None = Field(default=None, description="The object store's URL (S3-compatible).")
    store_access_key: str | None = Field(default=None, description="The object store's access key.")
    store_secret_key: str | None = Field(default=None, description="The object store's secret key.")
    cache_bytes: int = Field(default=20 * 1024**3, gt=0,
                             description="With `store`: local bytes of dataset files kept for memory-mapping.")
    api_tokens: dict[str, str] = Field(
        default_factory=dict, description="Bearer token -> tenant; empty means no auth (loopback only).")
    workers: int = Field(default=1, ge=0, description="Worker processes `fitq serve` starts.")
    default_device: Literal["cpu", "gpu"] = Field(
        default="cpu", description="Where a job that names no device trains ('gpu': on the GPU workers).")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or as JSON objects carrying the job id (`json`).")

    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0, description="Byte cap of one upload.")
    max_extracted_bytes: int = Field(default=8 * 1024**3, gt=0, description="Cap of an archive's unpacked size.")
    max_archive_members: int = Field(default=200_000, gt=0, description="Cap of the files in one archive.")
    max_compression_ratio: float = Field(default=200.0, gt=1, description="Zip-bomb guard: unpacked/packed.")
    max_predict_rows: int = Field(default=10_000, gt=0, description="Rows one synchronous predict may carry.")
    max_unpack_seconds: float = Field(default=30.0, gt=0, description="CPU-time cap of unpacking one upload, s.")

    max_params: int = Field(default=50_000_000, gt=0, description="Parameters one model may have.")
    max_layers: int = Field(default=2_000, gt=0, description="Layers one model may have.")
    max_epochs: int = Field(default=100_000, gt=0, description="Epochs one job may ask for.")
    max_batch_size: int = Field(default=65_536, gt=0, description="Largest batch_size a job may ask for.")
    max_steps: int = Field(default=10_000_000, gt=0, description="Largest steps_per_epoch / validation_steps.")
    max_active_jobs: int = Field(default=100, gt=0,
                                 description="Queued + running jobs one tenant may have (429 past it).")

    job_timeout: int = Field(default=7 * 24 * 3600, gt=0, description="RQ job_timeout of a training job, s.")
    predict_timeout: int = Field(default=3600, gt=0, description="RQ job_timeout of a predict job, s.")
    result_ttl: int = Field(default=24 * 3600, ge=0, description="RQ result/failure TTL, s (records stay).")
    progress_interval: float = Field(default=0.2, gt=0, description="Least seconds between progress writes.")
    heartbeat_interval: float = Field(default=2.0, gt=0, description="Seconds between job heartbeats.")
    heartbeat_ttl: float = Field(default=10.0, gt=0, description="A running job silent this long is requeued.")
    scan_interval: float = Field(default=2.0, gt=0, description="Seconds between abandoned-job scans.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts before an abandoned job is failed.")

    redis_timeout: float = Field(default=5.0, gt=0, description="Socket timeout of the API's Redis calls, s.")
    retry_after: int = Field(default=5, ge=1, description="Retry-After of a 503 while Redis is unavailable, s.")
    worker_ttl: int = Field(default=30, ge=16,
                            description="RQ worker TTL, s: a worker checks in every worker_ttl - 15 s while idle.")
    restart_backoff: float = Field(default=1.0, gt=0, description="First delay before `fitq serve` restarts a "
                                   "dead worker or Redis, s; doubles on each quick death.")
    restart_backoff_max: float = Field(default=30.0, gt=0, description="Longest restart delay, s.")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
