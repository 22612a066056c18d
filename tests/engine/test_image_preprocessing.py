"""ImageDataGenerator against Keras's legacy one (fixtures from real Keras), and its iterators:
seeded reproducibility, flow_from_directory over a real image folder, splits and label modes."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import Input, Sequential, layers
from engine.preprocessing.image import ImageDataGenerator, img_to_array, load_img
from engine.streaming import StreamDataAdapter
from engine.utils import to_categorical

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "image_transforms"
CASES = json.loads((FIXTURES / "cases.json").read_text())
STANDARDIZE = json.loads((FIXTURES / "standardize.json").read_text())


@pytest.fixture(scope="module")
def arrays():
    with np.load(FIXTURES / "cases.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def std_arrays():
    with np.load(FIXTURES / "standardize.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", sorted(CASES))
def test_apply_transform_matches_keras(case, arrays):
    spec = CASES[case]
    image = arrays[f"input/{spec['image']}"].copy()
    out = ImageDataGenerator(**spec["generator"]).apply_transform(image, spec["params"])
    assert out.shape == arrays[case].shape
    np.testing.assert_allclose(out, arrays[case], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(STANDARDIZE))
def test_fit_and_standardize_match_keras(name, std_arrays):
    args = STANDARDIZE[name]
    first = args.get("data_format") == "channels_first"
    sample, batch = std_arrays["sample"], std_arrays["batch"]
    if first:
        sample, batch = sample.transpose(0, 3, 1, 2), batch.transpose(0, 3, 1, 2)
    with pytest.warns(UserWarning) if args.get("zca_whitening") else contextlib.nullcontext():
        gen = ImageDataGenerator(**args)
    gen.fit(sample)
    for attr in ("mean", "std", "zca_whitening_matrix"):
        if f"{name}/{attr}" in std_arrays:
            np.testing.assert_allclose(getattr(gen, attr), std_arrays[f"{name}/{attr}"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gen.standardize(batch.copy()), std_arrays[f"{name}/out"], rtol=1e-4, atol=1e-4)


AUGMENT = dict(rotation_range=20, zoom_range=0.15, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.15,
               horizontal_flip=True, fill_mode="nearest", channel_shift_range=5.0, brightness_range=(0.8, 1.2))


def images(n=10, h=8, w=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, h, w, 3)).astype("float32"), np.arange(n) % 2


def test_flow_with_a_seed_is_reproducible():
    x, y = images()
    gen = ImageDataGenerator(**AUGMENT)
    first = gen.flow(x, y, batch_size=4, seed=7)
    again = gen.flow(x, y, batch_size=4, seed=7)
    other = gen.flow(x, y, batch_size=4, seed=8)
    a = [next(first) for _ in range(7)]  # crosses two epoch boundaries (3 batches per epoch)
    b = [next(again) for _ in range(7)]
    c = [next(other) for _ in range(7)]
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    assert [len(xa) for xa, _ in a] == [4, 4, 2, 4, 4, 2, 4]
    epoch1 = np.concatenate([ya for _, ya in a[:3]])
    np.testing.assert_array_equal(np.sort(epoch1), np.sort(y))


def test_seeded_flow_gives_the_same_batches_whichever_worker_builds_them():
    x, y = images(n=12)
    model = Sequential([Input((8, 6, 3)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    seen = {}
    for mode in ({"workers": 0}, {"workers": 2}, {"workers": 2, "use_multiprocessing": True}):
        flow = ImageDataGenerator(**AUGMENT).flow(x, to_categorical(y, 2), batch_size=5, seed=3)
        adapter = StreamDataAdapter(model, flow, shuffle=False, **mode)
        try:
            epochs = []
            for _ in range(2):
                with adapter.epoch() as batches:
                    epochs.append([xs[0] for xs, _, _ in batches])
        finally:
            adapter.close()
        seen[str(mode)] = epochs
    reference, *others = seen.values()
    for other in others:
        for e_ref, e_other in zip(reference, other):
            for a, b in zip(e_ref, e_other):
                np.testing.assert_array_equal(a, b)
    assert not np.array_equal(reference[0][0], reference[1][0]), "a new epoch reshuffles and re-augments"


def test_get_random_transform_ranges_and_seed():
    gen = ImageDataGenerator(**AUGMENT)
    params = [gen.get_random_transform((8, 6, 3), seed=s) for s in range(50)]
    assert gen.get_random_transform((8, 6, 3), seed=3) == params[3]
    assert all(-20 <= p["theta"] <= 20 for p in params)
    assert all(abs(p["tx"]) <= 0.2 * 8 and abs(p["ty"]) <= 0.2 * 6 for p in params)
    assert all(0.85 <= p["zx"] <= 1.15 and 0.85 <= p["zy"] <= 1.15 for p in params)
    assert {bool(p["flip_horizontal"]) for p in params} == {True, False}
    assert not any(p["flip_vertical"] for p in params)
    assert all(0.8 <= p["brightness"] <= 1.2 for p in params)


def test_integer_and_list_shift_ranges_are_pixel_choices():
    gen = ImageDataGenerator(width_shift_range=[2, 4], height_shift_range=3)
    params = [gen.get_random_transform((10, 10, 1), seed=s) for s in range(40)]
    assert {abs(p["ty"]) for p in params} == {2, 4}
    assert {abs(p["tx"]) for p in params} <= {0, 1, 2}


def test_argument_errors():
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=(1, 2, 3))
    with pytest.raises(ValueError, match="brightness_range"):
        ImageDataGenerator(brightness_range=0.5)
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="rank 4"):
        ImageDataGenerator().flow(np.zeros((4, 5, 5)))


def test_flow_subset_sample_weight_and_extra_inputs():
    x, y = images(n=10)
    sw = np.linspace(0.1, 1.0, 10)
    gen = ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, batch_size=10, shuffle=False, sample_weight=sw, subset="validation")
    train = gen.flow(x, y, batch_size=10, shuffle=False, sample_weight=sw, subset="training")
    vx, vy, vsw = val[0]
    tx, ty, tsw = train[0]
    np.testing.assert_array_equal(vx, x[:3])
    np.testing.assert_array_equal(ty, y[3:])
    np.testing.assert_array_equal(tsw, sw[3:])
    extra = np.arange(10.0)[:, None]
    (bx, bextra), by = gen.flow((x, extra), y, batch_size=4, shuffle=False)[1]
    np.testing.assert_array_equal(bextra, extra[4:8])
    with pytest.raises(ValueError, match="different number of classes"):
        gen.flow(x, np.sort(y), subset="training")


def make_folder(root, per_class=(5, 4), sizes=((9, 7), (5, 6)), mode="RGB"):
    """``root/<class>/<i>.png`` with images of varying sizes; returns the written arrays by path."""
    rng = np.random.default_rng(1)
    written = {}
    for cls, count in zip(("cats", "dogs"), per_class):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            h, w = sizes[i % len(sizes)]
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            path = root / cls / f"{i}.png"
            Image.fromarray(pixels).convert(mode).save(path)
            written[path] = pixels
    (root / "cats" / "notes.txt").write_text("not an image")
    return written


def test_flow_from_directory_reads_resizes_and_labels(tmp_path, capsys):
    make_folder(tmp_path)
    it = ImageDataGenerator().flow_from_directory(tmp_path, target_size=(6, 5), batch_size=4, shuffle=False)
    assert "Found 9 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cats": 0, "dogs": 1}
    assert it.filenames[:2] == [str(Path("cats") / "0.png"), str(Path("cats") / "1.png")]
    assert len(it) == 3
    bx, by = it[0]
    assert bx.shape == (4, 6, 5, 3) and bx.dtype == np.float32
    expected = img_to_array(load_img(tmp_path / "cats" / "1.png", target_size=(6, 5)))
    np.testing.assert_array_equal(bx[1], expected)
    direct = np.asarray(Image.open(tmp_path / "cats" / "1.png").convert("RGB").resize((5, 6), Image.NEAREST))
    np.testing.assert_array_equal(bx[1], direct.astype(np.float32))
    np.testing.assert_array_equal(by, to_categorical([0, 0, 0, 0], 2))
    _, last_y = it[2]
    np.testing.assert_array_equal(last_y, to_categorical([1], 2))


def test_flow_from_directory_modes_and_subsets(tmp_path):
    make_folder(tmp_path)
    gen = ImageDataGenerator(rescale=1 / 255.0, validation_split=0.4)
    gray = gen.flow_from_directory(tmp_path, target_size=(4, 4), color_mode="grayscale", class_mode="sparse",
                                   batch_size=16, shuffle=False)
    gx, gy = gray[0]
    assert gx.shape == (9, 4, 4, 1) and gx.max() <= 1.0
    np.testing.assert_array_equal(gy, [0, 0, 0, 0, 0, 1, 1, 1, 1])
    val = gen.flow_from_directory(tmp_path, target_size=(4, 4), class_mode="binary", subset="validation",
                                  shuffle=False)
    train = gen.flow_from_directory(tmp_path, target_size=(4, 4), class_mode="binary", subset="training",
                                    shuffle=False)
    assert val.filenames == [str(Path("cats") / "0.png"), str(Path("cats") / "1.png"), str(Path("dogs") / "0.png")]
    assert val.samples + train.samples == 9
    only_x = gen.flow_from_directory(tmp_path, target_size=(4, 4), class_mode=None, classes=["dogs"],
                                     batch_size=2)
    assert only_x.samples == 4 and only_x[0].shape == (2, 4, 4, 3)
    auto = gen.flow_from_directory(tmp_path, target_size=(4, 4), class_mode="input", batch_size=3)
    ax, ay = auto[0]
    np.testing.assert_array_equal(ax, ay)
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(tmp_path, class_mode="onehot")
    with pytest.raises(ValueError, match="color mode"):
        gen.flow_from_directory(tmp_path, color_mode="cmyk")


def test_directory_iterator_trains_with_process_workers(tmp_path):
    make_folder(tmp_path)
    it = ImageDataGenerator(rotation_range=10, horizontal_flip=True, rescale=1 / 255.0).flow_from_directory(
        tmp_path, target_size=(6, 6), batch_size=3, seed=0)
    model = Sequential([Input((6, 6, 3)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(it, epochs=2, verbose=0, workers=2, use_multiprocessing=True)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert it.epoch == 2


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert to_categorical(np.array([[1], [0]]), 3).shape == (2, 3)
    assert to_categorical([1, 0], 2).dtype == np.float32
    with pytest.raises(ValueError, match="num_classes=2"):
        to_categorical([0, 2], 2)
