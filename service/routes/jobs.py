"""``/v1/jobs``: submit, list, get, History, Server-Sent Events, cancel, model, weights, predict, evaluate."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from service import keras_files, serving
from service.errors import REDIS_DOWN
from service.deps import (ConnDep, RecordsDep, SettingsDep, StoreDep, TenantDep, get_tenant, job_of_tenant,
                          require_tenant)
from service.schemas import JOB, History, Job, JobList, job_json
from service.validation import check_job
from worker import data, layout, lifecycle
from worker.errors import Conflict, InvalidInput
from worker.records import read_events_async, read_raw_async
from worker.spec import EvaluateRequest, JobSpec, PredictJob, PredictRequest
from worker.status import JobKind, JobStatus
from worker.store import check_id, dumps

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

STREAM_RETRY = 1.0
"""Seconds an event stream waits before asking an unreachable Redis again."""


@router.post("", status_code=202, response_model=Job)
def submit(spec: JobSpec, tenant: TenantDep, store: StoreDep, records: RecordsDep, conn: ConnDep,
           settings: SettingsDep) -> dict:
    """Validates a training job against its datasets and queues it (202, status ``queued``)."""
    check_job(spec, store, tenant, records, settings)
    return lifecycle.submit(records, conn, settings, tenant, JobKind.TRAIN, spec, spec.name)


@router.get("", response_model=JobList)
def list_jobs(records: RecordsDep, tenant: TenantDep,
              status: Annotated[JobStatus | None, Query()] = None,
              offset: Annotated[int, Query(ge=0)] = 0,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """The caller's jobs, newest first, optionally only those in ``status``."""
    ids = records.ids(tenant)
    if status is not None:
        ids = [i for i, s in zip(ids, records.statuses(ids)) if s == status]
    page = [r for r in (records.get(i) for i in ids[offset:offset + limit]) if r is not None]
    return {"jobs": page, "total": len(ids), "offset": offset, "limit": limit}


@router.get("/{job_id}", response_model=Job)
async def get_job(job_id: str, request: Request) -> Response:
    """One job: status, progress, History so far, error, timings, attempt."""
    # The read dashboards poll: no dependencies to resolve, one Redis round trip, the record's JSON
    # values validated and encoded by the Job model in one pass.
    tenant = await get_tenant(request)
    raw = await read_raw_async(request.app.state.reads, check_id(job_id, "id"))
    if raw is None:  # Redis lost it (restarted, emptied): the store's snapshot
        record = await run_in_threadpool(job_of_tenant, request.app.state.records, job_id, tenant)
        return Response(JOB.dump_json(JOB.validate_python(record)), media_type="application/json")
    require_tenant(job_id, json.loads(raw.get(b"tenant", b"null")), tenant)
    return Response(job_json(raw), media_type="application/json")


async def read_job(request: Request) -> Response:
    """:func:`get_job` as a plain Starlette endpoint (the job id from the path), reported as the
    FastAPI route it stands in for (the request metrics' route label)."""
    request.scope["route"] = _GET_JOB_ROUTE
    return await get_job(request.path_params["job_id"], request)


_GET_JOB_ROUTE = next(route for route in router.routes if getattr(route, "endpoint", None) is get_job)


def install_job_read(app) -> None:
    """Serves ``GET /v1/jobs/{job_id}``, the read dashboards poll, by :func:`read_job` on a plain
    Starlette route ahead of the routers: FastAPI's route matching and dependency solving cost more
    than the read itself (the app's CPU per read, in process: 470-500 us through the FastAPI route,
    300-320 us through this one). The same middlewares, exception handlers and answers; the FastAPI
    route above stays as what the OpenAPI schema documents."""
    app.add_route(router.prefix + "/{job_id}", read_job, methods=["GET"], include_in_schema=False)


@router.get("/{job_id}/history", response_model=History)
def history(job_id: str, records: RecordsDep, tenant: TenantDep) -> dict:
    """Keras's ``History`` so far: ``{"epoch": [...], "history": {"loss": [...], ...}}``."""
    record = job_of_tenant(records, job_id, tenant)
    return {"epoch": record.get("epoch") or [], "history": record.get("history") or {}}


EVENT_STREAM = {200: {"description": "Server-Sent Events: `event:` is the type, `data:` its JSON, `id:` its "
                                    "position (send it back as `Last-Event-ID` to resume)",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=EVENT_STREAM)
async def events(job_id: str, request: Request, records: RecordsDep, tenant: TenantDep) -> EventSourceResponse:
    """Server-Sent Events in order: ``status``, ``progress`` (throttled), ``epoch`` (end-of-epoch logs),
    ``cancel_requested``. The stream ends after a final status. ``Last-Event-ID`` resumes it. A stream
    open while Redis restarts waits for it and goes on."""
    await run_in_threadpool(job_of_tenant, records, job_id, tenant)
    aconn = request.app.state.aconn
    after = request.headers.get("last-event-id") or "0"

    async def stream():
        nonlocal after
        while True:
            try:
                batch = await read_events_async(aconn, job_id, after, block_ms=1000)
                status = None if batch else await run_in_threadpool(
                    lambda: records.fields(job_id, "status")["status"])
            except REDIS_DOWN:
                if await request.is_disconnected():
                    return
                await asyncio.sleep(STREAM_RETRY)
                continue
            if not batch:
                if await request.is_disconnected() or status is None:
                    return
                continue
            for after, kind, payload in batch:
                yield {"id": after, "event": kind, "data": dumps(payload)}
                if kind == "status" and JobStatus(payload["status"]).terminal:
                    return

    return EventSourceResponse(stream(), ping=15)


@router.post("/{job_id}/cancel", response_model=Job)
def cancel(job_id: str, records: RecordsDep, conn: ConnDep, tenant: TenantDep) -> dict:
    """Cancels a queued job at once, a running one at its next batch; 409 when it has finished."""
    job_of_tenant(records, job_id, tenant)
    return lifecycle.cancel(records, conn, job_id)


@router.get("/{job_id}/model")
def model_json(job_id: str, records: RecordsDep, store: StoreDep, tenant: TenantDep,
               format: Literal["json", "keras", "h5"] = "json"):
    """The model's Keras JSON (as trained, or as submitted while the job has not finished); with
    ``format=keras`` / ``h5`` the finished model as a ``.keras`` / ``.h5`` file that Keras loads."""
    job_of_tenant(records, job_id, tenant)
    if format != "json":
        return keras_files.model_file_response(store, job_id, format)
    return JSONResponse(model_config(store, job_id))


def model_config(store, job_id: str) -> dict:
    """A job's model JSON: as trained, or as submitted while the job has not finished; 409 if it has none."""
    if store.has(job_id, layout.MODEL):
        return store.read_json(store.job_file(job_id, layout.MODEL))
    if not store.has(job_id, layout.SPEC):
        raise Conflict(f"job {job_id!r} has no model", field="id")
    return store.read_spec(job_id, JobSpec).model


@router.get("/{job_id}/weights", response_class=FileResponse)
def weights(job_id: str, records: RecordsDep, store: StoreDep, tenant: TenantDep) -> FileResponse:
    """The trained weights as ``.npz`` (``w0000``, ``w0001``, ... in Keras's ``get_weights`` order)."""
    job_of_tenant(records, job_id, tenant)
    path = store.local(store.job_file(job_id, layout.WEIGHTS))
    if path is None:
        raise Conflict(f"job {job_id!r} has no trained weights yet", field="id")
    return FileResponse(path, media_type="application/octet-stream", filename=f"{job_id}-weights.npz")


@router.get("/{job_id}/predictions", response_class=FileResponse)
def predictions(job_id: str, records: RecordsDep, store: StoreDep, tenant: TenantDep) -> FileResponse:
    """A predict job's results as ``.npz`` keyed by output name."""
    record = job_of_tenant(records, job_id, tenant)
    path = store.local(store.job_file(job_id, layout.PREDICTIONS))
    if record["kind"] != JobKind.PREDICT or path is None:
        raise Conflict(f"job {job_id!r} has no predictions", field="id")
    return FileResponse(path, media_type="application/octet-stream", filename=f"{job_id}-predictions.npz")


def _trained(request: Request, records, job_id: str, tenant: str):
    record = job_of_tenant(records, job_id, tenant)
    if record["kind"] != JobKind.TRAIN or record["status"] != JobStatus.SUCCEEDED:
        raise Conflict(f"job {job_id!r} is {record['status']}: only a succeeded training job predicts", field="id")
    return request.app.state.models.get(job_id)


@router.post("/{job_id}/predict")
def predict(job_id: str, body: PredictRequest, request: Request, records: RecordsDep, store: StoreDep,
            conn: ConnDep, settings: SettingsDep, tenant: TenantDep):
    """TensorFlow Serving's predict: ``instances`` -> ``predictions``, ``inputs`` -> ``outputs``;
    ``dataset`` -> a predict job (202) whose results are at ``/v1/jobs/{id}/predictions``."""
    model, lock = _trained(request, records, job_id, tenant)
    if body.dataset is not None:
        data.by_name(store, tenant, body.dataset, list(model.input_names), "dataset")
        job = PredictJob(parent=job_id, dataset=body.dataset, batch_size=body.batch_size)
        record = lifecycle.submit(records, conn, settings, tenant, JobKind.PREDICT, job, f"predict {job_id}",
                                  {"parent": job_id})
        return JSONResponse(Job.model_validate(record).model_dump(mode="json"), status_code=202)
    if body.instances is not None:
        if len(body.instances) > settings.max_predict_rows:
            raise InvalidInput(f"more than {settings.max_predict_rows} instances: use 'dataset'", field="instances")
        x = serving.rows_to_inputs(model, body.instances)
    else:
        x = serving.columns_to_inputs(model, body.inputs)
        if len(next(iter(x.values()))) > settings.max_predict_rows:
            raise InvalidInput(f"more than {settings.max_predict_rows} rows: use 'dataset'", field="inputs")
    with lock:
        out = model.predict(x, batch_size=body.batch_size, verbose=0)
    serving.require_finite(out, "outputs")
    if body.instances is not None:
        return {"predictions": serving.predictions_as_rows(model, out)}
    return {"outputs": serving.predictions_as_columns(model, out)}


def _eval_arrays(model, value, store, tenant: str, names: list[str], field: str, inline):
    refs = data.is_ref(value) or (isinstance(value, list) and value and all(data.is_ref(v) for v in value)) \
        or (isinstance(value, dict) and value and all(data.is_ref(v) for v in value.values()))
    if refs:
        return data.load(data.by_name(store, tenant, value, names, field))
    return inline(model, value, field)


@router.post("/{job_id}/evaluate")
def evaluate(job_id: str, body: EvaluateRequest, request: Request, records: RecordsDep, store: StoreDep,
             tenant: TenantDep) -> dict:
    """Keras's ``evaluate`` of the trained model: ``{"loss": ..., "<metric>": ...}``."""
    model, lock = _trained(request, records, job_id, tenant)
    x = _eval_arrays(model, body.x, store, tenant, list(model.input_names), "x", serving.columns_to_inputs)
    y = _eval_arrays(model, body.y, store, tenant, list(model.output_names), "y", serving.targets)
    sw = None
    if body.sample_weight is not None:
        sw = _eval_arrays(model, body.sample_weight, store, tenant, list(model.output_names), "sample_weight",
                          serving.targets)
    n = {len(a) for a in list(x.values()) + list(y.values())}
    if len(n) > 1:
        raise InvalidInput("x and y have different numbers of samples", field="y")
    with lock:
        try:
            result = model.evaluate(x, y, sample_weight=sw, batch_size=body.batch_size, verbose=0, return_dict=True)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="y") from exc
    serving.require_finite(result, "loss and metrics")
    return {k: float(v) for k, v in result.items()}

