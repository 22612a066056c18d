"""``/v1/models``: a Keras model file (``.h5`` from Keras 2, ``.keras`` from Keras 3) imported to train on."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from service.deps import RecordsDep, SettingsDep, StoreDep, TenantDep
from service.keras_files import import_model_file, model_file_format
from service.upload import receive_file
from worker.store import new_id

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post("", status_code=201,
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file"],
                 "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
async def upload(request: Request, store: StoreDep, records: RecordsDep, settings: SettingsDep,
                 tenant: TenantDep) -> dict:
    """Imports a Keras model file (form field ``file``: ``.h5`` / ``.hdf5`` / ``.keras``) as a finished job.

    Answers 201 with the job record (kind ``import``), ``model`` (its Keras JSON, read with the
    semantics of the Keras that wrote it) and ``keras_version``. Fine-tune it with a job spec whose
    ``model`` is that JSON and whose ``initial_weights`` is the id.
    """
    path, filename = await receive_file(request, store, settings.max_upload_bytes, check_name=model_file_format)
    return await run_in_threadpool(import_model_file, store, records, path, filename, tenant, new_id("job"),
                                   settings)
