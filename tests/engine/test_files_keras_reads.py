"""fitq's ``.keras``, ``.h5`` and ``.weights.h5`` files are the ones real Keras 3 opened.

``tests/fixtures/fitq_written/make_fitq_files.py`` wrote the committed files with fitq;
``check_keras3.py`` loaded each in real Keras 3 and recorded its predictions' distance from
fitq's in ``keras3_check.json``. These tests check that record, that fitq still reads the files,
and that fitq today writes the same configs and the same HDF5 layout, so the record still holds.
"""
from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import engine
import engine.naming

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "fitq_written"
SUFFIXES = [".keras", ".h5", ".weights.h5"]


def _maker():
    spec = importlib.util.spec_from_file_location("make_fitq_files", HERE / "make_fitq_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()
NAMES = [fn.__name__ for fn in MAKER.MODELS]


def test_real_keras3_loaded_every_file_and_predicted_as_fitq():
    record = json.loads((HERE / "keras3_check.json").read_text())
    assert record["keras_version"].startswith("3.")
    assert sorted(record["max_abs_diff"]) == sorted(f"{n}{s}" for n in NAMES for s in SUFFIXES)
    assert max(record["max_abs_diff"].values()) <= 1e-5


def _inputs(name):
    with np.load(HERE / f"{name}.npz") as data:
        n = sum(1 for k in data.files if k.startswith("x"))
        m = sum(1 for k in data.files if k.startswith("predict"))
        return [data[f"x{i}"] for i in range(n)], [data[f"predict{i}"] for i in range(m)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_fitq_reads_its_files_back(name, suffix):
    xs, want = _inputs(name)
    model = engine.load_model(HERE / f"{name}{suffix}")
    got = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    for g, w in zip(got if isinstance(got, list) else [got], want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def _h5_layout(path_or_file):
    paths = {}
    with h5py.File(path_or_file, "r") as f:
        f.visititems(lambda p, obj: paths.__setitem__(p, getattr(obj, "shape", None)))
        attrs = sorted(f.attrs)
    return paths, attrs


@pytest.mark.parametrize("name", NAMES)
def test_fitq_still_writes_what_keras3_read(name, tmp_path):
    """Same configs and HDF5 layout as the files Keras 3 opened (values aside: weights are random)."""
    engine.naming.clear_session()
    model, _, _ = getattr(MAKER, name)()
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    old, new = zipfile.ZipFile(HERE / f"{name}.keras"), zipfile.ZipFile(tmp_path / "m.keras")
    assert sorted(old.namelist()) == sorted(new.namelist())
    assert json.loads(old.read("config.json")) == json.loads(new.read("config.json"))
    assert _h5_layout(old.open("model.weights.h5")) == _h5_layout(new.open("model.weights.h5"))
    assert _h5_layout(HERE / f"{name}.weights.h5") == _h5_layout(tmp_path / "m.weights.h5")
    assert _h5_layout(HERE / f"{name}.h5") == _h5_layout(tmp_path / "m.h5")
    with h5py.File(HERE / f"{name}.h5") as a, h5py.File(tmp_path / "m.h5") as b:
        assert json.loads(a.attrs["model_config"]) == json.loads(b.attrs["model_config"])


def test_fitq_reads_keras3_weights_of_wrapped_and_recurrent_layers():
    """``keras3_recurrent_wrappers.weights.h5``, written by real Keras 3: Bidirectional, TimeDistributed, GRU, SimpleRNN."""
    config = json.loads(zipfile.ZipFile(HERE / "recurrent_wrappers.keras").read("config.json"))
    model = engine.models.model_from_json(json.dumps(config))
    model.load_weights(HERE / "keras3_recurrent_wrappers.weights.h5")
    with np.load(HERE / "keras3_recurrent_wrappers.npz") as data:
        np.testing.assert_allclose(model.predict(data["x0"], verbose=0), data["predict0"], rtol=1e-5, atol=1e-6)
