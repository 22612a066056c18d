"""Sweeps: a grid or random search over a base spec queued as ordinary jobs, ranked by a metric, with
trials clearly behind stopped early by ASHA's rule."""
from __future__ import annotations

import pytest

from service.client import ApiError
from tests.service.helpers import dense_spec, regression_arrays, wait_for
from worker import sweeps


def test_grid_random_and_pointers():
    grid = sweeps.SweepSpec(base={}, parameters={"/a": {"values": [1, 2]}, "/b": {"values": ["x", "y", "z"]}})
    assert sweeps.assignments(grid) == [{"/a": 1, "/b": "x"}, {"/a": 1, "/b": "y"}, {"/a": 1, "/b": "z"},
                                        {"/a": 2, "/b": "x"}, {"/a": 2, "/b": "y"}, {"/a": 2, "/b": "z"}]
    rand = sweeps.SweepSpec(base={}, method="random", max_trials=50, seed=1,
                            parameters={"/lr": {"min": 1e-4, "max": 1e-1, "log": True},
                                        "/units": {"min": 4, "max": 64, "integer": True}})
    drawn = sweeps.assignments(rand)
    assert len(drawn) == 50 and drawn == sweeps.assignments(rand)
    assert all(1e-4 <= t["/lr"] <= 1e-1 and isinstance(t["/units"], int) and 4 <= t["/units"] <= 64 for t in drawn)
    base = {"fit": {"epochs": 1}, "model": {"config": {"layers": [{}, {"config": {"units": 8}}]}}}
    spec = sweeps.trial_spec(base, {"/fit/epochs": 3, "/model/config/layers/1/config/units": 16})
    assert spec["fit"]["epochs"] == 3 and spec["model"]["config"]["layers"][1]["config"]["units"] == 16
    assert base["fit"]["epochs"] == 1
    with pytest.raises(Exception) as err:
        sweeps.trial_spec(base, {"/fit/epoch": 3})
    assert getattr(err.value, "field", "") == "parameters./fit/epoch"
    with pytest.raises(ValueError):
        sweeps.SweepSpec(base={}, parameters={"/lr": {"min": 0.1, "max": 1}})  # grid needs values


def test_asha_stops_trials_outside_the_best_fraction_once_per_rung():
    rule = sweeps.EarlyStopping(grace_epochs=1, reduction_factor=2)
    histories = {"a": [1.0], "b": [3.0], "c": [2.0, 1.5], "d": [0.5, 0.4, 0.3]}
    stop, ruled = sweeps.to_stop(histories, {"a", "b", "c"}, rule, "min", set())
    assert stop == ["b", "c"] and sorted(ruled) == ["a@1", "b@1", "c@2"]  # c is behind d at rung 2
    assert sweeps.to_stop(histories, {"a", "b", "c"}, rule, "min", set(ruled)) == ([], [])
    assert sweeps.to_stop({"a": [1.0]}, {"a"}, rule, "min", set()) == ([], [])  # alone at its rung
    stop, _ = sweeps.to_stop({"a": [0.9], "b": [0.2]}, {"a", "b"}, rule, "max", set())
    assert stop == ["b"]


def test_sweep_runs_trials_ranks_them_and_stops_the_hopeless_early(api, workers):
    workers.start(2)
    ds = api.upload_arrays(regression_arrays(n=2048))["id"]
    base = dense_spec(ds, epochs=6, batch_size=8)
    body = {"name": "lr", "base": base, "metric": "loss", "mode": "min",
            "parameters": {"/compile/optimizer/config/learning_rate": {"values": [0.0, 0.01, 0.0, 0.003]}},
            "early_stopping": {"grace_epochs": 1, "reduction_factor": 2}}
    sweep = api.http.post("/v1/sweeps", json=body)
    assert sweep.status_code == 202, sweep.text
    sweep_id = sweep.json()["id"]
    assert len(sweep.json()["trials"]) == 4
    done = wait_for(lambda: (s := api.http.get(f"/v1/sweeps/{sweep_id}").json())["status"] == "finished" and s,
                    timeout=180, interval=0.2, what="the sweep to finish")
    rows = done["trials"]
    lr = "/compile/optimizer/config/learning_rate"
    best = [r["best"] for r in rows if r["best"] is not None]
    assert best == sorted(best) and rows[0]["values"][lr] > 0 and rows[0]["status"] == "succeeded"
    assert rows[0]["epochs"] == 6
    frozen = [r for r in rows if r["values"][lr] == 0.0]
    assert any(r["status"] == "canceled" and r["epochs"] < 6 for r in frozen), rows
    listed = api.http.get("/v1/sweeps").json()["sweeps"]
    assert [s["id"] for s in listed] == [sweep_id] and listed[0]["trials"] == 4


def test_sweep_with_a_bad_pointer_or_trial_is_refused_naming_it(api):
    ds = api.upload_arrays(regression_arrays(n=16))["id"]
    bad = api.http.post("/v1/sweeps", json={"base": dense_spec(ds), "parameters": {"/fit/epoch": {"values": [1]}}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "parameters./fit/epoch"
    worse = api.http.post("/v1/sweeps", json={"base": dense_spec(ds), "parameters": {"/fit/epochs": {"values": [2, 0]}}})
    assert worse.status_code == 422 and "trial 2" in worse.json()["error"]["message"]
    assert api.jobs()["total"] == 0


def test_a_negative_or_too_large_seed_is_refused_naming_it(api):
    ds = api.upload_arrays(regression_arrays(n=16))["id"]
    params = {"/compile/optimizer/config/learning_rate": {"min": 0.001, "max": 0.1}}
    for seed in (-1, 2**32):
        sweep = api.http.post("/v1/sweeps", json={"base": dense_spec(ds), "parameters": params,
                                                  "method": "random", "seed": seed})
        assert sweep.status_code == 422 and sweep.json()["error"]["field"] == "seed", sweep.text
        job = api.http.post("/v1/jobs", json={**dense_spec(ds), "seed": seed})
        assert job.status_code == 422 and job.json()["error"]["field"] == "seed", job.text
    assert api.jobs()["total"] == 0
