"""``/v1/sweeps``: a grid or random search over a base job spec, its ranked trials, cancel."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError

from service.deps import ConnDep, RecordsDep, SettingsDep, StoreDep, TenantDep
from service.validation import check_job
from worker import lifecycle, sweeps
from worker.errors import InvalidInput, TooManyRequests
from worker.layout import sweeps_key
from worker.spec import JobSpec
from worker.status import ACTIVE

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"])


def _answer(records, doc: dict) -> dict:
    rows = sweeps.trials(records, doc)
    active = sum(r["status"] in ACTIVE for r in rows)
    return {"id": doc["id"], "name": doc["name"], "created_at": doc["created_at"], "spec": doc["spec"],
            "status": "running" if active else "finished", "trials": rows}


@router.post("", status_code=202)
def create(sweep: sweeps.SweepSpec, tenant: TenantDep, store: StoreDep, records: RecordsDep, conn: ConnDep,
           settings: SettingsDep) -> dict:
    """Checks every trial's spec as ``POST /v1/jobs`` would, then queues them all (202)."""
    values = sweeps.assignments(sweep)
    active = records.active_count(tenant)
    if active + len(values) > settings.max_active_jobs:
        raise TooManyRequests(f"{len(values)} trials and {active} active jobs are more than this server's limit "
                              f"of {settings.max_active_jobs} per caller (FITQ_MAX_ACTIVE_JOBS)")
    specs = []
    for i, trial_values in enumerate(values):
        try:
            spec = JobSpec.model_validate(sweeps.trial_spec(sweep.base, trial_values))
        except ValidationError as exc:
            raise InvalidInput(f"trial {i + 1} ({trial_values}) is not a valid job spec: {exc.errors()[0]['msg']}",
                               field="base") from exc
        try:
            check_job(spec, store, tenant, records, settings)
        except InvalidInput as exc:
            raise InvalidInput(f"trial {i + 1} ({trial_values}): {exc.message}", field=f"base.{exc.field}") from exc
        specs.append(spec)
    return _answer(records, sweeps.create(records, conn, settings, tenant, sweep, specs, values))


@router.get("")
def list_sweeps(tenant: TenantDep, store: StoreDep, conn: ConnDep) -> dict:
    """The caller's sweeps, newest first (without their trials)."""
    ids = [i.decode() for i in conn.zrevrange(sweeps_key(tenant), 0, -1)]
    docs = [store.read_sweep(i, tenant) for i in ids]
    return {"sweeps": [{"id": d["id"], "name": d["name"], "created_at": d["created_at"], "trials": len(d["trials"])}
                       for d in docs]}


@router.get("/{sweep_id}")
def get_sweep(sweep_id: str, tenant: TenantDep, store: StoreDep, records: RecordsDep) -> dict:
    """A sweep with its trials ranked by their best ``metric``: values, status, best, epochs, History."""
    return _answer(records, store.read_sweep(sweep_id, tenant))


@router.post("/{sweep_id}/cancel")
def cancel(sweep_id: str, tenant: TenantDep, store: StoreDep, records: RecordsDep, conn: ConnDep) -> dict:
    """Cancels every trial still queued or running."""
    doc = store.read_sweep(sweep_id, tenant)
    for job_id, status in zip(doc["trials"], records.statuses(doc["trials"])):
        if status in ACTIVE:
            lifecycle.cancel(records, conn, job_id)
    return _answer(records, doc)
