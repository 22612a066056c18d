"""The seeds' code, run as written: an executable spec.

The seeds (``../shared/seeds/*.txt``, beside the repository) are Keras 2 articles whose code sits
between prose without fences. Each program below names its snippets by their first and last lines;
the test cuts them out of the seed text verbatim (searching forward from the previous snippet),
rewrites only ``keras`` imports to ``engine`` ones (``import keras`` -> ``import engine as keras``),
supplies what the article leaves to the reader (small arrays, an image folder, names an earlier
paragraph defined) and runs the snippets in one namespace, like a notebook, to the end.

Left out, and checked to be so: the ``generate_arrays_from_file`` example of seeds 000, 001 and 002
(its indentation is lost in the text, so it does not compile; it also reads a file of the reader's
through an undefined ``process_line``) and the ``fit_generator`` call that uses it; seed 003's
``import tensorflow as tf`` (unused) and its ``model.fit(x=None, y=None, ...)``, fit's signature
written as a call (no data: it raises ValueError, as Keras 2 did). API signatures in the prose
(``fit(x=None, ...)``, ``get_layer(name=None, index=None)``) are headings, not code.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"the seeds are not beside the repository ({SEEDS})")


def seed_text(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf8")


def cut(text: str, first: str, last: str, start: int = 0) -> tuple[str, int]:
    """The lines from the first one (at or after line ``start``) that starts with ``first`` to the next
    one that starts with ``last``, dedented, the web page's no-break spaces as spaces; and the index of
    the line after them."""
    lines = text.splitlines()
    i = next((k for k in range(start, len(lines)) if lines[k].strip().startswith(first)), None)
    assert i is not None, f"no line starting with {first!r} in the seed"
    j = next((k for k in range(i, len(lines)) if lines[k].strip().startswith(last)), None)
    assert j is not None, f"no line starting with {last!r} after {first!r}"
    return textwrap.dedent("\n".join(lines[i:j + 1]).replace("\u00a0", " ")), j + 1


_FROM = re.compile(r"^(\s*)from keras(\.[\w.]+)? import ", re.M)
_IMPORT = re.compile(r"^(\s*)import keras\s*$", re.M)


def to_engine(code: str) -> str:
    """``keras`` imports as ``engine`` imports; nothing else changes."""
    code = _FROM.sub(lambda m: f"{m.group(1)}from engine{m.group(2) or ''} import ", code)
    return _IMPORT.sub(lambda m: f"{m.group(1)}import engine as keras", code)


@dataclass
class Program:
    seed: str
    snippets: list  # (first line, last line)
    supplied: dict = field(default_factory=dict)
    replace: dict = field(default_factory=dict)  # literal text in the code -> what the test supplies
    after: str | None = None  # the first snippet is searched for after the line holding this text


def run(program: Program, namespace=None) -> dict:
    text = seed_text(program.seed)
    ns = {"__name__": "seed_program", **(namespace or {}), **program.supplied}
    pos = text[:text.index(program.after)].count("\n") + 1 if program.after else 0
    for first, last in program.snippets:
        code, pos = cut(text, first, last, pos)
        code = to_engine(code)
        for old, new in program.replace.items():
            code = code.replace(old, new)
        exec(compile(code, f"<seed {program.seed}: {first[:40]}>", "exec"), ns)
    return ns


def _rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------ seed 000
def test_seed000_two_input_fit_generator():
    """Seed 000's own two-input test: concatenate, Dense, Adam; fit_generator over a dict-yielding generator."""
    from engine.layers import Input
    from engine.models import Model

    ns = run(Program("000", [("from keras.layers import Conv1D, MaxPool1D", "steps_per_epoch = len(train_x[0]) // 32")],
                     supplied={"np": np, "Input": Input, "Model": Model}))
    assert ns["model"].history.epoch == list(range(10))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(ns["model"].history.history)


# ------------------------------------------------------------------ seed 002
def test_seed002_mlp_called_as_a_layer_and_time_distributed():
    rng = _rng()
    ns = run(Program("002", [("from keras.layers import Input, Dense", "model.fit(data, labels)"),
                             ("x = Input(shape=(784,))", "y = model(x)"),
                             ("from keras.layers import TimeDistributed", "processed_sequences = TimeDistributed(model)")],
                     supplied={"data": rng.random((8, 784), dtype="float32"),
                               "labels": np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]}))
    assert ns["y"].shape == (None, 10)
    assert ns["processed_sequences"].shape == (None, 20, 10)


def test_seed002_news_model_two_inputs_two_outputs():
    rng = _rng()
    n = 4
    ns = run(Program("002", [("from keras.layers import Input, Embedding, LSTM, Dense", "lstm_out = LSTM(32)(x)"),
                             ("auxiliary_output = Dense(1", "auxiliary_output = Dense(1"),
                             ("auxiliary_input = Input(shape=(5,)", "main_output = Dense(1"),
                             ("model = Model(inputs=[main_input, auxiliary_input]", "model = Model(inputs=[main_input"),
                             ("model.compile(optimizer='rmsprop', loss='binary_crossentropy',", "loss_weights=[1., 0.2])"),
                             ("model.fit([headline_data, additional_data]", "epochs=50, batch_size=32)"),
                             ("model.compile(optimizer='rmsprop',", "epochs=50, batch_size=32)")],
                     supplied={"keras": engine,
                               "headline_data": rng.integers(1, 10000, size=(n, 100)).astype("int32"),
                               "additional_data": rng.random((n, 5), dtype="float32"),
                               "labels": (rng.random((n, 1)) > 0.5).astype("float32")}))
    history = ns["model"].history.history
    assert sorted(history) == ["aux_output_loss", "loss", "main_output_loss"] and len(history["loss"]) == 50


def test_seed002_shared_lstm_and_layer_nodes():
    rng = _rng()
    from engine.layers import Conv2D

    ns = run(Program("002", [("import keras", "tweet_b = Input(shape=(140, 256))"),
                             ("# This layer can take as input a matrix", "model.fit([data_a, data_b], labels, epochs=10)"),
                             ("a = Input(shape=(140, 256))", "assert lstm.output == encoded_a")],
                     supplied={"data_a": rng.random((2, 140, 256), dtype="float32"),
                               "data_b": rng.random((2, 140, 256), dtype="float32"),
                               "labels": np.ones((2, 1), "float32")}))
    assert len(ns["model"].history.history["loss"]) == 10
    text = seed_text("002")
    after = text[:text.index("assert lstm.output == encoded_a")].count("\n") + 1
    code, pos = cut(text, "a = Input(shape=(140, 256))", "lstm.output", after)
    with pytest.raises(AttributeError, match="multiple inbound nodes"):  # the seed: "上面这段代码会报错"
        exec(to_engine(code), ns)
    code, pos = cut(text, "assert lstm.get_output_at(0) == encoded_a", "assert lstm.get_output_at(1) == encoded_b",
                    pos)
    exec(to_engine(code), ns)
    code, _ = cut(text, "a = Input(shape=(32, 32, 3))", "assert conv.get_input_shape_at(1)", pos)
    exec(to_engine(code), {**ns, "Conv2D": Conv2D})


def test_seed002_inception_residual_shared_vision():
    ns = run(Program("002", [("from keras.layers import Conv2D, MaxPooling2D, Input", "output = keras.layers.concatenate"),
                             ("from keras.layers import Conv2D, Input", "z = keras.layers.add([x, y])"),
                             ("from keras.layers import Conv2D, MaxPooling2D, Input, Dense, Flatten",
                              "classification_model = Model([digit_a, digit_b], out)")],
                     supplied={"keras": engine}))
    assert ns["output"].shape == (None, 768, 256, 64)
    assert ns["z"].shape == (None, 256, 256, 3)
    assert ns["classification_model"].outputs[0].shape == (None, 1)


def test_seed002_visual_and_video_question_answering():
    ns = run(Program("002", [("from keras.layers import Conv2D, MaxPooling2D, Flatten", "vqa_model = Model("),
                             ("from keras.layers import TimeDistributed", "video_qa_model = Model(")],
                     supplied={"keras": engine}),
             )
    assert ns["vqa_model"].outputs[0].shape == (None, 1000)
    assert ns["video_qa_model"].outputs[0].shape == (None, 1000)


def test_seed002_model_interface_examples():
    from engine.layers import Dense, Input

    ns = run(Program("002", [("from keras.models import Model", "model = Model(inputs=a, outputs=b)")],
                     after="转自:https://keras-cn.readthedocs.io"))
    assert ns["model"].outputs[0].shape == (None, 32)
    a1, a2 = Input((3,)), Input((4,))
    ns = run(Program("002", [("model = Model(inputs=[a1, a2]", "model = Model(inputs=[a1, a2]")],
                     supplied={"a1": a1, "a2": a2, "b1": Dense(2)(a1), "b3": Dense(1)(a2)}), ns)
    assert len(ns["model"].outputs) == 3


@pytest.mark.parametrize("seed, first", [("000", "def generate_arrays_from_file(path):"),
                                         ("001", "def generate_arrays_from_file(path):"),
                                         ("002", "def generate_arrays_from_file(path):")])
def test_left_out_generate_arrays_from_file_does_not_compile(seed, first):
    code, _ = cut(seed_text(seed), first, "yield ({'input_1': x1")
    with pytest.raises(IndentationError):
        compile(code, "<seed>", "exec")


# ------------------------------------------------------------------ seed 003
def test_seed003_model_summary_and_compile_signature():
    ns = run(Program("003", [("from keras.layers import Input, Dense", "model.compile(optimizer, loss")],
                     supplied={"optimizer": "rmsprop", "loss": "categorical_crossentropy"}))
    assert ns["model"].compiled
    code, _ = cut(seed_text("003"), "history = model.fit( x=None", "history = model.fit( x=None")
    with pytest.raises(ValueError):
        exec(to_engine(code), ns)


# ------------------------------------------------------------------ seed 004
def _flower_photos(root: Path, per_class=6, size=(24, 20)) -> Path:
    rng = _rng()
    for k in range(5):
        folder = root / f"flower_{k}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, size + (3,), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def _small_cnn():
    from engine.layers import Conv2D, Dense, Flatten, MaxPooling2D

    model = engine.Sequential([Conv2D(2, 3, activation="relu", input_shape=(8, 8, 3)), MaxPooling2D(),
                               Flatten(), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def test_seed004_fit_generator_with_augmentation():
    from engine.preprocessing.image import ImageDataGenerator

    rng = _rng()
    ns = run(Program("004", [("EPOCHS = 100", "epochs=EPOCHS)")],
                     supplied={"ImageDataGenerator": ImageDataGenerator, "model": _small_cnn(),
                               "trainX": rng.random((64, 8, 8, 3), dtype="float32"),
                               "trainY": np.eye(3, dtype="float32")[rng.integers(0, 3, 64)],
                               "testX": rng.random((8, 8, 8, 3), dtype="float32"),
                               "testY": np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]}))
    assert len(ns["H"].history["val_loss"]) == 100


def test_seed004_flower_cnn_program(tmp_path, monkeypatch):
    """The whole flower-classification program: read images, shuffle, one-hot, split, CNN, fit_generator, plot."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    photos = _flower_photos(tmp_path / "flower_photos")
    ns = run(Program("004", [("from skimage import io,transform", "from six.moves import range"),
                             ("path='/content/gdrive/My Drive/keras/flower_photos'", "c=3"),
                             ("def read_img(path):", "data,label=read_img(path)"),
                             ("num_example=data.shape[0]", "print(labels_5)"),
                             ("from sklearn.model_selection import train_test_split", "x_train, y_test, x_label"),
                             ("def minibatches(", "yield inputs[excerpt], targets[excerpt]"),
                             ("from keras.preprocessing.image import ImageDataGenerator", "horizontal_flip=True"),
                             ("model = Sequential() #", "model.compile(loss='categorical_crossentropy'"),
                             ("#model.fit(data,labels_5", "#model.train_on_batch"),
                             ("import matplotlib.pyplot as plt", 'plt.savefig("plot.png")')],
                     replace={"/content/gdrive/My Drive/keras/flower_photos": str(photos)}))
    assert ns["data"].shape == (30, 182, 182, 3)
    assert len(ns["H"].history["loss"]) == 6 and len(ns["H"].history["val_loss"]) == 6
    assert (tmp_path / "plot.png").stat().st_size > 0
