"""Log set-up for ``fitq serve`` and ``fitq worker``: text lines, or JSON objects with the job's id.

``FITQ_LOG_FORMAT=json`` writes one JSON object a line (``time``, ``level``, ``logger``, ``message``,
and ``job_id`` / ``attempt`` while a job runs or a request names one), which log collectors index
without parsing; the default stays human-readable text.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterator

_job: contextvars.ContextVar[tuple[str, int | None] | None] = contextvars.ContextVar("fitq_job", default=None)

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


@contextmanager
def job_context(job_id: str, attempt: int | None = None) -> Iterator[None]:
    """Tags every log record made inside the block with ``job_id`` (and ``attempt``)."""
    token = _job.set((job_id, attempt))
    try:
        yield
    finally:
        _job.reset(token)


def set_job(job_id: str | None) -> None:
    """Tags the rest of the current task's log records with ``job_id`` (an HTTP request's job)."""
    _job.set((job_id, None) if job_id else None)


class JobFilter(logging.Filter):
    """Copies the current job id and attempt onto each record (``record.job_id``, ``record.attempt``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _job.get()
        if current is not None and not hasattr(record, "job_id"):
            record.job_id, record.attempt = current
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key in ("job_id", "attempt"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: int, fmt: str = "text", force: bool = False) -> None:
    """Sends every logger's records to stderr as ``fmt`` (``text`` or ``json``), tagged with job ids.

    Like :func:`logging.basicConfig`, it leaves a process whose root logger already has handlers alone
    unless ``force`` is given.
    """
    root = logging.getLogger()
    if root.handlers and not force:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(JobFilter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
