"""Keras 3's CTC loss (its JAX backend's optax-style forward algorithm) and its exact gradient.

``y_true``: ``(batch, max_label_length)`` integer labels, 0 is the blank and pads the end;
``y_pred``: ``(batch, timesteps, num_classes)`` scores, turned into log-probabilities by
``log_softmax`` (as Keras does, whatever the model's last activation). Values: ``(batch,)``.
The backward pass replays the forward recursion in reverse (the derivative JAX's
autodiff takes through ``lax.scan``).
"""
from __future__ import annotations

from engine.losses._math import const, log_softmax, prepare

LOG_EPSILON = -1e5


def _logaddexp_weights(xp, a, b, out):
    """d out / d a and d out / d b for out = logaddexp(a, b)."""
    return xp.exp(a - out), xp.exp(b - out)


def ctc(y_true, y_pred):
    xp, yt, yp = prepare(y_true, y_pred, squeeze=False)
    if yt.ndim != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
                         f"integer format. Received: y_true.shape={tuple(yt.shape)}")
    if yp.ndim != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={tuple(yp.shape)}")
    target = yt.astype("int32")
    batch, steps, num_classes = yp.shape
    n = target.shape[1]
    le = const(yp, LOG_EPSILON)
    label_lengths = (target != 0).sum(axis=-1)
    logprobs = log_softmax(xp, yp, -1)
    repeat = xp.zeros((batch, n), dtype=yp.dtype)
    repeat[:, :-1] = (target[:, :-1] == target[:, 1:]).astype(yp.dtype)
    one_hot = (target[..., None] == xp.arange(num_classes)).astype(yp.dtype)
    emit_lp = xp.einsum("btk,bnk->tbn", logprobs, one_hot)
    phi_lp = xp.transpose(logprobs[:, :, 0:1], (1, 0, 2))
    s1_shift = le * repeat
    s2_shift = le * (const(yp, 1.0) - repeat)

    phi = xp.full((batch, n + 1), le, dtype=yp.dtype)
    phi[:, 0] = 0
    emit = xp.full((batch, n), le, dtype=yp.dtype)
    tape = []
    for t in range(steps):
        p1 = phi.copy()
        p1[:, 1:] = xp.logaddexp(phi[:, 1:], emit + s1_shift)
        a, b = p1[:, :-1] + emit_lp[t], emit + emit_lp[t]
        next_emit = xp.logaddexp(a, b)
        np0 = p1 + phi_lp[t]
        s2 = emit + phi_lp[t] + s2_shift
        next_phi = np0.copy()
        next_phi[:, 1:] = xp.logaddexp(np0[:, 1:], s2)
        tape.append((phi, emit, p1, a, b, next_emit, np0, s2, next_phi))
        phi, emit = next_phi, next_emit
    last = phi.copy()
    last[:, 1:] = xp.logaddexp(phi[:, 1:], emit)
    rows = xp.arange(batch)
    values = -last[rows, label_lengths]

    def backprop(d):
        d = xp.asarray(d, yp.dtype)
        g_last = xp.zeros_like(last)
        g_last[rows, label_lengths] = -d
        wa, wb = _logaddexp_weights(xp, phi[:, 1:], emit, last[:, 1:])
        g_phi = g_last.copy()
        g_phi[:, 1:] *= wa
        g_emit = g_last[:, 1:] * wb
        g_emit_lp = xp.zeros_like(emit_lp)
        g_phi_lp = xp.zeros((steps, batch, 1), dtype=yp.dtype)
        for t in range(steps - 1, -1, -1):
            prev_phi, prev_emit, p1, a, b, next_emit, np0, s2, next_phi = tape[t]
            wa2, wb2 = _logaddexp_weights(xp, np0[:, 1:], s2, next_phi[:, 1:])
            g_np0 = g_phi.copy()
            g_np0[:, 1:] *= wa2
            g_s2 = g_phi[:, 1:] * wb2
            g_phi_lp[t] = g_np0.sum(axis=1, keepdims=True) + g_s2.sum(axis=1, keepdims=True)
            g_p1 = g_np0
            g_prev_emit = g_s2
            wa1, wb1 = _logaddexp_weights(xp, a, b, next_emit)
            g_p1[:, :-1] += g_emit * wa1
            g_prev_emit = g_prev_emit + g_emit * wb1
            g_emit_lp[t] = g_emit * (wa1 + wb1)
            wa0, wb0 = _logaddexp_weights(xp, prev_phi[:, 1:], prev_emit + s1_shift, p1[:, 1:])
            g_prev_phi = g_p1.copy()
            g_prev_phi[:, 1:] *= wa0
            g_prev_emit = g_prev_emit + g_p1[:, 1:] * wb0
            g_phi, g_emit = g_prev_phi, g_prev_emit
        g_logprobs = xp.einsum("tbn,bnk->btk", g_emit_lp, one_hot)
        g_logprobs[:, :, 0] += xp.transpose(g_phi_lp[:, :, 0], (1, 0))
        probs = xp.exp(logprobs)
        return g_logprobs - probs * g_logprobs.sum(axis=-1, keepdims=True)

    return values, backprop
