"""The callback a training job runs with: progress, History and events to Redis, checkpoints to the store.

Progress is written at most once per ``progress_interval`` seconds; the same throttled call reads
the job's cancel flag and attempt, so a cancel stops training at the next batch and a process whose
job was handed to another worker stops without writing over it.
"""
from __future__ import annotations

import time

from engine import callbacks

from worker.records import Records
from worker.store import Store


class JobReporter(callbacks.Callback):
    """Reports one attempt of one job; ``history``/``epochs`` hold what earlier attempts finished."""

    def __init__(self, records: Records, store: Store, job_id: str, attempt: int, interval: float,
                 history: dict[str, list] | None = None, epochs_done: list[int] | None = None):
        super().__init__()
        self.records = records
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.epochs_done = list(epochs_done or [])
        self.canceled = False
        self.superseded = False
        self._last = 0.0
        self._epoch = 0
        self._steps = None

    @property
    def stopped_early(self) -> bool:
        """Whether a cancel or a newer attempt stopped this one."""
        return self.canceled or self.superseded

    def on_train_begin(self, logs=None):
        self._steps = (self.params or {}).get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._report(0, {}, force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._report(batch + 1, logs or {})

    def _report(self, batch: int, logs: dict, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        state = self.records.fields(self.job_id, "cancel_requested", "attempt")
        if state["attempt"] != self.attempt:
            self.superseded = True
        elif state["cancel_requested"]:
            self.canceled = True
        if self.stopped_early:
            self.model.stop_training = True
            return
        progress = {"epoch": self._epoch, "epochs": (self.params or {}).get("epochs"), "batch": batch,
                    "steps": self._steps, "logs": {k: float(v) for k, v in logs.items()}}
        self.records.event(self.job_id, "progress", progress, progress=progress)

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_early:
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.epochs_done.append(epoch)
        optimizer: dict = {}
        self.model.optimizer.save_own_variables(optimizer)
        self.store.save_checkpoint(self.job_id, epoch, self.model.get_weights(),
                                   [optimizer[str(i)] for i in range(len(optimizer))],
                                   {"history": self.history, "epochs": self.epochs_done, "attempt": self.attempt})
        self.records.event(self.job_id, "epoch", {"epoch": epoch, "logs": logs},
                           history=self.history, epoch=self.epochs_done)
