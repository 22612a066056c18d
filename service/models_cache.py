"""Trained models kept in the API process for synchronous predict / evaluate, a few at a time.

A model is loaded once from the store (``model.json`` + ``weights.npz``) and reused while those files
do not change; calls into one model are serialised with its lock.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from worker import layout
from worker.models import load_trained
from worker.spec import JobSpec
from worker.store import Store


class ModelCache:
    """Up to ``size`` trained models by job id."""

    def __init__(self, store: Store, size: int = 8):
        self.store = store
        self.size = size
        self._lock = threading.Lock()
        self._models: OrderedDict[str, tuple[float, object, threading.Lock]] = OrderedDict()

    def get(self, job_id: str):
        """``(model, lock)`` of a finished job (compiled with its spec, for evaluate)."""
        stamp = self.store.local(self.store.job_file(job_id, layout.WEIGHTS))
        mtime = stamp.stat().st_mtime if stamp is not None else -1.0
        with self._lock:
            hit = self._models.get(job_id)
            if hit is not None and hit[0] == mtime:
                self._models.move_to_end(job_id)
                return hit[1], hit[2]
        model = load_trained(self.store, job_id, self.store.read_spec(job_id, JobSpec).compile)
        entry = (mtime, model, threading.Lock())
        with self._lock:
            self._models[job_id] = entry
            self._models.move_to_end(job_id)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model, entry[2]
