"""The compiled element-wise kernels give the bits of the NumPy expressions they replace."""
import numpy as np
import pytest

from engine import kernels, optimizers
from engine.variables import Variable


def numpy_adam(w, g, m, v, b1, b2, alpha, eps):
    """Adam's update as the optimizer writes it for CuPy arrays and other layouts."""
    m += (g - m) * b1
    v += (np.square(g) - v) * b2
    update = m * alpha
    den = np.sqrt(v)
    den += eps
    np.divide(update, den, out=update)
    np.subtract(w, update, out=w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_matches_numpy_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    n = 10_007
    w = rng.normal(size=n).astype(dtype)
    m = np.zeros(n, dtype)
    v = np.zeros(n, dtype)
    ref = [a.copy() for a in (w, m, v)]
    scalars = [dtype(s) for s in (1 - 0.9, 1 - 0.999, 1e-3, 1e-7)]
    for step in range(20):
        g = (rng.normal(size=n) * 10.0 ** rng.integers(-8, 3, n)).astype(dtype)
        g[:5] = 0
        kernels.adam_update(w, g, m, v, *scalars)
        numpy_adam(ref[0], g, ref[1], ref[2], *scalars)
    for got, want in zip((w, m, v), ref):
        np.testing.assert_array_equal(got, want)


def test_adam_on_non_contiguous_gradients_takes_the_numpy_path_with_the_same_result():
    rng = np.random.default_rng(4)
    start = rng.normal(size=(64, 32)).astype(np.float32)
    grads = [rng.normal(size=(32, 64)).astype(np.float32) for _ in range(3)]
    results = []
    for transpose in (False, True):
        var = Variable(start.copy(), name="kernel")
        opt = optimizers.Adam(learning_rate=0.01)
        for g in grads:
            var.grad = g.T if transpose else np.ascontiguousarray(g.T)
            assert kernels.fusable(var.value, var.grad) is not transpose
            opt.apply([var])
        results.append(var.value)
    np.testing.assert_array_equal(results[0], results[1])
