"""Read-only views of a job for people and dashboards: its spec, its model's summary and layer graph,
and its event log (status changes, epochs, cancels, errors) with times."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service.deps import RecordsDep, StoreDep, TenantDep, job_of_tenant
from service.layer_graph import layer_graph, summary_text
from service.routes.jobs import model_config
from worker import layout
from worker.errors import Conflict
from worker.models import build_model
from worker.records import EVENTS_MAXLEN
from worker.spec import JobSpec

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

LOG_TYPES = ("status", "epoch", "cancel_requested")


class GraphNode(BaseModel):
    name: str
    class_name: str
    params: int
    calls: int
    output_shape: list


class GraphEdge(BaseModel):
    source: str
    target: str


class LayerGraph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    inputs: list[str]
    outputs: list[str]


class ModelSummary(BaseModel):
    """Keras's ``summary()`` text and the layer graph of a job's model."""

    summary: str
    graph: LayerGraph


class LogEntry(BaseModel):
    id: str
    time: float
    type: str
    data: dict


class JobLog(BaseModel):
    events: list[LogEntry]


@router.get("/{job_id}/spec")
def spec(job_id: str, records: RecordsDep, store: StoreDep, tenant: TenantDep) -> dict:
    """The spec the job was submitted with (``POST /v1/jobs``'s body, defaults filled in)."""
    job_of_tenant(records, job_id, tenant)
    if not store.has(job_id, layout.SPEC):
        raise Conflict(f"job {job_id!r} has no training spec (a predict job?)", field="id")
    return store.read_spec(job_id, JobSpec).model_dump(mode="json")


@router.get("/{job_id}/summary", response_model=ModelSummary)
async def summary(job_id: str, records: RecordsDep, store: StoreDep, tenant: TenantDep) -> dict:
    """The model's ``summary()`` and its layer graph (inputs, shared layers, outputs)."""
    await run_in_threadpool(job_of_tenant, records, job_id, tenant)

    def build() -> dict:
        model = build_model(model_config(store, job_id), shapes_only=True)  # no weight memory needed
        return {"summary": summary_text(model), "graph": layer_graph(model)}

    return await run_in_threadpool(build)


@router.get("/{job_id}/log", response_model=JobLog)
def log(job_id: str, records: RecordsDep, tenant: TenantDep,
        progress: Annotated[bool, Query(description="include the throttled per-batch progress events")] = False
        ) -> dict:
    """The job's events so far, oldest first, with their times (s since the epoch)."""
    job_of_tenant(records, job_id, tenant)
    events = records.read_events(job_id, "0", count=EVENTS_MAXLEN * 2)
    return {"events": [{"id": i, "time": int(i.split("-")[0]) / 1000, "type": kind, "data": data}
                       for i, kind, data in events if progress or kind in LOG_TYPES]}
