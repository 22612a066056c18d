"""Keras model files over REST: an uploaded ``.h5`` / ``.keras`` file imported, a job's model exported.

An import checks the untrusted file before the engine opens it: its name and its first bytes must
agree on the format (HDF5 for ``.h5`` / ``.hdf5``, a zip for ``.keras``); a ``.keras`` archive may
hold only ``config.json``, ``metadata.json`` and ``model.weights.h5`` (no pickles, no other code
carriers), within the archive caps; the model config must name no ``Lambda`` or other code layer.
The engine then reads it with the semantics of the Keras that wrote it (a Keras 2 ``.h5`` keeps
Keras 2's), and the import is stored as a finished job of kind ``import`` whose ``model.json`` and
weights are the file's: its id works as ``initial_weights`` and with ``GET /v1/jobs/{id}/model``.
"""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from worker import layout
from worker.errors import Conflict, InvalidInput
from worker.models import check_size, load_trained
from worker.records import Records
from worker.settings import Settings
from worker.spec import JobSpec
from worker.status import JobKind, JobStatus
from worker.store import Store

FORMATS = {".h5": "h5", ".hdf5": "h5", ".keras": "keras"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
_MAX_CONFIG_BYTES = 16 * 1024 * 1024


def model_file_format(filename: str) -> str:
    """``"h5"`` or ``"keras"`` from an upload's file name; 422 for any other name."""
    fmt = next((f for suffix, f in FORMATS.items() if filename.lower().endswith(suffix)), None)
    if fmt is None:
        raise InvalidInput(f"{filename!r} is not a Keras model file: send a .h5, .hdf5 or .keras file", field="file")
    return fmt


def _check_keras_zip(path: Path, settings: Settings) -> dict:
    """The config of a ``.keras`` archive whose members and sizes are what Keras writes."""
    if not zipfile.is_zipfile(path):
        raise InvalidInput("the .keras file is not a zip archive", field="file")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        extra = sorted(names - _KERAS_MEMBERS)
        if extra:
            raise InvalidInput(f"the .keras archive holds {extra[0]!r}; only {sorted(_KERAS_MEMBERS)} are read "
                               "(no pickles or other files)", field="file")
        if not {"config.json", "model.weights.h5"} <= names:
            raise InvalidInput("the .keras archive needs config.json and model.weights.h5", field="file")
        unpacked = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if unpacked > settings.max_extracted_bytes or unpacked / packed > settings.max_compression_ratio:
            raise InvalidInput("the .keras archive unpacks to too much data (a zip bomb?)", field="file")
        if zf.getinfo("config.json").file_size > _MAX_CONFIG_BYTES:
            raise InvalidInput("the .keras archive's config.json is too large", field="file")
        try:
            return json.loads(zf.read("config.json"))
        except ValueError as exc:
            raise InvalidInput(f"the .keras archive's config.json is not JSON: {exc}", field="file") from exc


def _check_h5(path: Path) -> dict:
    """The ``model_config`` of an HDF5 model file."""
    import h5py  # noqa: PLC0415 - only imports need it

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise InvalidInput(f"the .h5 file cannot be read: {exc}", field="file") from exc
    if raw is None:
        raise InvalidInput("the .h5 file holds weights only (no model_config): save it with model.save()",
                           field="file")
    raw = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
    if len(raw) > _MAX_CONFIG_BYTES:
        raise InvalidInput("the .h5 file's model_config is too large", field="file")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the .h5 file's model_config is not JSON: {exc}", field="file") from exc


def read_model_file(path: Path, filename: str, settings: Settings):
    """The engine model in an uploaded Keras file, checked as the module docstring says; 422 otherwise."""
    from engine import load_model  # noqa: PLC0415 - the engine is imported where models are built
    from engine.saving.code_layers import first_code_layer  # noqa: PLC0415

    fmt = model_file_format(filename)
    with open(path, "rb") as f:
        is_h5 = f.read(8) == _HDF5_SIGNATURE
    if is_h5 != (fmt == "h5"):
        raise InvalidInput(f"{filename!r} is not a {'HDF5' if fmt == 'h5' else '.keras zip'} file", field="file")
    config = _check_h5(path) if fmt == "h5" else _check_keras_zip(path, settings)
    where = first_code_layer(config, "file")
    if where:
        raise InvalidInput("Lambda layers carry Python code, which fitq never runs", field=where)
    try:
        model = load_model(path, compile=False)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError) as exc:
        raise InvalidInput(f"the model file does not load: {type(exc).__name__}: {exc}", field="file") from exc
    check_size(model, settings.max_params, settings.max_layers, field="file")
    return model


def import_model_file(store: Store, records: Records, path: Path, filename: str, tenant: str, job_id: str,
                      settings: Settings) -> dict:
    """Stores an uploaded Keras file's model as the finished ``import`` job ``job_id``; its record plus ``model``."""
    try:
        model = read_model_file(path, filename, settings)
    finally:
        path.unlink(missing_ok=True)
    model_json = json.loads(model.to_json())
    store.save_weights(job_id, model.get_weights())
    store.write_json(store.job_file(job_id, layout.MODEL), model_json)
    records.create(job_id, tenant, JobKind.IMPORT, filename[:200])
    records.transition(job_id, [JobStatus.QUEUED], JobStatus.SUCCEEDED, finished_at=time.time())
    return {**records.get(job_id), "model": model_json, "keras_version": model.keras_version}


def export_model(store: Store, job_id: str, fmt: str) -> Path:
    """A temporary ``.keras`` / ``.h5`` file of a finished job's model (compiled as its spec says)."""
    if not store.has(job_id, layout.WEIGHTS):
        raise Conflict(f"job {job_id!r} has no trained model yet", field="id")
    compile_spec = store.read_spec(job_id, JobSpec).compile if store.has(job_id, layout.SPEC) else None
    model = load_trained(store, job_id, compile_spec)
    target = store.temp_path(f".{fmt}")
    model.save(target)
    return target


def model_file_response(store: Store, job_id: str, fmt: str) -> FileResponse:
    """The download of :func:`export_model`'s file, deleted once sent."""
    path = export_model(store, job_id, fmt)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{job_id}.{fmt}",
                        background=BackgroundTask(path.unlink, missing_ok=True))
