"""Datasets larger than memory: memory-mapped .npy / .npz members, CSV rows read on demand, image folders,
batched by ArraySequence for fit, also in worker processes, with resident memory kept to about a batch."""
from __future__ import annotations

import os
import zipfile

import numpy as np
import psutil
import pytest
from PIL import Image

from engine import Input, Sequential, layers
from engine.datasets import ArraySequence, CsvArray, MappedArray, image_folder, open_npy, open_npz
from engine.streaming import StreamDataAdapter


def test_npy_rows_are_read_from_the_map(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "x.npy", data)
    x = open_npy(tmp_path / "x.npy")
    assert x.shape == (20, 3) and x.dtype == np.float32 and len(x) == 20
    np.testing.assert_array_equal(x[[7, 2, 19]], data[[7, 2, 19]])
    np.testing.assert_array_equal(x[3:6], data[3:6])
    np.testing.assert_array_equal(x[4], data[4])
    np.testing.assert_array_equal(x[[2, 9], 1:], data[[2, 9], 1:])
    np.testing.assert_array_equal(x[data[:, 0] > 40], data[data[:, 0] > 40])
    assert type(x[[1]]) is np.ndarray
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    fortran = open_npy(tmp_path / "f.npy")
    np.testing.assert_array_equal(fortran[[7, 2, 19]], data[[7, 2, 19]])


def test_reading_a_whole_npy_keeps_resident_memory_near_one_batch(tmp_path):
    rows, width = 4096, 4096  # 64 MiB of float32
    with open(tmp_path / "big.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, width)})
        for lo in range(0, rows, 512):
            f.write(np.full((512, width), lo, dtype=np.float32).tobytes())
    process = psutil.Process()

    def growth(array):
        before = process.memory_info().rss
        peak = before
        for lo in range(0, rows, 256):
            batch = array[np.arange(lo, lo + 256)]
            assert batch[0, 0] == lo - lo % 512
            peak = max(peak, process.memory_info().rss)
        return (peak - before) / 2**20

    mapped = growth(open_npy(tmp_path / "big.npy"))
    plain = growth(np.load(tmp_path / "big.npy", mmap_mode="r"))
    assert mapped < 16, f"resident memory grew {mapped:.1f} MiB while reading 64 MiB through MappedArray"
    assert plain > 48, "a plain memmap keeps the pages it read resident (the comparison this test relies on)"


def test_npz_stored_members_are_mapped_in_place_and_compressed_ones_unpacked_once(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(4, 3)
    b = np.linspace(0, 1, 8).astype(np.float64)
    np.savez(tmp_path / "stored.npz", a=a, b=b)
    np.savez_compressed(tmp_path / "packed.npz", a=a, b=b)

    stored = open_npz(tmp_path / "stored.npz")
    assert stored["a"].path == os.fspath(tmp_path / "stored.npz")
    np.testing.assert_array_equal(stored["a"][[3, 0]], a[[3, 0]])
    np.testing.assert_array_equal(stored["b"][:], b)
    assert not (tmp_path / "stored.npz.unpacked").exists()

    packed = open_npz(tmp_path / "packed.npz", cache_dir=tmp_path / "cache")
    assert packed["a"].path == os.fspath(tmp_path / "cache" / "a.npy")
    np.testing.assert_array_equal(packed["a"][1:3], a[1:3])
    np.testing.assert_array_equal(packed["b"][:], b)
    stamp = os.stat(tmp_path / "cache" / "b.npy").st_mtime_ns
    again = open_npz(tmp_path / "packed.npz", cache_dir=tmp_path / "cache")
    assert os.stat(tmp_path / "cache" / "b.npy").st_mtime_ns == stamp
    np.testing.assert_array_equal(again["b"][:], b)
    assert sorted(os.listdir(tmp_path / "cache")) == ["a.npy", "b.npy"]


def test_object_arrays_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as archive:
        with archive.open("o.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    with pytest.raises(ValueError, match="object dtypes need pickle"):
        open_npz(tmp_path / "objects.npz")


def write_csv(path, rows=500, newline="\n"):
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(rows, 4)), 4).astype(np.float32)
    lines = ["a,b,label,weight"] + [",".join(f"{v:g}" for v in row) for row in values]
    path.write_text(newline.join(lines) + newline + newline)
    return values


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_rows_by_name_read_on_demand(tmp_path, newline):
    values = write_csv(tmp_path / "data.csv", newline=newline)
    x = CsvArray(tmp_path / "data.csv", columns=["a", "b"], chunk_size=97)
    y = CsvArray(tmp_path / "data.csv", columns="label", chunk_size=4096)
    assert x.shape == (500, 2) and y.shape == (500, 1)
    assert x.column_names == ["a", "b", "label", "weight"]
    rows = np.array([499, 0, 250, 250, 17])
    np.testing.assert_allclose(x[rows], values[rows][:, :2], rtol=1e-6)
    np.testing.assert_allclose(y[10:20], values[10:20, 2:3], rtol=1e-6)
    np.testing.assert_allclose(x[3], values[3, :2], rtol=1e-6)


def test_csv_errors_name_the_problem(tmp_path):
    (tmp_path / "mixed.csv").write_text("a,b\n1,2\n3,cat\n")
    mixed = CsvArray(tmp_path / "mixed.csv")
    np.testing.assert_array_equal(mixed[0], [1, 2])
    with pytest.raises(ValueError, match="only numeric columns.*cat"):
        mixed[1]
    with pytest.raises(ValueError, match="no column 'c'"):
        CsvArray(tmp_path / "mixed.csv", columns=["c"])
    (tmp_path / "plain.csv").write_text("1,2\n3,4\n")
    assert CsvArray(tmp_path / "plain.csv").shape == (2, 2)


def regression_model():
    model = Sequential([Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("mode", [dict(workers=0), dict(workers=2), dict(workers=2, use_multiprocessing=True)],
                         ids=["workers0", "threads2", "processes2"])
def test_array_sequence_over_files_visits_every_row_once_per_epoch(tmp_path, mode):
    x = np.arange(90, dtype=np.float32).reshape(30, 3)
    np.save(tmp_path / "x.npy", x)
    write_csv(tmp_path / "y.csv", rows=30)
    seq = ArraySequence(open_npy(tmp_path / "x.npy"), CsvArray(tmp_path / "y.csv", columns=["label"]),
                        batch_size=7, shuffle=True)
    adapter = StreamDataAdapter(regression_model(), seq, shuffle=False, **mode)
    try:
        for _ in range(2):
            with adapter.epoch() as batches:
                firsts = np.concatenate([xs[0][:, 0] for xs, _, _ in batches])
            assert sorted(firsts.tolist()) == x[:, 0].tolist()
    finally:
        adapter.close()
    assert seq.epoch == 2


def test_array_sequence_trains_like_arrays_and_respects_indices(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    streamed, reference = regression_model(), regression_model()
    reference.set_weights(streamed.get_weights())
    seq = ArraySequence(open_npy(tmp_path / "x.npy"), open_npy(tmp_path / "y.npy"), batch_size=8, shuffle=False,
                        indices=np.arange(16))
    streamed.fit(seq, epochs=3, verbose=0, shuffle=False)
    reference.fit(x[:16], y[:16], batch_size=8, epochs=3, verbose=0, shuffle=False)
    for a, b in zip(streamed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="same number of rows"):
        ArraySequence(x, y[:5])
    assert isinstance(seq.x, MappedArray)


def test_batch_shuffle_keeps_each_batch_contiguous():
    x = np.arange(23, dtype=np.float32)[:, None]
    seq = ArraySequence(x, x, batch_size=5, shuffle="batch", seed=1)
    epochs = []
    for _ in range(3):
        batches = [seq[i][0][:, 0].tolist() for i in range(len(seq))]
        for batch in batches:
            assert batch == list(range(int(batch[0]), int(batch[0]) + len(batch)))
            assert batch[0] % 5 == 0
        assert sorted(v for b in batches for v in b) == list(range(23))
        epochs.append([b[0] for b in batches])
        seq.on_epoch_end()
    assert len({tuple(e) for e in epochs}) > 1
    with pytest.raises(ValueError, match="shuffle"):
        ArraySequence(x, x, shuffle="rows")


def test_image_folder_is_a_split_sequence(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.jpg")
    val = image_folder(tmp_path, target_size=(4, 4), subset="validation", validation_split=0.2, batch_size=8)
    train = image_folder(tmp_path, target_size=(4, 4), subset="training", validation_split=0.2, batch_size=8,
                         augment={"horizontal_flip": True, "rescale": 1 / 255.0})
    assert val.samples == 2 and train.samples == 8
    bx, by = train[0]
    assert bx.shape == (8, 4, 4, 3) and bx.max() <= 1.0 and by.shape == (8, 2)
