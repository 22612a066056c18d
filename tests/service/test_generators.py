"""The worker's Sequences over the store: batches, per-epoch shuffling, copies that carry paths."""
from __future__ import annotations

import copy

import numpy as np

from worker.generators import ArraySequence


def test_array_sequence_batches_shuffles_and_copies_by_path(tmp_path):
    x = np.arange(50, dtype="float32").reshape(25, 2)
    y = np.arange(25, dtype="int64")
    np.save(tmp_path / "x.npy", np.repeat(x, 1, axis=0))
    np.save(tmp_path / "y.npy", y)
    seq = ArraySequence(tmp_path / "x.npy", tmp_path / "y.npy", np.arange(20), batch_size=8, shuffle=True, seed=0)
    assert len(seq) == 3
    seen = np.concatenate([seq[i][1] for i in range(len(seq))])
    assert sorted(seen) == list(range(20))
    xb, yb = seq[0]
    np.testing.assert_array_equal(xb, x[yb])
    first = [seq[i][1].tolist() for i in range(3)]
    seq.on_epoch_end()
    assert [seq[i][1].tolist() for i in range(3)] != first
    state = seq.__getstate__()
    assert state["_maps"] is None, "a Sequence sent to another process must carry paths, not data"
    assert not any(isinstance(v, np.memmap) for v in state.values())
    np.testing.assert_array_equal(copy.deepcopy(seq)[2][1], seq[2][1])
