"""engine.gemm: large products through oneMKL where it is installed and on one thread, NumPy's matmul otherwise."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from engine import gemm

ROOT = Path(__file__).resolve().parents[2]
BIG = (128, 300, 512)  # 19.7M multiply-adds: above gemm.MIN_MULTIPLY_ADDS


@pytest.fixture(autouse=True)
def one_blas_thread():
    """The products below go through MKL where it is installed: it takes them on one thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _operands(dtype, a_transposed, b_transposed, m=BIG[0], k=BIG[1], n=BIG[2]):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(k, m) if a_transposed else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if b_transposed else (k, n)).astype(dtype)
    return (a.T if a_transposed else a), (b.T if b_transposed else b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
def test_products_match_numpy_in_every_layout(dtype, a_transposed, b_transposed):
    a, b = _operands(dtype, a_transposed, b_transposed)
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
        a = np.asfortranarray(np.repeat(a, 2, axis=1))[:, ::2]
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
    env = {**os.environ, "FITQ_GEMM": gemm_choice, "PYTHONPATH": str(ROOT), "MKL_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_training_agrees_between_backends_and_repeats_exactly():
    numpy_run = _train_mlp("numpy")
    assert numpy_run["backend"] == "numpy"
    auto_runs = [_train_mlp("auto"), _train_mlp("auto")]
    assert auto_runs[0] == auto_runs[1]  # run to run: the same bits
    np.testing.assert_allclose(auto_runs[0]["loss"], numpy_run["loss"], rtol=1e-5)
    np.testing.assert_allclose(auto_runs[0]["pred"], numpy_run["pred"], rtol=1e-4, atol=1e-6)


def test_mkl_is_chosen_exactly_where_the_extra_is_installed_and_runs_on_one_thread():
    from importlib import metadata

    try:
        metadata.distribution("mkl")
        installed = True
    except metadata.PackageNotFoundError:
        installed = False
    assert gemm.backend() == ("mkl" if installed and os.environ.get("FITQ_GEMM") != "numpy" else "numpy")
    with threadpool_limits(limits=2, user_api="blas"):
        assert gemm.backend() == "numpy"
        a, b = _operands("float32", False, False)
        np.testing.assert_array_equal(gemm.matmul(a, b), np.matmul(a, b))  # NumPy's own product, bit for bit
