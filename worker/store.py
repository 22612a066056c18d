"""The store: every file fitq keeps, under one root directory (``FITQ_DATA_DIR``).

Layout::

    datasets/<id>/meta.json            what the dataset holds, its tenant
    datasets/<id>/arrays/<name>.npy    arrays, opened as memory maps
    datasets/<id>/images/<class>/...   an image folder's files
    jobs/<id>/spec.json                the job spec as submitted
    jobs/<id>/record.json              the job record's latest snapshot (survives a Redis restart)
    jobs/<id>/checkpoint.json          last finished epoch and the History up to it
    jobs/<id>/checkpoints/epoch-NNNN.npz   weights after that epoch
    jobs/<id>/model.json, weights.npz, history.json, predictions.npz

Every write goes to a temporary file in the same directory and is renamed into place, so a reader
sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import Conflict, InvalidInput, NotFound

ID_PATTERN = re.compile(r"^[a-z]{2,4}_[0-9a-f]{16}$")
ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
CHECKPOINTS_KEPT = 2


def new_id(prefix: str) -> str:
    """A fresh random id such as ``ds_1f0c...`` or ``job_9a7e...``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def check_id(value: str, field: str) -> str:
    """``value`` when it is a well-formed id; a 404 naming ``field`` otherwise (no path tricks)."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise NotFound(f"no such id: {value!r}", field=field)
    return value


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Files under ``root``; all paths it hands out are checked to stay inside it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        for sub in ("datasets", "jobs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------------
    def inside(self, path: str | os.PathLike, field: str | None = None) -> Path:
        """``path`` resolved; a 422 naming ``field`` when it leaves the store's root."""
        resolved = Path(path).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidInput(f"path {str(path)!r} is outside the store", field=field)
        return resolved

    def dataset_dir(self, dataset_id: str) -> Path:
        """The directory of a dataset (not checked for existence)."""
        return self.inside(self.root / "datasets" / check_id(dataset_id, "dataset"))

    def job_dir(self, job_id: str) -> Path:
        """The directory of a job's artifacts (created on demand)."""
        path = self.inside(self.root / "jobs" / check_id(job_id, "job"))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh path under ``tmp/`` (same filesystem as the data, so renames are atomic)."""
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", suffix=suffix)
        os.close(fd)
        return Path(name)

    # -- atomic writes ---------------------------------------------------------------------------
    def write_bytes(self, path: Path, data: bytes) -> None:
        """Writes ``data`` to ``path`` atomically (temp file, fsync, rename)."""
        path = self.inside(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def write_json(self, path: Path, obj: Any) -> None:
        """Writes ``obj`` as JSON to ``path`` atomically."""
        self.write_bytes(path, dumps(obj).encode())

    def write_npz(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        """Saves ``arrays`` as an uncompressed ``.npz`` at ``path`` atomically."""
        path = self.inside(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    @staticmethod
    def read_json(path: Path) -> Any:
        """The JSON document at ``path``."""
        return json.loads(Path(path).read_text())

    @staticmethod
    def read_npz(path: Path) -> dict[str, np.ndarray]:
        """The arrays of an ``.npz`` file, by name (no pickles)."""
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    # -- datasets --------------------------------------------------------------------------------
    def dataset_meta(self, dataset_id: str, tenant: str | None = None, field: str = "dataset") -> dict:
        """A dataset's description; 404 naming ``field`` when it is missing or another tenant's."""
        path = self.dataset_dir(check_id(dataset_id, field)) / "meta.json"
        if not path.is_file():
            raise NotFound(f"dataset {dataset_id!r} does not exist", field=field)
        meta = self.read_json(path)
        if tenant is not None and meta.get("tenant") != tenant:
            raise NotFound(f"dataset {dataset_id!r} does not exist", field=field)
        return meta

    def list_datasets(self, tenant: str) -> list[dict]:
        """The tenant's datasets, newest first."""
        metas = []
        for path in (self.root / "datasets").glob("*/meta.json"):
            meta = self.read_json(path)
            if meta.get("tenant") == tenant:
                metas.append(meta)
        return sorted(metas, key=lambda m: m["created_at"], reverse=True)

    def delete_dataset(self, dataset_id: str, tenant: str) -> None:
        """Removes a dataset of ``tenant`` (404 when absent)."""
        self.dataset_meta(dataset_id, tenant)
        target = self.dataset_dir(dataset_id)
        trash = self.temp_path(".deleted")
        trash.unlink()
        os.replace(target, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def array_path(self, dataset_id: str, array: str, field: str) -> Path:
        """The ``.npy`` file of ``dataset_id/array``; 422 naming ``field`` when there is no such array."""
        if not ARRAY_NAME.match(array or ""):
            raise InvalidInput(f"invalid array name {array!r}", field=field)
        path = self.inside(self.dataset_dir(dataset_id) / "arrays" / f"{array}.npy", field=field)
        if not path.is_file():
            raise InvalidInput(f"dataset {dataset_id!r} has no array {array!r}", field=field)
        return path

    def open_array(self, dataset_id: str, array: str, field: str = "data") -> np.ndarray:
        """``dataset_id/array`` as a read-only memory map."""
        return np.load(self.array_path(dataset_id, array, field), mmap_mode="r", allow_pickle=False)

    # -- jobs ------------------------------------------------------------------------------------
    def job_file(self, job_id: str, name: str) -> Path:
        """The path of artifact ``name`` of a job."""
        return self.inside(self.job_dir(job_id) / name)

    def save_checkpoint(self, job_id: str, epoch: int, weights: list[np.ndarray], optimizer: list[np.ndarray],
                        state: dict) -> None:
        """Saves the model's weights and the optimizer's variables after ``epoch`` (0-based) and ``state``
        (History so far, ...), then prunes older checkpoints."""
        ckpt_dir = self.job_dir(job_id) / "checkpoints"
        name = f"epoch-{epoch + 1:05d}.npz"
        arrays = {f"w{i:04d}": w for i, w in enumerate(weights)}
        arrays.update({f"o{i:04d}": v for i, v in enumerate(optimizer)})
        self.write_npz(ckpt_dir / name, arrays)
        self.write_json(self.job_file(job_id, "checkpoint.json"), {**state, "epoch": epoch, "weights": name})
        for old in sorted(ckpt_dir.glob("epoch-*.npz"))[:-CHECKPOINTS_KEPT]:
            old.unlink(missing_ok=True)

    def load_checkpoint(self, job_id: str) -> tuple[dict, list[np.ndarray], list[np.ndarray]] | None:
        """``(state, weights, optimizer variables)`` of the job's last checkpoint, or None when it has none."""
        path = self.job_file(job_id, "checkpoint.json")
        if not path.is_file():
            return None
        state = self.read_json(path)
        arrays = self.read_npz(self.job_dir(job_id) / "checkpoints" / state["weights"])
        keys = sorted(arrays)
        return (state, [arrays[k] for k in keys if k.startswith("w")], [arrays[k] for k in keys if k.startswith("o")])

    def save_weights(self, job_id: str, weights: list[np.ndarray]) -> None:
        """Saves a job's final weights as ``weights.npz`` (``w0000``, ``w0001``, ... in Keras's order)."""
        self.write_npz(self.job_file(job_id, "weights.npz"), {f"w{i:04d}": w for i, w in enumerate(weights)})

    def load_weights(self, job_id: str, field: str = "job") -> list[np.ndarray]:
        """A finished job's weights in Keras's order; 409 naming ``field`` when it has none."""
        path = self.job_file(job_id, "weights.npz")
        if not path.is_file():
            raise Conflict(f"job {job_id!r} has no trained weights", field=field)
        arrays = self.read_npz(path)
        return [arrays[k] for k in sorted(arrays)]


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy scalars/arrays as Python values and NaN/inf as None (JSON has neither)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON text of ``obj`` after :func:`jsonable`."""
    return json.dumps(jsonable(obj), allow_nan=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")
