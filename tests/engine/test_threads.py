"""engine.threads: the LSTM's compiled loop over row ranges side by side gives the one-thread results."""
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import gemm, threads
from engine.layers import LSTM

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def thread_count():
    before = threads.count()
    yield threads.set_count
    threads.set_count(before)


def test_row_ranges_cover_the_batch_in_at_most_count_near_equal_parts(thread_count):
    thread_count(3)
    assert threads.row_ranges(50, 16) == [(0, 16), (16, 33), (33, 50)]
    assert threads.row_ranges(40, 16) == [(0, 20), (20, 40)]
    assert threads.row_ranges(31, 16) == [(0, 31)]
    thread_count(1)
    assert threads.row_ranges(1000, 16) == [(0, 1000)]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_a_thread_count_that_is_not_a_positive_int_is_refused_naming_it(bad, thread_count):
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        thread_count(bad)


@pytest.mark.parametrize("env, expected", [({"FITQ_THREADS": "3"}, 3), ({"OMP_NUM_THREADS": "1"}, 1),
                                           ({"FITQ_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2)])
def test_the_count_comes_from_fitq_threads_then_omp_num_threads(env, expected):
    clean = {k: v for k, v in os.environ.items() if k not in ("FITQ_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", "from engine import threads; print(threads.count())"],
                         env={**clean, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True)
    assert int(out.stdout) == expected


def _as_list(value):
    return list(value) if isinstance(value, list) else [value]


def _lstm_pass(count, x, states, **kwargs):
    threads.set_count(count)
    layer = LSTM(6, **kwargs, kernel_initializer="glorot_uniform")
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    for w in layer.weights:
        w.value[...] = rng.normal(scale=0.3, size=w.value.shape).astype(w.value.dtype)
    inputs = [x, *states] if states else x
    y, backprop = layer.forward(inputs)
    grads_in = backprop([np.ones_like(a) for a in y] if isinstance(y, list) else np.ones_like(y))
    return y, grads_in, [w.grad for w in layer.weights]


@pytest.mark.parametrize("kwargs", [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
                                    {"return_state": True}])
@pytest.mark.parametrize("with_states", [False, True])
def test_lstm_on_two_and_three_threads_gives_the_one_thread_results(kwargs, with_states, thread_count):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7, 5)).astype("float32")
    states = [rng.normal(size=(50, 6)).astype("float32") for _ in range(2)] if with_states else None
    one = _lstm_pass(1, x, states, **kwargs)
    for count in (2, 3):
        many = _lstm_pass(count, x, states, **kwargs)
        for got, want in zip(_as_list(many[0]) + _as_list(many[1]), _as_list(one[0]) + _as_list(one[1])):
            np.testing.assert_array_equal(got, want)  # outputs and input gradients: rows are independent
        for got, want in zip(many[2], one[2]):  # summed over the row ranges: float32 rounding apart
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
        again = _lstm_pass(count, x, states, **kwargs)
        for got, want in zip(again[2], many[2]):
            np.testing.assert_array_equal(got, want)  # run to run: the same bits


def test_the_ranges_run_on_numbas_openmp_or_tbb_layer_whose_workers_stay_awake(thread_count):
    import numba

    thread_count(2)
    LSTM(4)(np.ones((40, 3, 2), "float32"))
    assert threads.native_pool(), "neither numba's OpenMP nor its TBB threading layer loaded"
    assert numba.threading_layer() in ("omp", "tbb")


_RANGES_WITHOUT_A_NATIVE_LAYER = """
import numpy as np
from engine import threads
from engine.layers import LSTM
x = np.random.default_rng(0).normal(size=(40, 9, 3)).astype("float32")
layer = LSTM(5, return_sequences=True)
threads.set_count(1)
one = layer(x)
threads.set_count(2)
two = layer(x)
print(threads.native_pool(), bool(np.array_equal(one, two)))
"""


def test_where_numba_offers_only_its_workqueue_layer_the_ranges_run_on_the_python_pool():
    out = subprocess.run([sys.executable, "-c", _RANGES_WITHOUT_A_NATIVE_LAYER], capture_output=True, text=True,
                         env={**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def _predict_in_child(x, queue):
    layer = LSTM(4)
    queue.put(np.asarray(layer(x)).tolist())


def test_a_forked_child_runs_the_threaded_loop_on_its_own_pool(thread_count):
    thread_count(2)
    x = np.random.default_rng(2).normal(size=(40, 3, 2)).astype("float32")
    LSTM(4)(x)  # the parent's pool (numba's OpenMP workers, or Python threads) exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_predict_in_child, args=(x, queue))
    child.start()
    out = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0 and np.asarray(out).shape == (40, 4)


_PARTS = """
from engine import gemm, threads
threads.set_count(2)
print(gemm.backend(), threads.parts_for(64), threads.parts_for(64, between_products=True))
"""


@pytest.mark.parametrize("gemm_env", ["numpy", "auto"])
def test_a_convolutions_loops_split_only_where_onemkl_shares_their_openmp_workers(gemm_env):
    out = subprocess.run([sys.executable, "-c", _PARTS], capture_output=True, text=True,
                         env={**os.environ, "FITQ_GEMM": gemm_env, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    backend, plain, between_products = out.stdout.split()
    assert backend == ("numpy" if gemm_env == "numpy" else gemm.backend())
    assert plain == "2"
    # beside OpenBLAS's own spinning workers the loop stays on the calling thread
    assert between_products == ("2" if backend == "mkl" else "1")
