"""The training and predict jobs run in process against a real Redis: what a user sees of a job's end
(History, weights, status, errors), resume after a lost attempt, determinism, non-finite losses."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.service.helpers import dense_model_json, regression_arrays, wait_for
from worker import layout, lifecycle, tasks
from worker.spec import JobSpec, PredictJob
from worker.status import JobKind, JobStatus


def submit(ctx, spec: dict) -> str:
    return lifecycle.submit(ctx.records, ctx.conn, ctx.settings, "public", JobKind.TRAIN,
                            JobSpec.model_validate(spec), spec.get("name"))["id"]


def dropout_model() -> dict:
    """Input(4) -> Dense(16, relu) -> Dropout(0.3) -> Dense(1), unseeded: its initial weights and dropout
    masks come from the job's generators."""
    from engine import Input, Sequential, layers

    model = Sequential([Input(shape=(4,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                        layers.Dense(1)])
    return __import__("json").loads(model.to_json())


def spec_for(ds: str, epochs: int = 4, seed: int | None = 7, callbacks: list | None = None, **fit) -> dict:
    return {"model": dropout_model(), "seed": seed,
            "compile": {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}}, "loss": "mse"},
            "data": {"x": f"{ds}/x", "y": f"{ds}/y"},
            "fit": {"epochs": epochs, "batch_size": 8, "shuffle": True, "validation_split": 0.25, "verbose": 0,
                    "callbacks": callbacks or [], **fit}}


def weights(ctx, job_id: str) -> list[np.ndarray]:
    return ctx.store.load_weights(job_id)


def run_until_lost(ctx, job_id: str, after_epoch: int) -> None:
    """Runs attempt 1 and, once the checkpoint of ``after_epoch`` exists, requeues the job as the
    abandoned-job scanner does for a dead worker: attempt 1 notices it was superseded and stops."""
    def requeue():
        wait_for(lambda: ctx.store.has(job_id, layout.CHECKPOINT)
                 and ctx.store.read_json(ctx.store.job_file(job_id, layout.CHECKPOINT))["epoch"] >= after_epoch,
                 what="a checkpoint")
        assert ctx.records.transition(job_id, [JobStatus.RUNNING], JobStatus.QUEUED, expect_attempt=1, attempt=2)

    watcher = threading.Thread(target=requeue)
    watcher.start()
    tasks.run(ctx, JobKind.TRAIN, job_id, 1)
    watcher.join()


def test_resumed_job_ends_bit_identical_to_an_uninterrupted_one_with_shuffle_and_dropout(ctx, upload):
    ds = upload(**regression_arrays(n=96))
    whole = submit(ctx, spec_for(ds))
    assert tasks.run(ctx, JobKind.TRAIN, whole, 1) == JobStatus.SUCCEEDED
    lost = submit(ctx, spec_for(ds))
    run_until_lost(ctx, lost, after_epoch=1)
    assert ctx.records.get(lost)["status"] == JobStatus.QUEUED
    assert tasks.run(ctx, JobKind.TRAIN, lost, 2) == JobStatus.SUCCEEDED
    a, b = ctx.records.get(whole), ctx.records.get(lost)
    assert b["attempt"] == 2 and b["epoch"] == a["epoch"] == [0, 1, 2, 3]
    assert b["history"] == a["history"]
    for wa, wb in zip(weights(ctx, whole), weights(ctx, lost)):
        np.testing.assert_array_equal(wa, wb)


def test_seed_makes_jobs_reproducible_and_unseeded_jobs_start_apart(ctx, upload):
    ds = upload(**regression_arrays(n=48))
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", None), ("d", None)):
        job = submit(ctx, spec_for(ds, epochs=1, seed=seed))
        assert tasks.run(ctx, JobKind.TRAIN, job, 1) == JobStatus.SUCCEEDED
        runs[name] = weights(ctx, job)
    np.testing.assert_array_equal(runs["a"][0], runs["b"][0])
    assert not np.array_equal(runs["c"][0], runs["d"][0])
    assert not np.array_equal(runs["a"][0], runs["c"][0])


def test_early_stopping_state_survives_a_resume(ctx, upload):
    ds = upload(**regression_arrays(n=96))
    stop = [{"class_name": "EarlyStopping", "config": {"monitor": "val_loss", "patience": 2, "min_delta": 1e6}}]
    whole = submit(ctx, spec_for(ds, epochs=8, callbacks=stop))
    tasks.run(ctx, JobKind.TRAIN, whole, 1)
    expected = ctx.records.get(whole)["epoch"]
    assert expected == [0, 1, 2]
    lost = submit(ctx, spec_for(ds, epochs=8, callbacks=stop))
    run_until_lost(ctx, lost, after_epoch=0)
    assert tasks.run(ctx, JobKind.TRAIN, lost, 2) == JobStatus.SUCCEEDED
    assert ctx.records.get(lost)["epoch"] == expected


def test_loss_that_is_not_finite_fails_the_job_naming_epoch_and_batch(ctx, upload):
    data = regression_arrays(n=32)
    ds = upload(x=data["x"] * np.float32(1e30), y=data["y"])
    job = submit(ctx, {**spec_for(ds, epochs=3), "model": dense_model_json()})
    assert tasks.run(ctx, JobKind.TRAIN, job, 1) == JobStatus.FAILED
    error = ctx.records.get(job)["error"]
    assert error["type"] == "NonFiniteLoss"
    assert "at epoch 1, batch 1" in error["message"] and "no epoch finished" in error["message"]
    assert not ctx.store.has(job, layout.WEIGHTS)


def test_diverging_job_keeps_the_weights_of_its_last_finite_epoch(ctx, upload):
    ds = upload(**regression_arrays(n=64))
    spec = {**spec_for(ds, epochs=40, shuffle=False), "model": dense_model_json()}
    spec["compile"]["optimizer"] = {"class_name": "SGD", "config": {"learning_rate": 0.5}}
    job = submit(ctx, spec)
    assert tasks.run(ctx, JobKind.TRAIN, job, 1) == JobStatus.FAILED
    record = ctx.records.get(job)
    assert record["error"]["type"] == "NonFiniteLoss" and "last finite checkpoint" in record["error"]["message"]
    kept = weights(ctx, job)
    assert record["epoch"] and all(np.isfinite(w).all() for w in kept)
    assert all(v is not None for values in record["history"].values() for v in values)


def test_cancel_during_training_ends_the_attempt_canceled_with_its_checkpoint(ctx, upload):
    ds = upload(**regression_arrays(n=64))
    job = submit(ctx, spec_for(ds, epochs=500))
    threading.Timer(0.3, lambda: lifecycle.cancel(ctx.records, ctx.conn, job)).start()
    assert tasks.run(ctx, JobKind.TRAIN, job, 1) == JobStatus.CANCELED
    assert ctx.store.has(job, layout.CHECKPOINT)


def test_an_attempt_that_is_not_queued_is_skipped(ctx, upload):
    ds = upload(**regression_arrays(n=16))
    job = submit(ctx, spec_for(ds, epochs=1))
    assert tasks.run(ctx, JobKind.TRAIN, job, 2) == "skipped"
    lifecycle.cancel(ctx.records, ctx.conn, job)
    assert tasks.run(ctx, JobKind.TRAIN, job, 1) == "skipped"


def test_failure_in_training_is_recorded_with_type_and_message(ctx, upload):
    ds = upload(**regression_arrays(n=16))
    job = submit(ctx, spec_for(ds, epochs=1))
    (ctx.store.dataset_dir(ds) / layout.DATASET_ARRAYS / "x.npy").unlink()
    assert tasks.run(ctx, JobKind.TRAIN, job, 1) == JobStatus.FAILED
    error = ctx.records.get(job)["error"]
    assert error["type"] == "InvalidInput" and "no array 'x'" in error["message"]


def test_predict_job_writes_predictions_of_the_trained_model(ctx, upload):
    from worker.models import load_trained

    data = regression_arrays(n=20)
    ds = upload(**data)
    job = submit(ctx, spec_for(ds, epochs=1))
    tasks.run(ctx, JobKind.TRAIN, job, 1)
    pred = lifecycle.submit(ctx.records, ctx.conn, ctx.settings, "public", JobKind.PREDICT,
                            PredictJob(parent=job, dataset=f"{ds}/x", batch_size=7), "p")["id"]
    assert tasks.run(ctx, JobKind.PREDICT, pred, 1) == JobStatus.SUCCEEDED
    out = ctx.store.read_npz(ctx.store.job_file(pred, layout.PREDICTIONS))
    expected = load_trained(ctx.store, job).predict(data["x"], verbose=0)
    np.testing.assert_allclose(next(iter(out.values())), expected, rtol=1e-6)
    assert ctx.records.get(pred)["outputs"] == {name: {"shape": [20, 1], "dtype": "float32"} for name in out}
