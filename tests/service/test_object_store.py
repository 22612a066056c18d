"""The store's contract on both backends — the local directory, and an S3-compatible object store (a real
SeaweedFS server) behind a local cache — and a job that moves between machines sharing only Redis and the
object store."""
from __future__ import annotations

import numpy as np
import pytest

from tests.service.helpers import dense_spec, npz_bytes, regression_arrays, wait_for
from worker import layout
from worker.errors import InvalidInput
from worker.ingest import ingest
from worker.store import Store, new_id


@pytest.fixture(params=["local", "s3"])
def stores(request, tmp_path, settings):
    """``(machine_a, machine_b)``: two views of one store (the same directory locally; two empty local
    roots sharing one object store)."""
    if request.param == "local":
        store = Store(tmp_path / "a")
        return store, store
    s3 = request.getfixturevalue("s3_settings")
    return (Store.from_settings(s3.model_copy(update={"data_dir": tmp_path / "a"})),
            Store.from_settings(s3.model_copy(update={"data_dir": tmp_path / "b"})))


def upload(store: Store, settings, **arrays) -> str:
    path = store.temp_path(".upload")
    path.write_bytes(npz_bytes(**arrays))
    return ingest(store, path, "arrays.npz", "t", new_id("ds"), settings)["id"]


def test_datasets_written_on_one_machine_are_read_listed_and_deleted_on_another(stores, settings):
    a, b = stores
    x = np.arange(40, dtype="float32").reshape(10, 4)
    ds = upload(a, settings, x=x, y=np.ones(10, "float32"))
    assert [m["id"] for m in b.list_datasets("t")] == [ds] and b.list_datasets("other") == []
    np.testing.assert_array_equal(b.open_array(ds, "x"), x)
    with pytest.raises(InvalidInput):
        b.array_path(ds, "nope", "data.x")
    b.delete_dataset(ds, "t")
    assert a.list_datasets("t") == [] and b.list_datasets("t") == []


def test_checkpoints_are_whole_keep_the_last_two_and_resume_anywhere(stores):
    a, b = stores
    job = new_id("job")
    for epoch in range(4):
        (a if epoch < 2 else b).save_checkpoint(job, epoch, {"weights": [np.full(3, epoch, "float32")]},
                                                {"history": {"loss": [0.0] * (epoch + 1)}})
    for store in (a, b):
        state, arrays = store.load_checkpoint(job)
        assert state["epoch"] == 3
        np.testing.assert_array_equal(arrays["weights"][0], np.full(3, 3))
    if a is not b:
        assert sorted(k.rpartition("/")[2] for k in a.remote.keys(f"jobs/{job}/checkpoints/")) == [
            "epoch-00003.npz", "epoch-00004.npz"]


def test_records_specs_and_results_travel_between_machines(stores):
    a, b = stores
    job = new_id("job")
    a.write_record(job, {"id": job, "status": "running"})
    a.save_trained(job, '{"class_name": "Sequential"}', [np.ones(2, "float32")], {"epoch": [0]})
    assert b.read_record(job) == {"id": job, "status": "running"} and b.record_ids() == [job]
    assert b.has(job, layout.WEIGHTS) and not b.has(job, layout.PREDICTIONS)
    np.testing.assert_array_equal(b.load_weights(job)[0], np.ones(2))
    with pytest.raises(InvalidInput):
        b.local(b.root / ".." / "outside")


def test_local_cache_of_dataset_files_stays_under_its_cap(s3_settings, tmp_path, settings):
    a = Store.from_settings(s3_settings.model_copy(update={"data_dir": tmp_path / "a"}))
    ids = [upload(a, settings, x=np.full((256, 64), i, "float32")) for i in range(3)]
    b = Store.from_settings(s3_settings.model_copy(update={"data_dir": tmp_path / "b", "cache_bytes": 100_000}))
    for i, ds in enumerate(ids * 2):
        assert float(np.asarray(b.open_array(ds, "x"))[0, 0]) == ids.index(ds)
        cached = sum(p.stat().st_size for p in (b.root / "datasets").rglob("*.npy"))
        assert cached <= 100_000


def test_worker_on_another_machine_resumes_from_the_object_store_checkpoint(s3_settings, make_api, redis_conn,
                                                                          tmp_path):
    """API and workers share no directory: the first worker is killed mid-job, a worker with an empty
    local root resumes it from the checkpoint in the object store."""
    from service.client import Client
    from tests.conftest import Workers

    api_settings = s3_settings.model_copy(update={"data_dir": tmp_path / "api"})
    with Client(make_api(api_settings).url) as api:
        pools = [Workers(s3_settings.model_copy(update={"data_dir": tmp_path / f"machine{i}"}), redis_conn)
                 for i in range(2)]
        for pool in pools:
            pool.settings.data_dir.mkdir()
        try:
            (first,) = pools[0].start(1)
            ds = api.upload_arrays(regression_arrays(n=2048))["id"]
            spec = {**dense_spec(ds, epochs=10, batch_size=8), "seed": 5}
            job = api.submit(spec)["id"]
            wait_for(lambda: len(api.job(job)["epoch"]) >= 2, timeout=90, interval=0.01, what="two epochs")
            pools[0].kill(first)
            pools[1].start(1)
            done = api.wait(job, timeout=180)
            assert done["status"] == "succeeded" and done["attempt"] == 2, done["error"]
            assert done["epoch"] == list(range(10))
            assert (tmp_path / "machine1" / "jobs" / job / "weights.npz").is_file()
            weights = api.weights(job)
            assert len(weights) == 4 and all(np.isfinite(w).all() for w in weights)
        finally:
            for pool in pools:
                pool.stop_all()


def test_a_fresh_object_store_gets_its_bucket_when_the_api_starts(s3_settings, make_api, tmp_path):
    from service.client import Client

    fresh = s3_settings.model_copy(update={"store": "s3://fresh-bucket/fitq", "data_dir": tmp_path / "api"})
    with Client(make_api(fresh).url) as api:
        ds = api.upload_arrays(regression_arrays(n=8))["id"]
    other = Store.from_settings(fresh.model_copy(update={"data_dir": tmp_path / "elsewhere"}))
    assert [m["id"] for m in other.list_datasets("public")] == [ds]
