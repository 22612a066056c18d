"""Training from generators and Sequences (Keras 2's fit_generator): every batch once per epoch under
each kind of worker, the stream semantics of generators, clear errors, and no thread or process left."""
from __future__ import annotations

import multiprocessing
import threading
import traceback

import numpy as np
import pytest

from engine import Input, Model, Sequential, callbacks, layers
from engine.streaming import StreamDataAdapter
from engine.utils import Sequence, to_categorical

MODES = [
    pytest.param(dict(workers=0), id="workers0"),
    pytest.param(dict(workers=2), id="threads2"),
    pytest.param(dict(workers=2, use_multiprocessing=True), id="processes2"),
]


class IndexSequence(Sequence):
    """Batch ``i`` is ``x = i`` (shape ``(size, 1)``) with a one-hot target; counts on_epoch_end calls."""

    def __init__(self, n=7, size=4):
        self.n, self.size = n, size
        self.epoch_ends = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.full((self.size, 1), float(i), dtype=np.float32)
        return x, to_categorical(np.arange(self.size) % 2, 2)

    def on_epoch_end(self):
        self.epoch_ends += 1


class FailingSequence(IndexSequence):
    def __getitem__(self, i):
        if i == 3:
            raise KeyError("batch 3 cannot be read")
        return super().__getitem__(i)


class DyingSequence(IndexSequence):
    def __getitem__(self, i):
        if i == 2:
            import os

            os._exit(3)
        return super().__getitem__(i)


class SeededDrawSequence(IndexSequence):
    """``x = [np.random draw, worker pid]``: shows which worker made a batch and what it drew."""

    def __getitem__(self, i):
        import os

        x = np.array([[np.random.random(), os.getpid()]] * self.size, dtype=np.float64)
        return x, to_categorical(np.arange(self.size) % 2, 2)


def classifier(inputs=1):
    model = Sequential([Input((inputs,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    return model


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.1).astype(np.float32)
    return x, y


def regressor(seed=1):
    model = Sequential([Input((3,)), layers.Dense(4, activation="tanh", kernel_initializer="glorot_uniform"),
                        layers.Dense(1)])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in model.get_weights()])
    model.compile("sgd", "mse")
    return model


def batch_values(adapter):
    """The batch indices (encoded in x) one epoch of the adapter yields."""
    with adapter.epoch() as batches:
        return [int(xs[0][0, 0]) for xs, _, _ in batches]


def leftovers():
    return ({t for t in threading.enumerate() if t.name.startswith("fitq-enqueuer")},
            multiprocessing.active_children())


@pytest.mark.parametrize("mode", MODES)
def test_sequence_batches_each_seen_once_per_epoch(mode):
    seq = IndexSequence(n=9)
    adapter = StreamDataAdapter(classifier(), seq, shuffle=True, max_queue_size=3, **mode)
    try:
        epochs = [batch_values(adapter) for _ in range(3)]
    finally:
        adapter.close()
    for seen in epochs:
        assert sorted(seen) == list(range(9))
    assert len({tuple(e) for e in epochs}) > 1, "shuffle=True should change the batch order between epochs"
    assert seq.epoch_ends == 3
    assert leftovers() == (set(), [])


@pytest.mark.parametrize("mode", MODES)
def test_sequence_unshuffled_keeps_order(mode):
    adapter = StreamDataAdapter(classifier(), IndexSequence(n=6), shuffle=False, max_queue_size=2, **mode)
    try:
        assert batch_values(adapter) == list(range(6))
        assert batch_values(adapter) == list(range(6))
    finally:
        adapter.close()


@pytest.mark.parametrize("mode", MODES)
def test_fit_calls_on_epoch_end_once_per_epoch_and_leaves_nothing_behind(mode):
    seq, val = IndexSequence(), IndexSequence(n=3)
    history = classifier().fit(seq, epochs=3, verbose=0, validation_data=val, **mode)
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 3
    assert seq.epoch_ends == 3 and val.epoch_ends == 3
    assert leftovers() == (set(), [])


@pytest.mark.parametrize("mode", MODES)
def test_fit_leaves_nothing_behind_when_a_sequence_raises(mode):
    with pytest.raises(KeyError, match="batch 3 cannot be read") as info:
        classifier().fit(FailingSequence(), epochs=2, verbose=0, shuffle=False, **mode)
    text = "".join(traceback.format_exception(info.value))
    assert 'raise KeyError("batch 3 cannot be read")' in text
    assert leftovers() == (set(), [])


def broken_generator():
    for i in range(100):
        if i == 2:
            raise RuntimeError("the generator broke at batch 2")
        yield np.ones((4, 1), np.float32), to_categorical([0, 1, 0, 1], 2)


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_generator_exception_surfaces_with_its_traceback(workers):
    with pytest.raises(RuntimeError, match="the generator broke at batch 2") as info:
        classifier().fit_generator(broken_generator(), steps_per_epoch=5, epochs=2, verbose=0, workers=workers)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "broken_generator" in frames
    assert leftovers() == (set(), [])


@pytest.mark.parametrize("mode", MODES)
def test_stopping_early_leaves_nothing_behind(mode):
    class StopAtBatch2(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    seq = IndexSequence(n=8)
    history = classifier().fit(seq, epochs=4, verbose=0, callbacks=[StopAtBatch2()], max_queue_size=4, **mode)
    assert len(history.history["loss"]) == 1
    assert leftovers() == (set(), [])


def test_process_workers_are_seeded_differently():
    adapter = StreamDataAdapter(classifier(2), SeededDrawSequence(n=12), workers=2, use_multiprocessing=True,
                                max_queue_size=4)
    try:
        with adapter.epoch() as batches:
            rows = [xs[0][0] for xs, _, _ in batches]
    finally:
        adapter.close()
    by_worker = {}
    for draw, pid in rows:
        by_worker.setdefault(pid, set()).add(draw)
    assert len(by_worker) == 2, "both worker processes should have produced batches"
    first, second = by_worker.values()
    assert not first & second


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_generator_matches_array_fit_with_varying_batch_sizes(workers):
    x, y = regression_data()
    cuts = [0, 3, 11, 16, 24, 31, 40]

    def batches():
        while True:
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                yield x[lo:hi], y[lo:hi]

    streamed = regressor()
    streamed.fit_generator(batches(), steps_per_epoch=6, epochs=3, verbose=0, workers=workers)
    reference = regressor()
    for _ in range(3):
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            reference.train_on_batch(x[lo:hi], y[lo:hi])
    for a, b in zip(streamed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_generator_is_one_stream_across_epochs():
    drawn = []

    def counting():
        i = 0
        while True:
            drawn.append(i)
            yield np.full((2, 1), float(i), np.float32), to_categorical([0, 1], 2)
            i += 1

    classifier().fit(counting(), steps_per_epoch=3, epochs=2, verbose=0, workers=0)
    assert drawn == list(range(6))


def test_threads_draw_exactly_the_epochs_batches_from_a_generator():
    drawn = []

    def counting():
        i = 0
        while True:
            drawn.append(i)
            yield np.full((2, 1), float(i), np.float32), to_categorical([0, 1], 2)
            i += 1

    classifier().fit(counting(), steps_per_epoch=4, epochs=3, verbose=0, workers=2, max_queue_size=3)
    assert drawn == list(range(12))


def test_batches_by_name_with_sample_weights():
    a = Input((2,), name="a")
    b = Input((1,), name="b")
    out = layers.Dense(1, name="out")(layers.Concatenate()([a, b]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(8, 2)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    sw = np.linspace(0.5, 2.0, 8).astype(np.float32)
    start = model.get_weights()

    def named():
        while True:
            yield {"b": xb, "a": xa}, {"out": y}, sw

    model.fit(named(), steps_per_epoch=2, epochs=1, verbose=0, workers=0)
    streamed = model.get_weights()
    model.set_weights(start)
    model.fit([xa, xb], y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for s, r in zip(streamed, model.get_weights()):
        np.testing.assert_allclose(s, r, rtol=1e-6, atol=1e-6)


def test_plain_generator_needs_steps():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        classifier().fit_generator(broken_generator(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_steps"):
        classifier().fit(IndexSequence(), validation_data=broken_generator(), epochs=1, verbose=0)
    assert leftovers() == (set(), [])


def test_malformed_batches_name_what_was_yielded():
    def bare_arrays():
        while True:
            yield np.zeros((4, 1), np.float32)

    with pytest.raises(ValueError, match=r"should be a tuple `\(x, y, sample_weight\)` or `\(x, y\)`. "
                                         r"Found: array of shape \(4, 1\)"):
        classifier().fit(bare_arrays(), steps_per_epoch=2, verbose=0)

    def two_inputs():
        while True:
            yield [np.zeros((4, 1), np.float32), np.zeros((4, 1), np.float32)], to_categorical([0, 1, 0, 1], 2)

    with pytest.raises(ValueError, match=r"got a list of 2, the model has 1 \(.*Found: a tuple of 2 \(a list of 2"):
        classifier().fit(two_inputs(), steps_per_epoch=2, verbose=0, workers=2)

    def mismatched():
        while True:
            yield np.zeros((4, 1), np.float32), to_categorical([0, 1, 0], 2)

    with pytest.raises(ValueError, match=r"cardinality.*Found: a tuple of 2 \(array of shape \(4, 1\)"):
        classifier().fit(mismatched(), steps_per_epoch=2, verbose=0)
    assert leftovers() == (set(), [])


def test_generator_objects_cannot_go_to_processes():
    with pytest.raises(ValueError, match="generator object cannot be copied to another process"):
        classifier().fit(broken_generator(), steps_per_epoch=2, verbose=0, workers=2, use_multiprocessing=True)


def test_running_out_of_data_warns_and_stops_training():
    def short():
        for _ in range(5):
            yield np.ones((2, 1), np.float32), to_categorical([0, 1], 2)

    with pytest.warns(UserWarning, match="ran out of data"):
        history = classifier().fit(short(), steps_per_epoch=3, epochs=4, verbose=0, workers=1)
    assert len(history.history["loss"]) == 2


def test_validation_generator_with_steps_and_freq():
    val_drawn = []

    def validation():
        while True:
            val_drawn.append(1)
            yield np.ones((2, 1), np.float32), to_categorical([0, 1], 2)

    history = classifier().fit_generator(IndexSequence(), epochs=4, verbose=0, validation_data=validation(),
                                         validation_steps=2, validation_freq=2, initial_epoch=0)
    assert len(history.history["val_loss"]) == 2
    assert len(val_drawn) == 4


def test_predict_and_evaluate_ignore_or_use_targets_as_keras():
    seq = IndexSequence(n=5, size=3)
    model = classifier()
    x = np.concatenate([seq[i][0] for i in range(5)])
    y = np.concatenate([seq[i][1] for i in range(5)])
    np.testing.assert_allclose(model.predict_generator(seq, workers=2), model.predict(x, batch_size=3), rtol=1e-6)

    def inputs_only():
        for i in range(5):
            yield (seq[i][0],)

    np.testing.assert_allclose(model.predict(inputs_only(), steps=5, workers=0), model.predict(x), rtol=1e-6)
    np.testing.assert_allclose(model.evaluate_generator(seq, workers=2), model.evaluate(x, y, batch_size=3,
                                                                                         verbose=0), rtol=1e-6)


def test_queue_is_bounded_by_max_queue_size():
    fetched = []
    consumed = []
    gaps = []

    class Recording(IndexSequence):
        def __getitem__(self, i):
            fetched.append(i)
            return super().__getitem__(i)

    adapter = StreamDataAdapter(classifier(), Recording(n=30), workers=3, max_queue_size=4)
    try:
        with adapter.epoch() as batches:
            for xs, _, _ in batches:
                threading.Event().wait(0.002)
                consumed.append(int(xs[0][0, 0]))
                gaps.append(len(fetched) - len(consumed))
    finally:
        adapter.close()
    assert consumed == list(range(30))
    assert max(gaps) <= 4


def test_seed_000_two_input_generator_example():
    from engine.layers import concatenate

    def generate_model(max_len):
        seq1 = Input(name="input1", shape=[max_len])
        seq2 = Input(name="input2", shape=[max_len])
        x = concatenate([seq1, seq2])
        pred = layers.Dense(3, activation="sigmoid")(x)
        model = Model(inputs=[seq1, seq2], outputs=pred)
        model.compile(optimizer="Adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    def generate_data(train_x_, train_y_, batch_size):
        np.random.seed(2020)
        state = np.random.get_state()
        np.random.shuffle(train_x_)
        np.random.set_state(state)
        np.random.shuffle(train_y_)
        while True:
            for index in range(0, len(train_x_), batch_size):
                x1 = train_x_[0][index: index + batch_size]
                x2 = train_x_[1][index: index + batch_size]
                y = train_y_[index: index + batch_size]
                yield ({"input1": x1, "input2": x2}, y)

    x_train1 = np.array(range(1000)).reshape(100, 10)
    x_train2 = np.array(range(1000)).reshape(100, 10)
    y_train = np.ones((100, 3))
    train_num = int(len(x_train1) * 0.8)
    train_x = [x_train1[:train_num], x_train2[:train_num]]
    test_x = [x_train1[train_num:], x_train2[train_num:]]
    train_y = y_train[:train_num]
    test_y = y_train[train_num:]

    model = generate_model(train_x[0].shape[1])
    batch_size = 32
    history = model.fit_generator(generate_data(train_x, train_y, batch_size), validation_data=(test_x, test_y),
                                  steps_per_epoch=len(train_x[0]) // 32, epochs=10, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["loss"]) == 10
    assert history.history["loss"][-1] < history.history["loss"][0]


class PidIterator:
    """An iterator object (not a generator): each worker process draws from its own copy."""

    def __init__(self):
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        import os

        self.i += 1
        return np.array([[float(os.getpid()), float(self.i)]] * 2), to_categorical([0, 1], 2)


def test_iterator_objects_are_copied_to_each_process_as_keras_warns():
    adapter = StreamDataAdapter(classifier(2), PidIterator(), steps=8, workers=2, use_multiprocessing=True,
                                max_queue_size=4)
    try:
        with adapter.epoch() as batches:
            rows = [tuple(xs[0][0]) for xs, _, _ in batches]
    finally:
        adapter.close()
    assert len(rows) == 8
    by_pid = {}
    for pid, i in rows:
        by_pid.setdefault(pid, []).append(i)
    assert len(by_pid) == 2
    assert all(sorted(draws) == list(range(1, len(draws) + 1)) for draws in by_pid.values())
    assert leftovers() == (set(), [])


def test_a_worker_process_that_dies_is_reported_and_the_rest_stopped():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        classifier().fit(DyingSequence(), epochs=1, verbose=0, shuffle=False, workers=2, use_multiprocessing=True)
    assert leftovers() == (set(), [])


def test_class_weight_applies_to_generator_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 1)).astype(np.float32)
    y = to_categorical(np.arange(12) % 2, 2)
    weights = {0: 1.0, 1: 3.0}

    def batches():
        while True:
            for lo in range(0, 12, 4):
                yield x[lo:lo + 4], y[lo:lo + 4]

    streamed, reference = classifier(), classifier()
    reference.set_weights(streamed.get_weights())
    streamed.fit(batches(), steps_per_epoch=3, epochs=2, class_weight=weights, verbose=0, workers=2)
    for _ in range(2):
        for lo in range(0, 12, 4):
            reference.train_on_batch(x[lo:lo + 4], y[lo:lo + 4], class_weight=weights)
    for a, b in zip(streamed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
