"""The store: atomic writes, no path outside its root, checkpoints kept and pruned."""
from __future__ import annotations

import numpy as np
import pytest

from worker.errors import InvalidInput, NotFound
from worker.store import Store, check_id, dumps, new_id


def test_paths_outside_the_store_are_refused(tmp_path):
    store = Store(tmp_path / "root")
    with pytest.raises(InvalidInput) as err:
        store.inside(tmp_path / "root" / ".." / "elsewhere", field="data.x")
    assert err.value.field == "data.x" and "outside the store" in err.value.message
    with pytest.raises(InvalidInput):
        store.write_bytes(tmp_path / "escape.txt", b"x")
    assert not (tmp_path / "escape.txt").exists()
    for bad in ("../ds_0123456789abcdef", "ds_0123456789abcdef/..", "/etc", "DS_0123456789ABCDEF"):
        with pytest.raises(NotFound):
            check_id(bad, "dataset")
    with pytest.raises(InvalidInput):
        store.array_path(new_id("ds"), "../../x", field="data.x")


def test_atomic_writes_leave_no_temporaries(tmp_path):
    store = Store(tmp_path)
    path = store.job_file(new_id("job"), "history.json")
    store.write_json(path, {"loss": [np.float32(0.5), float("nan")]})
    assert path.read_text() == '{"loss": [0.5, null]}'
    store.write_json(path, {"loss": [1.0]})
    assert [p.name for p in path.parent.iterdir()] == ["history.json"]
    assert dumps({"a": np.arange(2)}) == '{"a": [0, 1]}'


def test_checkpoints_keep_the_last_two_and_load_the_latest(tmp_path):
    store = Store(tmp_path)
    job = new_id("job")
    for epoch in range(4):
        store.save_checkpoint(job, epoch, {"weights": [np.full((2, 2), epoch, "float32"), np.zeros(3, "float32")],
                                           "optimizer": [np.asarray(epoch * 10, "int64")]},
                              {"history": {"loss": list(range(epoch + 1))}, "epochs": list(range(epoch + 1))})
    state, arrays = store.load_checkpoint(job)
    weights, optimizer = arrays["weights"], arrays["optimizer"]
    assert state["epoch"] == 3 and state["epochs"] == [0, 1, 2, 3]
    np.testing.assert_array_equal(weights[0], np.full((2, 2), 3))
    assert len(weights) == 2 and optimizer == [30]
    assert sorted(p.name for p in (store.job_dir(job) / "checkpoints").iterdir()) == ["epoch-00003.npz",
                                                                                      "epoch-00004.npz"]
    assert store.load_checkpoint(new_id("job")) is None
