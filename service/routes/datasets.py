"""``/v1/datasets``: streamed upload, list, describe, delete."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.deps import RecordsDep, SettingsDep, StoreDep, TenantDep
from service.schemas import Dataset, DatasetList
from service.upload import receive_file
from worker import lifecycle
from worker.errors import Conflict
from worker.ingest import ingest
from worker.store import new_id

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.post("", status_code=201, response_model=Dataset,
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file"],
                 "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
async def upload(request: Request, store: StoreDep, settings: SettingsDep, tenant: TenantDep) -> dict:
    """Uploads a dataset file (form field ``file``): .npy, .npz, .csv, or an image folder .zip / .tar."""
    path, filename = await receive_file(request, store, settings.max_upload_bytes)
    return await run_in_threadpool(ingest, store, path, filename, tenant, new_id("ds"), settings)


@router.get("", response_model=DatasetList)
def list_datasets(store: StoreDep, tenant: TenantDep) -> dict:
    """The caller's datasets, newest first."""
    return {"datasets": store.list_datasets(tenant)}


@router.get("/{dataset_id}", response_model=Dataset)
def describe(dataset_id: str, store: StoreDep, tenant: TenantDep) -> dict:
    """One dataset's description."""
    return store.dataset_meta(dataset_id, tenant, field="id")


@router.delete("/{dataset_id}", status_code=204)
def delete(dataset_id: str, store: StoreDep, records: RecordsDep, tenant: TenantDep) -> Response:
    """Deletes a dataset (jobs that already trained on it keep their artifacts); 409 naming the jobs
    while a queued or running job (one that may still resume) will read it."""
    store.dataset_meta(dataset_id, tenant, field="id")
    using = lifecycle.jobs_using_dataset(records, tenant, dataset_id)
    if using:
        raise Conflict(f"dataset {dataset_id!r} is used by queued or running jobs: {', '.join(using)}; "
                       "delete it once they end (or cancel them)", field="id")
    store.delete_dataset(dataset_id, tenant)
    return Response(status_code=204)
