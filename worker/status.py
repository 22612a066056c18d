"""A job's status and kind: the one vocabulary every module, route and command uses."""
from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is: ``queued`` -> ``running`` -> one of the terminal statuses (or back to ``queued``
    when its worker died and it will resume)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended for good."""
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class JobKind(StrEnum):
    """What a job does: ``train`` a model, ``predict`` a dataset with a trained one, or ``import`` a
    Keras model file (finished when it is created; never queued)."""

    TRAIN = "train"
    PREDICT = "predict"
    IMPORT = "import"
