"""The store: every file fitq keeps, under one root directory (``FITQ_DATA_DIR``); its layout is in
:mod:`worker.layout`.

Every write goes to a temporary file in the same directory and is renamed into place, so a reader
sees the old file or the new one, never half of one. With an object store (:mod:`worker.remote`,
``FITQ_STORE=s3://...``) each written file is then put there, and a machine that lacks a file fetches
it: the local root becomes a cache, its dataset files kept under ``FITQ_CACHE_BYTES``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from worker import layout
from worker.errors import Conflict, InvalidInput, NotFound
from worker.remote import NoRemote, remote_for

ID_PATTERN = re.compile(r"^[a-z]{2,4}_[0-9a-f]{16}$")
ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
CHECKPOINTS_KEPT = 2
_SPEC_FILES = {"JobSpec": layout.SPEC, "PredictJob": layout.PREDICT_REQUEST}
SpecT = TypeVar("SpecT", bound=BaseModel)


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
    """Files under ``root`` (and in ``remote``); all paths it hands out are checked to stay inside it."""

    def __init__(self, root: str | os.PathLike, remote=None, cache_bytes: int | None = None):
        self.root = Path(root).resolve()
        self.remote = remote if remote is not None else NoRemote()
        self.cache_bytes = cache_bytes
        for sub in (layout.DATASETS, layout.JOBS, layout.TMP):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings) -> "Store":
        """The store that ``settings`` describe (data dir, and the object store when ``store`` is set)."""
        remote = remote_for(settings.store, settings.store_endpoint, settings.store_access_key,
                            settings.store_secret_key)
        return cls(settings.data_dir, remote, settings.cache_bytes if remote.enabled else None)

    # -- local copies and the object store -------------------------------------------------------
    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _publish(self, path: Path) -> None:
        self.remote.put(self._key(path), path)

    def publish_dir(self, directory: Path) -> None:
        """Puts every file under ``directory`` (a dataset just assembled) in the object store."""
        for path in sorted(self.inside(directory).rglob("*")):
            if path.is_file():
                self._publish(path)

    def local(self, path: str | os.PathLike) -> Path | None:
        """``path`` with its file present locally, or None when the store has no such file.

        With an object store, that store is the authority: JSON documents (records, checkpoint
        pointers, descriptions: small, and rewritten by other machines) are fetched afresh each time;
        other files (arrays, checkpoints, weights: written once) are fetched once and then cached.
        """
        path = self.inside(path)
        if not self.remote.enabled:
            return path if path.is_file() else None
        fresh = path.suffix == ".json"
        if path.is_file() and not fresh:
            return path
        if not self.remote.fetch(self._key(path), path):
            path.unlink(missing_ok=True)  # deleted elsewhere: drop the stale copy
            return None
        if self.cache_bytes is not None and path.is_relative_to(self.root / layout.DATASETS):
            self._trim_cache(keep=path)
        return path

    def exists(self, path: str | os.PathLike) -> bool:
        """Whether the store holds the file at ``path`` (the object store decides when there is one)."""
        path = self.inside(path)
        return self.remote.exists(self._key(path)) if self.remote.enabled else path.is_file()

    def local_dir(self, directory: Path) -> Path:
        """``directory`` with every file the object store holds under it present locally."""
        directory = self.inside(directory)
        if self.remote.enabled:
            for key in self.remote.keys(self._key(directory) + "/"):
                self.local(self.root / key)
        return directory

    def _trim_cache(self, keep: Path) -> None:
        """Removes the least recently used local dataset files (they stay in the object store) until the
        cached datasets fit in ``cache_bytes``; ``keep`` stays."""
        files = [p for p in (self.root / layout.DATASETS).rglob("*") if p.is_file() and p != keep]
        total = sum(p.stat().st_size for p in files) + keep.stat().st_size
        for path in sorted(files, key=lambda p: p.stat().st_atime):
            if total <= self.cache_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)

    def _keys(self, top: layout.PurePosixPath, name: str) -> set[str]:
        """Ids under ``top`` that have a file ``name`` (``datasets``/``meta.json``, ``jobs``/``record.json``)."""
        if not self.remote.enabled:
            return {p.parent.name for p in (self.root / top).glob(f"*/{name}")}
        return {PurePosixPath(k).parent.name for k in self.remote.keys(f"{top}/")
                if k.endswith(f"/{name}") and len(PurePosixPath(k).parts) == 3}

    # -- paths -----------------------------------------------------------------------------------
    def inside(self, path: str | os.PathLike, field: str | None = None) -> Path:
        """``path`` resolved; a 422 naming ``field`` when it leaves the store's root."""
        resolved = Path(path).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidInput(f"path {str(path)!r} is outside the store", field=field)
        return resolved

    def dataset_dir(self, dataset_id: str) -> Path:
        """The directory of a dataset (not checked for existence)."""
        return self.inside(self.root / layout.DATASETS / check_id(dataset_id, "dataset"))

    def job_dir(self, job_id: str) -> Path:
        """The directory of a job's artifacts (created on demand)."""
        path = self.inside(self.root / layout.JOBS / check_id(job_id, "job"))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh path under ``tmp/`` (same filesystem as the data, so renames are atomic)."""
        fd, name = tempfile.mkstemp(dir=self.root / layout.TMP, suffix=suffix)
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
        self._publish(path)

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
        self._publish(path)

    def read_json(self, path: Path) -> Any:
        """The JSON document at ``path``."""
        return json.loads(self._must(path).read_text())

    def read_npz(self, path: Path) -> dict[str, np.ndarray]:
        """The arrays of an ``.npz`` file, by name (no pickles)."""
        with np.load(self._must(path), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def _must(self, path: Path) -> Path:
        found = self.local(path)
        if found is None:
            raise FileNotFoundError(f"the store has no {self._key(self.inside(path))}")
        return found

    # -- datasets --------------------------------------------------------------------------------
    def dataset_meta(self, dataset_id: str, tenant: str | None = None, field: str = "dataset") -> dict:
        """A dataset's description; 404 naming ``field`` when it is missing or another tenant's."""
        path = self.dataset_dir(check_id(dataset_id, field)) / layout.DATASET_META
        if not self.exists(path):
            raise NotFound(f"dataset {dataset_id!r} does not exist", field=field)
        meta = self.read_json(path)
        if tenant is not None and meta.get("tenant") != tenant:
            raise NotFound(f"dataset {dataset_id!r} does not exist", field=field)
        return meta

    def list_datasets(self, tenant: str) -> list[dict]:
        """The tenant's datasets, newest first."""
        metas = []
        for dataset_id in self._keys(layout.DATASETS, layout.DATASET_META):
            meta = self.read_json(self.dataset_dir(dataset_id) / layout.DATASET_META)
            if meta.get("tenant") == tenant:
                metas.append(meta)
        return sorted(metas, key=lambda m: m["created_at"], reverse=True)

    def delete_dataset(self, dataset_id: str, tenant: str) -> None:
        """Removes a dataset of ``tenant`` (404 when absent)."""
        self.dataset_meta(dataset_id, tenant)
        target = self.dataset_dir(dataset_id)
        trash = self.temp_path(".deleted")
        trash.unlink()
        if target.exists():
            os.replace(target, trash)
        shutil.rmtree(trash, ignore_errors=True)
        self.remote.delete(self._key(target) + "/")

    def array_path(self, dataset_id: str, array: str, field: str) -> Path:
        """The ``.npy`` file of ``dataset_id/array``; 422 naming ``field`` when there is no such array."""
        if not ARRAY_NAME.match(array or ""):
            raise InvalidInput(f"invalid array name {array!r}", field=field)
        path = self.local(self.inside(self.dataset_dir(dataset_id) / layout.DATASET_ARRAYS / f"{array}.npy",
                                      field=field))
        if path is None:
            raise InvalidInput(f"dataset {dataset_id!r} has no array {array!r}", field=field)
        return path

    def open_array(self, dataset_id: str, array: str, field: str = "data") -> np.ndarray:
        """``dataset_id/array`` as a read-only memory map."""
        return np.load(self.array_path(dataset_id, array, field), mmap_mode="r", allow_pickle=False)

    # -- sweeps ----------------------------------------------------------------------------------
    def write_sweep(self, sweep: dict) -> None:
        """Saves a sweep's document (``id``, ``tenant``, spec, trial job ids)."""
        self.write_json(self.inside(self.root / layout.SWEEPS / check_id(sweep["id"], "id") / layout.SWEEP), sweep)

    def read_sweep(self, sweep_id: str, tenant: str) -> dict:
        """A sweep of ``tenant``; 404 when there is none."""
        path = self.inside(self.root / layout.SWEEPS / check_id(sweep_id, "id") / layout.SWEEP)
        sweep = self.read_json(path) if self.exists(path) else None
        if sweep is None or sweep["tenant"] != tenant:
            raise NotFound(f"sweep {sweep_id!r} does not exist", field="id")
        return sweep

    # -- jobs ------------------------------------------------------------------------------------
    def job_file(self, job_id: str, name: str) -> Path:
        """The path of artifact ``name`` (one of :mod:`worker.layout`'s names) of a job."""
        return self.inside(self.job_dir(job_id) / name)

    def has(self, job_id: str, name: str) -> bool:
        """Whether the job has artifact ``name``."""
        return self.exists(self.job_file(job_id, name))

    def write_spec(self, job_id: str, spec: BaseModel) -> None:
        """Saves a job's validated spec (``JobSpec`` or ``PredictJob``) under its layout name."""
        self.write_json(self.job_file(job_id, _SPEC_FILES[type(spec).__name__]), spec.model_dump(mode="json"))

    def read_spec(self, job_id: str, kind: type[SpecT]) -> SpecT:
        """A job's stored spec parsed as ``kind`` (``JobSpec`` or ``PredictJob``)."""
        return kind.model_validate(self.read_json(self.job_file(job_id, _SPEC_FILES[kind.__name__])))

    def write_record(self, job_id: str, record: dict) -> None:
        """Saves the snapshot of a job's record (what survives a Redis that lost its data)."""
        self.write_json(self.job_file(job_id, layout.RECORD), jsonable(record))

    def read_record(self, job_id: str) -> dict | None:
        """The job's record snapshot, or None when the store has none."""
        path = self.inside(self.root / layout.JOBS / check_id(job_id, "id") / layout.RECORD)
        return self.read_json(path) if self.exists(path) else None

    def record_ids(self) -> list[str]:
        """Ids of every job with a record snapshot, sorted."""
        return sorted(self._keys(layout.JOBS, layout.RECORD))

    def save_checkpoint(self, job_id: str, epoch: int, arrays: dict[str, list[np.ndarray]], state: dict) -> None:
        """Saves groups of arrays after ``epoch`` (0-based) — ``{"weights": [...], "optimizer": [...], ...}`` —
        and ``state`` (History so far, RNG state, ...), then prunes older checkpoints."""
        ckpt_dir = self.job_dir(job_id) / layout.CHECKPOINTS
        name = layout.checkpoint_name(epoch)
        self.write_npz(ckpt_dir / name, {f"{group}.{i:05d}": a for group, items in arrays.items()
                                         for i, a in enumerate(items)})
        self.write_json(self.job_file(job_id, layout.CHECKPOINT), {**state, "epoch": epoch, "weights": name})
        names = {p.name for p in ckpt_dir.glob("epoch-*.npz")}
        if self.remote.enabled:  # with the checkpoints an earlier attempt wrote on another machine
            names |= {PurePosixPath(k).name for k in self.remote.keys(self._key(ckpt_dir) + "/")}
        for old in sorted(names)[:-CHECKPOINTS_KEPT]:
            (ckpt_dir / old).unlink(missing_ok=True)
            self.remote.delete(self._key(ckpt_dir / old))

    def load_checkpoint(self, job_id: str) -> tuple[dict, dict[str, list[np.ndarray]]] | None:
        """``(state, arrays by group)`` of the job's last checkpoint, or None when it has none."""
        path = self.job_file(job_id, layout.CHECKPOINT)
        if not self.exists(path):
            return None
        state = self.read_json(path)
        groups: dict[str, list[np.ndarray]] = {}
        for key, value in sorted(self.read_npz(self.job_dir(job_id) / layout.CHECKPOINTS / state["weights"]).items()):
            groups.setdefault(key.rpartition(".")[0], []).append(value)
        return state, groups

    def save_weights(self, job_id: str, weights: list[np.ndarray]) -> None:
        """Saves a job's weights as ``weights.npz`` (``w0000``, ``w0001``, ... in Keras's order)."""
        self.write_npz(self.job_file(job_id, layout.WEIGHTS), {f"w{i:04d}": w for i, w in enumerate(weights)})

    def save_trained(self, job_id: str, model_json: str, weights: list[np.ndarray], history: dict) -> None:
        """Saves a finished job's model JSON, its final weights (``w0000``, ... in Keras's order) and History."""
        self.save_weights(job_id, weights)
        self.write_bytes(self.job_file(job_id, layout.MODEL), model_json.encode())
        self.write_json(self.job_file(job_id, layout.HISTORY), history)

    def load_weights(self, job_id: str, field: str = "job") -> list[np.ndarray]:
        """A finished job's weights in Keras's order; 409 naming ``field`` when it has none."""
        path = self.job_file(job_id, layout.WEIGHTS)
        if not self.exists(path):
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
