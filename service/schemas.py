"""Response bodies of the REST API (requests are :mod:`worker.spec`'s models)."""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, TypeAdapter


class ArrayInfo(BaseModel):
    shape: list[int]
    dtype: str
    finite: bool | None = None
    """Whether every value is a finite number (None for datasets described before fitq recorded it)."""


class Dataset(BaseModel):
    """An uploaded dataset: its arrays (name -> shape, dtype) or, for image folders, its images."""

    id: str
    name: str
    format: str
    bytes: int
    created_at: float
    arrays: dict[str, ArrayInfo] = {}
    columns: list[str] | None = None
    images: dict[str, Any] | None = None


class DatasetList(BaseModel):
    datasets: list[Dataset]


class Progress(BaseModel):
    epoch: int
    epochs: int | None = None
    batch: int
    steps: int | None = None
    logs: dict[str, float | None] = {}


class JobError(BaseModel):
    type: str
    message: str


class Job(BaseModel):
    """A job record: status, progress, History so far, error, timings and attempt."""

    id: str
    kind: str
    name: str | None = None
    status: str
    attempt: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: Progress | None = None
    epoch: list[int] = []
    history: dict[str, list[float | None]] = {}
    error: JobError | None = None
    cancel_requested: bool = False
    parent: str | None = None
    outputs: dict[str, ArrayInfo] | None = None


JOB = TypeAdapter(Job)


def job_json(raw: Mapping[bytes, bytes]) -> bytes:
    """The JSON answer for a job record hash as Redis holds it (field -> JSON text): the fields are
    joined into one JSON object as they are, then validated and encoded by :class:`Job` in one pass
    (the same bytes as ``Job.model_validate(record).model_dump_json()``, without decoding each field)."""
    return JOB.dump_json(JOB.validate_json(b"{" + b",".join(b'"%s":%s' % item for item in raw.items()) + b"}"))


class JobList(BaseModel):
    jobs: list[Job]
    total: int
    offset: int
    limit: int


class History(BaseModel):
    """Keras's ``History``: ``epoch`` indices and ``history`` lists by key."""

    epoch: list[int]
    history: dict[str, list[float | None]]


class Health(BaseModel):
    status: str
    redis: bool
    workers: int
    gpu_workers: list[str] = []
    """Names of the live workers that serve a GPU (``fitq worker --gpu N``)."""
    version: str
