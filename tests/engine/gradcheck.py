"""Finite-difference gradient checks for layers and models (float64)."""
from __future__ import annotations

import numpy as np


def numeric_grad(f, x, eps=1e-6):
    """Central-difference gradient of scalar ``f()`` w.r.t. array ``x`` (perturbed in place)."""
    g = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        hi = f()
        x[i] = old - eps
        lo = f()
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


def check_layer_gradients(layer, inputs, training=False, rtol=1e-5, atol=1e-7, seed=0):
    """Compares ``layer.forward``'s backprop with finite differences for inputs and weights.

    ``inputs``: one float64 array or a list; the layer must hold float64 weights.
    Returns nothing; raises AssertionError naming what differs.
    """
    rng = np.random.default_rng(seed)
    multi = isinstance(inputs, list)
    xs = inputs if multi else [inputs]
    out, _ = layer.forward(inputs, training=training)
    outs = out if isinstance(out, (list, tuple)) else [out]
    cot = [rng.standard_normal(np.shape(o)) for o in outs]

    def objective():
        o, _ = layer.forward(xs if multi else xs[0], training=training)
        o = o if isinstance(o, (list, tuple)) else [o]
        return float(sum(np.sum(a * c) for a, c in zip(o, cot)))

    for w in layer.weights:
        w.grad = None
    o, bp = layer.forward(xs if multi else xs[0], training=training)
    d_in = bp(cot if isinstance(o, (list, tuple)) else cot[0])
    d_in = d_in if multi else [d_in]
    analytic_w = [None if w.grad is None else np.array(w.grad) for w in layer.weights]
    for w in layer.weights:
        w.grad = None
    for i, (x, g) in enumerate(zip(xs, d_in)):
        if not np.issubdtype(x.dtype, np.floating):
            continue
        num = numeric_grad(objective, x)
        np.testing.assert_allclose(g, num, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    for w, g in zip(layer.weights, analytic_w):
        if not w.trainable:
            continue
        num = numeric_grad(objective, w.value)
        np.testing.assert_allclose(g if g is not None else np.zeros_like(num), num, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of weight {w.path}")
