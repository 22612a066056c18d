"""Tags the log records made while serving a request under ``/v1/jobs/{id}`` with that job's id."""
from __future__ import annotations

import re

from worker.logs import set_job

JOB_PATH = re.compile(r"^/v1/jobs/(job_[A-Za-z0-9]+)")


class JobLogContext:
    """A pure ASGI middleware: the job id in the request's path becomes the ``job_id`` of its log records."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            match = JOB_PATH.match(scope["path"])
            set_job(match.group(1) if match else None)
        await self.app(scope, receive, send)
