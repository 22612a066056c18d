"""Sweeps: one base job spec, a grid or random search over values inside it, and an early-stopping rule.

A parameter is a JSON pointer into the spec (``/compile/optimizer/config/learning_rate``,
``/fit/batch_size``, ``/model/config/layers/1/config/units``) with ``values`` to try (grid or random
choice) or a ``min`` / ``max`` range (random; ``log`` for a log-uniform draw). Each trial is an
ordinary job. The early-stopping rule is asynchronous successive halving (ASHA, as Determined and Ray
Tune run it): when a trial reaches a rung (``grace_epochs`` x ``reduction_factor``^k epochs), it goes on
only if its metric there is within the best 1/``reduction_factor`` of the trials that reached that rung.
"""
from __future__ import annotations

import copy
import itertools
import math
import time
from typing import Any, Literal

import numpy as np
from jsonpointer import JsonPointer, JsonPointerException
from pydantic import Field, model_validator

from worker import lifecycle
from worker.errors import Conflict, InvalidInput
from worker.layout import ACTIVE_SWEEPS, sweep_decided_key, sweeps_key
from worker.records import Records
from worker.spec import Seed, Strict
from worker.status import ACTIVE, JobKind
from worker.store import new_id


class Parameter(Strict):
    """Values for one place in the spec: a list, or a range for random search."""

    values: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _values_or_range(self) -> "Parameter":
        if (self.values is None) == (self.min is None or self.max is None):
            raise ValueError("give either 'values' or both 'min' and 'max'")
        if self.values is not None and not self.values:
            raise ValueError("'values' is empty")
        if self.min is not None and self.max is not None:
            if self.min > self.max:
                raise ValueError("'min' is more than 'max'")
            if self.log and self.min <= 0:
                raise ValueError("a log range needs 'min' > 0")
        return self


class EarlyStopping(Strict):
    """ASHA's rule: rungs at ``grace_epochs * reduction_factor**k`` epochs; the best 1/factor go on."""

    grace_epochs: int = Field(default=1, ge=1)
    reduction_factor: int = Field(default=3, ge=2)


class SweepSpec(Strict):
    """``POST /v1/sweeps``: a base job spec and what to vary in it."""

    name: str | None = Field(default=None, max_length=200)
    base: dict[str, Any]
    parameters: dict[str, Parameter] = Field(min_length=1)
    method: Literal["grid", "random"] = "grid"
    max_trials: int = Field(default=20, ge=1, le=1000)
    seed: Seed = 0
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    early_stopping: EarlyStopping | None = None

    @model_validator(mode="after")
    def _grid_needs_values(self) -> "SweepSpec":
        if self.method == "grid":
            ranged = [p for p, v in self.parameters.items() if v.values is None]
            if ranged:
                raise ValueError(f"grid search needs 'values' for every parameter ({', '.join(ranged)})")
        return self


def assignments(sweep: SweepSpec) -> list[dict[str, Any]]:
    """The trials' parameter values, in order: the grid (first ``max_trials`` of it) or random draws."""
    names = list(sweep.parameters)
    if sweep.method == "grid":
        grid = itertools.product(*(sweep.parameters[n].values for n in names))
        return [dict(zip(names, combo)) for combo in itertools.islice(grid, sweep.max_trials)]
    rng = np.random.default_rng(sweep.seed)
    trials = []
    for _ in range(sweep.max_trials):
        trial = {}
        for name in names:
            p = sweep.parameters[name]
            if p.values is not None:
                value = p.values[int(rng.integers(len(p.values)))]
            elif p.log:
                value = float(math.exp(rng.uniform(math.log(p.min), math.log(p.max))))
            else:
                value = float(rng.uniform(p.min, p.max))
            trial[name] = int(round(value)) if p.integer and p.values is None else value
        trials.append(trial)
    return trials


def trial_spec(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``base`` with each pointer set to its value; 422 naming the pointer when it leads nowhere."""
    spec = copy.deepcopy(base)
    for pointer, value in values.items():
        try:
            ptr = JsonPointer(pointer)
            ptr.resolve(spec)  # the place must exist: a typo is an error, not a new key
            spec = ptr.set(spec, value, inplace=True) or spec
        except JsonPointerException as exc:
            raise InvalidInput(f"{pointer!r} does not point into the base spec: {exc}",
                               field=f"parameters.{pointer}") from exc
    return spec


def best(values: list[float | None], mode: str) -> float | None:
    """The best finite value of a metric's History (None when it has none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return min(finite) if mode == "min" else max(finite)


def to_stop(histories: dict[str, list[float | None]], running: set[str], rule: EarlyStopping,
            mode: str, decided: set[str]) -> tuple[list[str], list[str]]:
    """``(trials to stop, rulings made)`` by ASHA: a running trial at the highest rung it has reached
    (once per trial and rung: ``decided`` holds ``"trial@rung"`` already ruled on) goes on only if its
    metric there is within the best ``1 / reduction_factor`` of the trials that reached that rung.

    ``histories`` maps each trial to its metric by epoch.
    """
    stop, ruled = [], []
    for trial in sorted(running):
        values = histories.get(trial) or []
        rung = rule.grace_epochs
        reached = None
        while rung <= len(values):
            reached = rung
            rung *= rule.reduction_factor
        if reached is None or f"{trial}@{reached}" in decided or values[reached - 1] is None:
            continue
        peers = sorted(v[reached - 1] for v in histories.values() if len(v) >= reached and v[reached - 1] is not None
                       and math.isfinite(v[reached - 1]))
        if mode == "max":
            peers.reverse()
        if len(peers) < rule.reduction_factor:
            continue  # too few trials there yet to rank: rule when more arrive
        ruled.append(f"{trial}@{reached}")
        if peers.index(values[reached - 1]) >= max(1, len(peers) // rule.reduction_factor):
            stop.append(trial)
    return stop, ruled


def create(records: Records, conn, settings, tenant: str, sweep: SweepSpec, specs: list, values: list[dict]) -> dict:
    """Queues one job per trial (already validated ``JobSpec``s) and saves the sweep's document."""
    sweep_id = new_id("swp")
    trials = []
    for i, (spec, trial_values) in enumerate(zip(specs, values)):
        name = f"{sweep.name or sweep_id} trial {i + 1}"
        record = lifecycle.submit(records, conn, settings, tenant, JobKind.TRAIN, spec, name,
                                  {"sweep": sweep_id, "values": trial_values})
        trials.append(record["id"])
    doc = {"id": sweep_id, "tenant": tenant, "name": sweep.name, "created_at": time.time(),
           "spec": sweep.model_dump(mode="json", exclude={"base"}), "base": sweep.base, "trials": trials,
           "values": values}
    records.store.write_sweep(doc)
    conn.zadd(sweeps_key(tenant), {sweep_id: doc["created_at"]})
    conn.sadd(ACTIVE_SWEEPS, f"{tenant}/{sweep_id}")
    return doc


def trials(records: Records, doc: dict) -> list[dict]:
    """The sweep's trials ranked by their best ``metric`` (trials without one last): id, status, values,
    best, epochs, and the metric's History."""
    spec = doc["spec"]
    rows = []
    for job_id, values in zip(doc["trials"], doc["values"]):
        record = records.get(job_id) or {}
        history = (record.get("history") or {}).get(spec["metric"], [])
        rows.append({"id": job_id, "status": record.get("status"), "values": values,
                     "best": best(history, spec["mode"]), "epochs": len(record.get("epoch") or []),
                     "history": history, "error": record.get("error")})
    sign = 1 if spec["mode"] == "min" else -1
    return sorted(rows, key=lambda r: (r["best"] is None, sign * (r["best"] or 0.0)))


def stop_laggards(records: Records, conn, doc: dict) -> list[str]:
    """Applies the sweep's early-stopping rule once: cancels the running trials ASHA stops; their ids."""
    rule = doc["spec"].get("early_stopping")
    if not rule:
        return []
    rows = trials(records, doc)
    running = {r["id"] for r in rows if r["status"] in ACTIVE}
    if not running:
        return []
    decided = {m.decode() for m in conn.smembers(sweep_decided_key(doc["id"]))}
    stop, ruled = to_stop({r["id"]: r["history"] for r in rows}, running, EarlyStopping(**rule),
                          doc["spec"]["mode"], decided)
    if ruled:
        conn.sadd(sweep_decided_key(doc["id"]), *ruled)
    stopped = []
    for job_id in stop:
        try:
            lifecycle.cancel(records, conn, job_id)
            stopped.append(job_id)
        except Conflict:  # it ended meanwhile
            continue
    return stopped


def active_sweeps(records: Records, conn) -> list[dict]:
    """Documents of the sweeps that still have queued or running trials; a sweep whose trials have all
    ended leaves the active set, so the scanner's work does not grow with finished sweeps."""
    out = []
    for member in conn.smembers(ACTIVE_SWEEPS):
        tenant, _, sweep_id = member.decode().rpartition("/")
        doc = records.store.read_sweep(sweep_id, tenant)
        if any(s in ACTIVE for s in records.statuses(doc["trials"])):
            out.append(doc)
        else:
            conn.srem(ACTIVE_SWEEPS, member)
    return out
