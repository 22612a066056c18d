"""engine.gemm: products above OpenBLAS's one-thread size through oneMKL where it is installed, NumPy's
matmul otherwise; OpenBLAS held at one thread while a model trains or predicts beside MKL."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from engine import gemm, weight_copies

ROOT = Path(__file__).resolve().parents[2]
BIG = (128, 300, 512)  # 19.7M multiply-adds: above gemm.OPENBLAS_ONE_THREAD_MACS


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False


MKL_TAKES_PRODUCTS = _installed("mkl") and os.environ.get("FITQ_GEMM") != "numpy"


def _operands(dtype, a_transposed, b_transposed, m=BIG[0], k=BIG[1], n=BIG[2], sliced=False):
    """``a`` (m, k) and ``b`` (k, n), each the transpose of a contiguous array or not; ``sliced``: each
    cut out of a wider array (a leading dimension beyond its own width)."""
    rng = np.random.default_rng(0)
    extra = 7 if sliced else 0
    a = rng.normal(size=(k, m + extra) if a_transposed else (m, k + extra)).astype(dtype)
    b = rng.normal(size=(n, k + extra) if b_transposed else (k, n + extra)).astype(dtype)
    a = a[:, :m] if a_transposed else a[:, :k]
    b = b[:, :k] if b_transposed else b[:, :n]
    return (a.T if a_transposed else a), (b.T if b_transposed else b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
@pytest.mark.parametrize("sliced", [False, True])
def test_products_match_numpy_in_every_layout(dtype, a_transposed, b_transposed, sliced):
    a, b = _operands(dtype, a_transposed, b_transposed, sliced=sliced)
    got = gemm.matmul(a, b)
    expected = np.matmul(a, b)
    assert got.shape == expected.shape and got.dtype == expected.dtype and got.flags.c_contiguous
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    out = np.empty_like(expected)
    assert gemm.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, got)


def test_the_same_product_gives_the_same_bits_every_time():
    a, b = _operands("float32", False, True)
    first = gemm.matmul(a, b)
    for _ in range(5):
        np.testing.assert_array_equal(gemm.matmul(a, b), first)


@pytest.mark.parametrize("case", ["small", "batched", "strided", "mixed dtypes", "int", "bad out"])
def test_what_gemm_cannot_read_goes_to_numpy_unchanged(case):
    a, b = _operands("float32", False, False)
    out = None
    if case == "small":
        a, b = a[:8, :8], b[:8, :8]
    elif case == "batched":
        a, b = np.stack([a, a]), b
    elif case == "strided":
        a = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[::2, ::2]
    elif case == "mixed dtypes":
        b = b.astype(np.float64)
    elif case == "int":
        a, b = a.astype(np.int64), b.astype(np.int64)
    elif case == "bad out":
        out = np.empty((a.shape[0], b.shape[1]), np.float32, order="F")
    np.testing.assert_allclose(gemm.matmul(a, b, out=out), np.matmul(a, b), rtol=1e-5, atol=1e-3)


def _train_mlp(gemm_choice: str) -> dict:
    """Trains a seeded Dense model in a fresh process with FITQ_GEMM=gemm_choice; its backend and results."""
    code = (
        "import json, numpy as np\n"
        "from engine import Sequential, gemm, layers, set_random_seed\n"
        "set_random_seed(1)\n"
        "x = np.random.default_rng(0).random((512, 300), dtype=np.float32)\n"
        "y = np.random.default_rng(1).integers(0, 10, 512)\n"
        "m = Sequential([layers.Input((300,)), layers.Dense(512, activation='relu'), layers.Dense(10, activation='softmax')])\n"
        "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "h = m.fit(x, y, batch_size=128, epochs=2, verbose=0, shuffle=False)\n"
        "print(json.dumps({'backend': gemm.backend(), 'loss': h.history['loss'],\n"
        "                  'pred': m.predict(x[:4], verbose=0).tolist()}))\n")
    env = {**os.environ, "FITQ_GEMM": gemm_choice, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_training_agrees_between_backends_and_repeats_exactly():
    numpy_run = _train_mlp("numpy")
    assert numpy_run["backend"] == "numpy"
    auto_runs = [_train_mlp("auto"), _train_mlp("auto")]
    assert auto_runs[0] == auto_runs[1]  # run to run: the same bits
    np.testing.assert_allclose(auto_runs[0]["loss"], numpy_run["loss"], rtol=1e-5)
    np.testing.assert_allclose(auto_runs[0]["pred"], numpy_run["pred"], rtol=1e-4, atol=1e-6)


def test_mkl_takes_the_large_products_exactly_where_the_extra_is_installed():
    assert gemm.backend() == ("mkl" if MKL_TAKES_PRODUCTS else "numpy")
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            assert gemm.backend() == ("mkl" if MKL_TAKES_PRODUCTS else "numpy")
    a, b = _operands("float32", False, False, m=64, k=64, n=64)  # 262144 multiply-adds: OpenBLAS's own
    np.testing.assert_array_equal(gemm.matmul(a, b), np.matmul(a, b))  # NumPy's product, bit for bit


def _openblas_threads():
    return sorted({lib["num_threads"] for lib in threadpool_info() if lib["internal_api"] == "openblas"})


def test_fit_and_predict_hold_openblas_at_one_thread_beside_mkl_and_give_the_threads_back():
    from engine import Sequential, callbacks, layers

    seen = []

    class Record(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(_openblas_threads())

        def on_predict_batch_end(self, batch, logs=None):
            seen.append(_openblas_threads())

    x = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    model = Sequential([layers.Input((8,)), layers.Dense(4), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with threadpool_limits(limits=2, user_api="blas"):
        before = _openblas_threads()
        model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0, callbacks=[Record()])
        model.predict(x, batch_size=32, callbacks=[Record()])
        assert _openblas_threads() == before == [2]  # the caller's own products get their threads back
    assert seen and all(s == ([1] if MKL_TAKES_PRODUCTS else [2]) for s in seen)


_FORKED_JOB = """
import json, os, numpy as np
from threadpoolctl import threadpool_info
from engine import Sequential, gemm, layers
def threads():
    return len(os.listdir('/proc/self/task'))
def openblas():
    return sorted({lib['num_threads'] for lib in threadpool_info() if lib['internal_api'] == 'openblas'})
x = np.random.default_rng(0).random((256, 300), dtype=np.float32)
x @ x.T  # OpenBLAS's workers started here, as a worker's warm-up starts them
gemm.hold_openblas_on_caller()
read, write = os.pipe()
if os.fork() == 0:  # a job's process
    before = threads()
    m = Sequential([layers.Input((300,)), layers.Dense(8), layers.Dense(1)])
    m.compile(optimizer='adam', loss='mse')
    m.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
    m.predict(x, verbose=0)
    os.write(write, json.dumps({'before': before, 'after': threads(), 'openblas': openblas()}).encode())
    os._exit(0)
os.close(write)
print(os.read(read, 1000).decode())
"""


def test_a_job_process_forked_from_a_worker_starts_no_openblas_workers_beside_mkl():
    """Where MKL takes the large products, a worker holds OpenBLAS at one thread for good: the job
    processes it forks train and predict without OpenBLAS starting threads (which would spin on the
    cores beside the job). Without MKL, OpenBLAS keeps its threads and runs products on them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "2"}
    res = subprocess.run([sys.executable, "-c", _FORKED_JOB], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True)
    job = json.loads(res.stdout.strip().splitlines()[-1])
    if MKL_TAKES_PRODUCTS:
        assert job == {"before": 1, "after": 1, "openblas": [1]}
    else:
        assert job["openblas"] == [2] and job["after"] > job["before"] == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("b_transposed", [False, True])
def test_packed_weights_give_the_product_whatever_the_batch_sizes(dtype, b_transposed):
    a, w = _operands(dtype, False, b_transposed, k=784)  # one row times w: 401408 multiply-adds, MKL's
    rtol = 1e-5 if dtype == "float32" else 1e-12
    with weight_copies.held_for_loop():
        small = gemm.matmul(a[:1], w, b_is_weight=True)  # packed here, by a batch of one row
        full = gemm.matmul(a, w, b_is_weight=True)
    with weight_copies.held_for_loop():
        full_first = gemm.matmul(a, w, b_is_weight=True)  # packed here, by a batch of 128
        small_after = gemm.matmul(a[:1], w, b_is_weight=True)
        third_size = gemm.matmul(a[:64], w, b_is_weight=True)  # beyond two row counts: unpacked
    np.testing.assert_array_equal(third_size, gemm.matmul(a[:64], w))
    np.testing.assert_allclose(full, np.matmul(a, w), rtol=rtol, atol=rtol * np.abs(full).max())
    np.testing.assert_allclose(small, np.matmul(a[:1], w), rtol=rtol, atol=rtol * np.abs(full).max())
    # a batch's result does not depend on which batch came first
    np.testing.assert_array_equal(full, full_first)
    np.testing.assert_array_equal(small, small_after)


def _dense_model():
    from engine import Sequential, layers, set_random_seed

    set_random_seed(3)
    model = Sequential([layers.Input((784,)), layers.Dense(512, activation="relu"), layers.Dense(4)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_predict_gives_each_batch_the_same_bits_whatever_batches_came_before():
    model = _dense_model()
    x = np.random.default_rng(0).random((129, 784), dtype=np.float32)

    def batches(sizes):
        start = 0
        for size in sizes:
            yield x[start:start + size]
            start += size

    small_first = model.predict(batches([1, 128]), steps=2, verbose=0)
    large_first = model.predict(batches([128, 1]), steps=2, verbose=0)
    np.testing.assert_array_equal(small_first[1:], model.predict(x[1:], batch_size=128, verbose=0))
    np.testing.assert_array_equal(large_first[:128], model.predict(x[:128], batch_size=128, verbose=0))
    np.testing.assert_allclose(small_first, large_first, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x, batch_size=64, verbose=0), model.predict(x, batch_size=64, verbose=0))


def test_weights_a_callback_assigns_during_predict_and_evaluate_take_effect_at_the_next_batch():
    from engine import callbacks

    model = _dense_model()
    x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
    dense = model.layers[0]

    class ZeroFirstLayer(callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])

        def on_test_batch_end(self, batch, logs=None):
            self.on_predict_batch_end(batch)

    saved = model.get_weights()
    out = model.predict(x, batch_size=128, verbose=0, callbacks=[ZeroFirstLayer()])
    bias = model.layers[1].get_weights()[1]
    assert not np.allclose(out[:128], bias)
    np.testing.assert_allclose(out[128:], np.broadcast_to(bias, (128, 4)), rtol=1e-6)  # relu(0) @ w + b

    model.set_weights(saved)
    y = model.predict(x, batch_size=128, verbose=0)
    # the first batch is exact; the second, predicted with the first layer zeroed, is off by y[128:] - bias
    loss = model.evaluate(x, y, batch_size=128, verbose=0, callbacks=[ZeroFirstLayer()])
    expected = float(np.mean((y[128:] - bias) ** 2)) / 2
    assert loss == pytest.approx(expected, rel=1e-4)
