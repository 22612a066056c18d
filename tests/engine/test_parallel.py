"""Element-wise work split over threads gives the same bits as one thread."""
from __future__ import annotations

import numpy as np
import pytest

from engine import optimizers, parallel
from engine.variables import Variable


@pytest.fixture
def restore_threads():
    before = parallel.num_threads()
    yield
    parallel.set_num_threads(before)


def _adam_weights(threads, amsgrad):
    parallel.set_num_threads(threads)
    rng = np.random.default_rng(3)
    big = Variable(rng.standard_normal((700, 300)).astype("float32"), "big")
    small = Variable(rng.standard_normal(300).astype("float32"), "small")
    opt = optimizers.Adam(learning_rate=0.01, amsgrad=amsgrad)
    for _ in range(4):
        for v in (big, small):
            v.grad = rng.standard_normal(v.shape).astype("float32")
        opt.apply([big, small])
    return big.numpy(), small.numpy(), [np.asarray(s).copy() for s in opt.variables[2:]]


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_on_three_threads_equals_one_thread_bit_for_bit(restore_threads, amsgrad):
    one = _adam_weights(1, amsgrad)
    three = _adam_weights(3, amsgrad)
    np.testing.assert_array_equal(one[0], three[0])
    np.testing.assert_array_equal(one[1], three[1])
    assert len(one[2]) == len(three[2]) > 0
    for a, b in zip(one[2], three[2]):
        np.testing.assert_array_equal(a, b)


def test_split_elementwise_covers_every_element_once(restore_threads):
    parallel.set_num_threads(4)
    n = parallel.MIN_PIECE * 4 + 7
    out = np.zeros(n, dtype="float32")

    def add_one(o):
        o += 1

    parallel.split_elementwise(add_one, [out])
    np.testing.assert_array_equal(out, np.ones(n, dtype="float32"))


def test_non_contiguous_arrays_run_on_the_calling_thread(restore_threads):
    parallel.set_num_threads(2)
    base = np.zeros((parallel.MIN_PIECE, 4), dtype="float32")
    column = base[:, 1]
    calls = []
    parallel.split_elementwise(lambda a: calls.append(a.shape), [column])
    assert calls == [(parallel.MIN_PIECE,)]


def test_thread_count_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        parallel.set_num_threads(0)
