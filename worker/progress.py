"""The callback a training job runs with: progress, History and events to Redis, checkpoints to the store.

Progress is written at most once per ``progress_interval`` seconds; the same throttled call reads
the job's cancel flag and attempt, so a cancel stops training at the next batch and a process whose
job was handed to another worker stops without writing over it. Each epoch's checkpoint holds the
weights, the optimizer's variables, the random generators' states and the other callbacks' state, so
an attempt that resumes from it ends exactly where an uninterrupted one would. A loss that is not
finite stops training at that batch (see :attr:`JobReporter.diverged`).
"""
from __future__ import annotations

import logging
import math
import time

import redis
from engine import callbacks
from engine import random as engine_random

from worker.records import Records, when_redis_answers
from worker.store import Store

log = logging.getLogger("fitq.worker")


class JobReporter(callbacks.Callback):
    """Reports one attempt of one job.

    ``resume`` is the last checkpoint's state (None for a fresh start): History and epochs that earlier
    attempts finished, and the states restored at ``on_train_begin``. ``generators`` are the random
    generators the job made (:func:`engine.random.tracking`); ``peers`` the job's other callbacks.
    """

    def __init__(self, records: Records, store: Store, job_id: str, attempt: int, interval: float, seed: int,
                 generators: list, peers: list, resume: tuple[dict, dict] | None = None):
        super().__init__()
        self.records, self.store, self.job_id, self.attempt = records, store, job_id, attempt
        self.interval, self.seed, self.generators, self.peers = interval, seed, generators, peers
        self.resume = resume
        state = resume[0] if resume else {}
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self.epochs_done = list(state.get("epochs", []))
        self.canceled = False
        self.superseded = False
        self.diverged: dict | None = None
        self._last = 0.0
        self._epoch = 0
        self._batch = 0
        self._steps = None

    @property
    def stopped_early(self) -> bool:
        """Whether a cancel, a newer attempt or a non-finite loss stopped this attempt."""
        return self.canceled or self.superseded or self.diverged is not None

    def on_train_begin(self, logs=None):
        self._steps = (self.params or {}).get("steps")
        if self.resume is None:
            return
        state, arrays = self.resume
        engine_random.set_state(self.generators, state["random"])
        for i, (peer, saved) in enumerate(zip(self.peers, state["callbacks"])):
            if f"callback{i}" in arrays:
                saved = {**saved, "arrays": arrays[f"callback{i}"]}
            peer.set_state(saved)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batch = 0
        self._report(0, {}, force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._batch = batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = {"epoch": self._epoch, "batch": batch, "loss": float(loss)}
            self.model.stop_training = True
            return
        self._report(batch + 1, logs or {})

    def _report(self, batch: int, logs: dict, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        try:
            state = self.records.fields(self.job_id, "cancel_requested", "attempt")
        except redis.RedisError as exc:  # progress is best effort: training goes on while Redis is away
            log.warning("job %s: progress not written (%s)", self.job_id, exc)
            return
        if state["attempt"] != self.attempt:
            self.superseded = True
        elif state["cancel_requested"]:
            self.canceled = True
        if self.stopped_early:
            self.model.stop_training = True
            return
        progress = {"epoch": self._epoch, "epochs": (self.params or {}).get("epochs"), "batch": batch,
                    "steps": self._steps, "logs": {k: float(v) for k, v in logs.items()}}
        try:
            self.records.event(self.job_id, "progress", progress, progress=progress)
        except redis.RedisError as exc:
            log.warning("job %s: progress not written (%s)", self.job_id, exc)

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_early:
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.epochs_done.append(epoch)
        optimizer: dict = {}
        self.model.optimizer.save_own_variables(optimizer)
        arrays = {"weights": self.model.get_weights(), "optimizer": [optimizer[str(i)] for i in range(len(optimizer))]}
        peer_states = []
        for i, peer in enumerate(self.peers):
            state = dict(peer.get_state())
            if "arrays" in state:
                arrays[f"callback{i}"] = state.pop("arrays")
            peer_states.append(state)
        self.store.save_checkpoint(self.job_id, epoch, arrays, {
            "history": self.history, "epochs": self.epochs_done, "attempt": self.attempt, "seed": self.seed,
            "random": engine_random.get_state(self.generators), "callbacks": peer_states,
            "stopped": bool(self.model.stop_training)})
        # the epoch's last batch, so a finished job's progress is final and not the last throttled batch
        steps = self._steps if self._steps is not None else self._batch
        progress = {"epoch": epoch, "epochs": (self.params or {}).get("epochs"), "batch": steps,
                    "steps": steps, "logs": {k: v for k, v in logs.items() if not k.startswith("val_")}}
        when_redis_answers(lambda: self.records.event(self.job_id, "epoch", {"epoch": epoch, "logs": logs},
                                                      history=self.history, epoch=self.epochs_done,
                                                      progress=progress))
