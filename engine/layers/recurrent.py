"""Recurrent layers SimpleRNN, LSTM and GRU, computed as Keras 3 does.

Input ``(batch, timesteps, features)``; called with a list ``[x, *initial_states]``
(or ``initial_state=[...]``) the states start from the given arrays and get
gradients. The inputs of all timesteps are projected by the kernel in one
matrix product; the loop over time does the recurrent products only, and the
backward pass walks the steps in reverse (backpropagation through time).

Masks ``(batch, timesteps)`` skip timesteps: a masked step keeps the previous
states, and its output is the previous output (zeros with
``zero_output_for_mask``, which Bidirectional sets when returning sequences).
``go_backwards`` processes the steps last to first and returns the outputs in
that (reversed) order.

Weights (Keras's layouts): kernel ``(features, gates * units)``,
recurrent_kernel ``(units, gates * units)``, bias ``(gates * units,)``
(GRU with ``reset_after``: ``(2, 3 * units)``, input then recurrent bias).
Gates: LSTM i, f, c, o; GRU z, r, h.

An LSTM with tanh / sigmoid activations on NumPy arrays, without a mask or training
dropout, runs its whole time loop as compiled code (:mod:`engine.recurrent_kernels`): the
same numbers to float32 rounding, without per-step caches or Python calls.
"""
from __future__ import annotations


import numpy as np

from engine import activations, backend, constraints, gemm, initializers, kernels, recurrent_kernels, regularizers
from engine import threads, weight_copies
from engine import random as engine_random
from engine.layers.base import Layer
from engine.saving.layer_registry import register


def _rec_forward(h, kernel, masks, units, gates):
    """``h @ kernel[:, gates]``, each gate's ``h`` scaled by its recurrent dropout mask when given."""
    if masks is None:
        return gemm.matmul(h, kernel[:, gates[0] * units:(gates[-1] + 1) * units])
    xp = backend.array_module(h)
    return xp.concatenate([gemm.matmul(h * masks[g], kernel[:, g * units:(g + 1) * units]) for g in gates], axis=1)


def _rec_backward(dz, h, kernel, masks, units, gates, d_kernel):
    """Adjoint of :func:`_rec_forward`: adds into ``d_kernel``, returns the gradient for ``h``."""
    if masks is None:
        cols = slice(gates[0] * units, (gates[-1] + 1) * units)
        d_kernel[:, cols] += gemm.matmul(h.T, dz)
        return gemm.matmul(dz, kernel[:, cols].T)
    dh = 0.0
    for k, g in enumerate(gates):
        cols = slice(g * units, (g + 1) * units)
        dzg = dz[:, k * units:(k + 1) * units]
        d_kernel[:, cols] += gemm.matmul((h * masks[g]).T, dzg)
        dh = dh + gemm.matmul(dzg, kernel[:, cols].T) * masks[g]
    return dh


# ------------------------------------------------- LSTM fast path (NumPy)
# A tanh / sigmoid LSTM without masks or dropout runs engine.recurrent_kernels' time loops,
# time-major, gates reordered to i, f, o, c.
_IFOC = (0, 1, 3, 2)  # Keras's gate blocks i, f, c, o taken to i, f, o, c (the reorder is its own inverse)


def _keras_columns(blocks):
    """The inverse of :func:`_gate_blocks`: (4, rows, units) blocks of gates i, f, o, c -> Keras's
    (rows, 4 units) columns i, f, c, o, in one copy."""
    units = blocks.shape[2]
    weights = np.empty((blocks.shape[1], 4 * units), blocks.dtype)
    for block, gate in zip(blocks, _IFOC):
        weights[:, gate * units:(gate + 1) * units] = block
    return weights


def _gate_blocks(weights, units):
    """Keras's (rows, 4 units) weights -> (4, rows, units) contiguous blocks of gates i, f, o, c, in one copy."""
    blocks = np.empty((4, weights.shape[0], units), weights.dtype)
    for block, gate in zip(blocks, _IFOC):
        block[...] = weights[:, gate * units:(gate + 1) * units]
    return blocks


# The fewest rows a range of a batch keeps, so that each thread's per-step products stay a few
# thousand multiply-adds or more (an LSTM(64) step on 64 sequences of 100, forward and backward:
# 20.3-21.0 -> 15.0 ms on two ranges of 32; predict 8.7-10.0 -> 7.4 ms).
_MIN_THREAD_ROWS = 16


class _LstmRows:
    """The compiled LSTM loop over some rows of a batch: their inputs ``xs`` (T, n, F), states ``h``
    and ``c`` (n, u; views into the batch's, updated in place) and what the backward pass reads."""

    def __init__(self, xs, h, c, keep, sequences):
        steps, n, u, dtype = xs.shape[0], h.shape[0], h.shape[1], xs.dtype
        kept = steps if keep else 0
        self.xs, self.h, self.c = xs, h, c
        self.gates = np.empty((steps if keep else 1, 4, n, u), dtype)
        self.h_prev, self.c_prev, self.tanh_c = (np.empty((kept, n, u), dtype) for _ in range(3))
        self.ys = np.empty((steps if sequences else 0, n, u), dtype)
        self.zx, self.zh = np.empty((4, n, u), dtype), np.empty((4, n, u), dtype)  # the loops' scratch
        self.grads = None

    def forward_args(self, kb, b, rec_blocks):
        """:func:`engine.recurrent_kernels.lstm_forward`'s arguments."""
        return (self.xs, kb, b, rec_blocks, self.h, self.c, self.zx, self.zh, self.gates, self.h_prev, self.c_prev,
                self.tanh_c, self.ys)

    def backward_args(self, kb_t, rk_t, dy_seq, dh, dc, need_input_grad):
        """:func:`engine.recurrent_kernels.lstm_backward`'s arguments; it leaves ``grads`` = ``(dxs
        (T, n, F) or (0, n, F), dkb, drk, db)``, and ``dh`` and ``dc`` the initial states' gradients."""
        steps, n, f_in = self.xs.shape
        u, dtype = self.h.shape[1], self.xs.dtype
        self.grads = (np.empty((steps if need_input_grad else 0, n, f_in), dtype), np.zeros((4, f_in, u), dtype),
                      np.zeros((4, u, u), dtype), np.zeros((4, u), dtype))
        return (self.gates, self.xs, self.h_prev, self.c_prev, self.tanh_c, kb_t, rk_t, dy_seq, dh, dc, self.zx,
                *self.grads)


def _side_by_side(kernel, ranges_kernel, calls):
    """``kernel(*args)`` for each ``args`` in ``calls`` (one per row range): side by side in one
    ``prange`` loop where :func:`engine.threads.native_pool`, else on :func:`engine.threads.map`."""
    if len(calls) > 1 and threads.native_pool():
        ranges_kernel(*(tuple(column) for column in zip(*calls)))
    else:
        threads.map(lambda args: kernel(*args), calls)


class _RNN(Layer):
    """The time loop, masks, states, dropout and return options shared by the recurrent layers."""

    supports_masking = True
    skips_input_grad = True
    _gates = 1
    _state_count = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if units is None or int(units) <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        if stateful:
            raise ValueError(f"Layer {self.name!r}: stateful=True is not supported by fitq (use stateful=False)")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._rng = engine_random.generator(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.use_cudnn = use_cudnn

    # ------------------------------------------------------------- calling
    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        if initial_state is not None:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            inputs = [inputs] + list(states)
        return super().__call__(inputs, *args, **kwargs)

    @staticmethod
    def _sequence_shape(input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (tuple, list)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        if len(shape) != 3:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected ndim=3, "
                             f"found ndim={len(shape)}. Full shape received: {shape}")
        if shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} needs a known feature dimension, got input shape {shape}")
        g, u = self._gates, self.units
        self.kernel = self.add_weight("kernel", (shape[-1], g * u), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (u, g * u), self.recurrent_initializer,
                                                self.recurrent_regularizer, self.recurrent_constraint)
        self.bias = self._build_bias() if self.use_bias else None
        self.built = True

    def _build_bias(self):
        return self.add_weight("bias", (self._gates * self.units,), self.bias_initializer, self.bias_regularizer,
                               self.bias_constraint)

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        out = (shape[0], shape[1], self.units) if self.return_sequences else (shape[0], self.units)
        if self.return_state:
            return [out] + [(shape[0], self.units)] * self._state_count
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._state_count
        return out

    # --------------------------------------------------------- input bias
    def _input_bias(self):
        return self.bias.value if self.bias is not None else None

    def _add_input_bias_grad(self, g):
        self.bias.add_grad(g)

    # ------------------------------------------------------------ dropout
    def _drop_mask(self, xp, shape, rate, dtype):
        keep = self._rng.random(shape, dtype=np.float32) >= rate
        return xp.asarray(keep.astype(np.float32) / np.float32(1.0 - rate), dtype=dtype)

    def _dropout_masks(self, training, xp, n, in_dim, dtype):
        """(input masks, recurrent masks): each None, one shared array, or a list with one per gate."""
        if not training:
            return None, None
        per_gate = self.recurrent_dropout > 0 and self._gates > 1
        count = self._gates if per_gate else 1
        in_masks = rec_masks = None
        if 0 < self.dropout < 1:
            in_masks = [self._drop_mask(xp, (n, in_dim), self.dropout, dtype) for _ in range(count)]
            in_masks = in_masks if per_gate else in_masks[0]
        if 0 < self.recurrent_dropout < 1:
            rec_masks = [self._drop_mask(xp, (n, self.units), self.recurrent_dropout, dtype) for _ in range(count)]
            if not per_gate:
                rec_masks = rec_masks * self._gates
        return in_masks, rec_masks

    # --------------------------------------------------- input projection
    def _project(self, xs, in_masks):
        """(T, N, F) inputs -> (T, N, gates*units) pre-activations from the kernel and input bias."""
        xp = backend.array_module(xs)
        t, n, f = xs.shape
        gu = self._gates * self.units
        kernel = self.kernel.value
        bias = self._input_bias()
        per_gate = isinstance(in_masks, list)
        if per_gate:
            u = self.units
            x2s = [(xs * m).reshape(t * n, f) for m in in_masks]
            z = xp.concatenate([gemm.matmul(x2, kernel[:, g * u:(g + 1) * u]) for g, x2 in enumerate(x2s)], axis=1)
        else:
            x2 = (xs * in_masks if in_masks is not None else xs).reshape(t * n, f)
            z = gemm.matmul(x2, kernel)
        if bias is not None:
            z += bias

        def backprop(dz, need_dx=True):
            dz2 = dz.reshape(t * n, gu)
            if bias is not None:
                self._add_input_bias_grad(dz2.sum(axis=0))
            if per_gate:
                u = self.units
                dk = xp.concatenate([gemm.matmul(x2.T, dz2[:, g * u:(g + 1) * u]) for g, x2 in enumerate(x2s)], axis=1)
                self.kernel.add_grad(dk)
                if not need_dx:
                    return None
                dx = 0.0
                for g, m in enumerate(in_masks):
                    dzg = dz2[:, g * u:(g + 1) * u]
                    dx = dx + gemm.matmul(dzg, kernel[:, g * u:(g + 1) * u].T).reshape(t, n, f) * m
                return dx
            self.kernel.add_grad(gemm.matmul(x2.T, dz2))
            if not need_dx:
                return None
            dx = gemm.matmul(dz2, kernel.T).reshape(t, n, f)
            return dx * in_masks if in_masks is not None else dx

        return z.reshape(t, n, gu), backprop

    # ---------------------------------------------------------- the loop
    def _split_inputs(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
            if len(states) != self._state_count:
                raise ValueError(f"Layer {self.name!r} expects {self._state_count} initial state(s), "
                                 f"but it received {len(states)} initial state(s).")
            return x, states, mask
        return inputs, None, mask

    def forward(self, inputs, training=False, mask=None, need_input_grad=True):
        x, given_states, mask = self._split_inputs(inputs, mask)
        if x.ndim != 3:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected ndim=3, "
                             f"found ndim={x.ndim}. Full shape received: {tuple(x.shape)}")
        xp = backend.array_module(x)
        n, t_steps, in_dim = x.shape
        dtype = x.dtype
        u = self.units
        states = ([xp.asarray(s, dtype=dtype) for s in given_states] if given_states is not None
                  else [xp.zeros((n, u), dtype=dtype) for _ in range(self._state_count)])
        xs = x.transpose(1, 0, 2)
        m = None if mask is None else xp.asarray(mask).astype(bool).T[:, :, None]
        if self.go_backwards:
            xs = xs[::-1]
            m = None if m is None else m[::-1]
        in_masks, rec_masks = self._dropout_masks(training, xp, n, in_dim, dtype)
        xz, project_bp = self._project(xs, in_masks)
        outputs = xp.empty((t_steps, n, u), dtype=dtype)
        caches = []
        for t in range(t_steps):
            new_states, cache = self._step(xz[t], states, rec_masks)
            h = new_states[0]
            if m is not None:
                mt = m[t]
                prev = xp.zeros_like(h) if self.zero_output_for_mask else states[0]
                outputs[t] = xp.where(mt, h, prev)
                new_states = [xp.where(mt, ns, s) for ns, s in zip(new_states, states)]
            else:
                outputs[t] = h
            caches.append(cache)
            states = new_states
        final_states = states
        y = outputs.transpose(1, 0, 2) if self.return_sequences else outputs[-1]
        result = [y] + list(final_states) if self.return_state else y
        mf = None if m is None else m.astype(dtype)

        def backprop(d):
            if self.return_state:
                dy, d_final = d[0], list(d[1:])
            else:
                dy, d_final = d, [None] * self._state_count
            dstates = [xp.zeros((n, u), dtype=dtype) if ds is None else ds for ds in d_final]
            douts = dy.transpose(1, 0, 2) if self.return_sequences else None
            dxz = xp.empty_like(xz)
            dweights = self._grad_buffers(xp, dtype)
            for t in reversed(range(t_steps)):
                if self.return_sequences:
                    do = douts[t]
                else:
                    do = dy if t == t_steps - 1 else None
                if mf is not None:
                    mt = mf[t]
                    d_new = [mt * (dstates[0] + do if do is not None else dstates[0])]
                    d_new += [mt * ds for ds in dstates[1:]]
                    passthrough = [(1.0 - mt) * ds for ds in dstates]
                    if do is not None and not self.zero_output_for_mask:
                        passthrough[0] = passthrough[0] + (1.0 - mt) * do
                else:
                    d_new = [dstates[0] + do if do is not None else dstates[0]] + dstates[1:]
                    passthrough = None
                dxz[t], d_prev = self._step_backward(d_new, caches[t], rec_masks, dweights)
                dstates = d_prev if passthrough is None else [a + b for a, b in zip(d_prev, passthrough)]
            self._apply_grad_buffers(dweights)
            dxs = project_bp(dxz, need_input_grad)
            if not need_input_grad:
                return None if given_states is None else [None] * (1 + len(given_states))
            if self.go_backwards:
                dxs = dxs[::-1]
            dx = dxs.transpose(1, 0, 2)
            if given_states is not None:
                return [dx] + list(dstates)
            return dx

        return result, backprop

    def _grad_buffers(self, xp, dtype):
        return {"recurrent_kernel": xp.zeros(self.recurrent_kernel.shape, dtype=dtype)}

    def _apply_grad_buffers(self, buffers):
        self.recurrent_kernel.add_grad(buffers["recurrent_kernel"])

    # --------------------------------------------------------------- config
    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask, "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


@register
class SimpleRNN(_RNN):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    _gates = 1
    _state_count = 1

    def _step(self, xz, states, rec_masks):
        h_prev = states[0]
        h_in = h_prev * rec_masks[0] if rec_masks is not None else h_prev
        h, act_bp = self.activation.forward(xz + gemm.matmul(h_in, self.recurrent_kernel.value))
        return [h], (h_in, act_bp)

    def get_config(self):
        config = super().get_config()
        config.pop("seed")
        return config

    def _step_backward(self, d_new, cache, rec_masks, buffers):
        h_in, act_bp = cache
        dz = act_bp(d_new[0])
        buffers["recurrent_kernel"] += gemm.matmul(h_in.T, dz)
        dh = gemm.matmul(dz, self.recurrent_kernel.value.T)
        if rec_masks is not None:
            dh = dh * rec_masks[0]
        return dz, [dh]


@register
class LSTM(_RNN):
    """Long short-term memory: states [h, c]; gates i, f, c, o in the kernels' column blocks."""

    _gates = 4
    _state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _build_bias(self):
        bias = super()._build_bias()
        if self.unit_forget_bias:
            u = self.units
            value = bias.numpy()
            value[u:2 * u] = 1.0
            value[:u] = np.asarray(self.bias_initializer((u,), dtype=self.dtype))
            value[2 * u:] = np.asarray(self.bias_initializer((2 * u,), dtype=self.dtype))
            bias.assign(value)
        return bias

    # ------------------------------------------------------------ fast path
    def _uses_fast_path(self, x, training, mask):
        """Whether :meth:`_fast_forward` computes this call: NumPy float32 / float64, tanh / sigmoid, no mask
        or dropout."""
        act, rec = self.activation, self.recurrent_activation
        return (mask is None and isinstance(x, np.ndarray) and x.ndim == 3 and x.dtype == self.kernel.value.dtype
                and x.dtype in kernels.DTYPES
                and type(act) is activations.Activation and act.name == "tanh" and not act.kwargs
                and type(rec) is activations.Activation and rec.name == "sigmoid" and not rec.kwargs
                and not (training and (self.dropout > 0 or self.recurrent_dropout > 0)))

    def forward(self, inputs, training=False, mask=None, need_input_grad=True):
        x, given_states, seq_mask = self._split_inputs(inputs, mask)
        if not self._uses_fast_path(x, training, seq_mask):
            return super().forward(inputs, training=training, mask=mask, need_input_grad=need_input_grad)
        return self._fast_forward(x, given_states, True, need_input_grad)

    def call(self, inputs, training=False, mask=None):
        x, given_states, seq_mask = self._split_inputs(inputs, mask)
        if not self._uses_fast_path(x, training, seq_mask):
            return super().call(inputs, training=training, mask=mask)
        return self._fast_forward(x, given_states, False, False)[0]

    def _gate_blocks_of(self, weight):
        """:func:`_gate_blocks` of ``weight`` (the bias as one row), made once a predict / evaluate loop."""
        return weight_copies.copy(weight.value, "lstm gate blocks",
                                  lambda: _gate_blocks(weight.value.reshape(-1, 4 * self.units), self.units))

    def _fast_forward(self, x, given_states, need_backprop, need_input_grad):
        """:meth:`forward` on :func:`engine.recurrent_kernels.lstm_forward` (time-major, gate columns
        i, f, o, c); ``(outputs, backprop or None)``. Batches of 2 x ``_MIN_THREAD_ROWS`` rows or more
        run as row ranges side by side (:mod:`engine.threads`): the same outputs, and the weights'
        gradients summed over the ranges in order."""
        n, steps, f_in = x.shape
        u, dtype = self.units, x.dtype
        kb, rec_blocks = self._gate_blocks_of(self.kernel), self._gate_blocks_of(self.recurrent_kernel)
        b = np.zeros((4, u), dtype) if self.bias is None else self._gate_blocks_of(self.bias)[:, 0]
        x = x[:, ::-1] if self.go_backwards else x
        if given_states is None:
            h, c = np.zeros((n, u), dtype), np.zeros((n, u), dtype)
        else:
            h, c = (np.array(s, dtype=dtype, order="C") for s in given_states)
        ranges = threads.row_ranges(n, _MIN_THREAD_ROWS)
        parts = [_LstmRows(np.ascontiguousarray(x[start:stop].transpose(1, 0, 2)),  # (T, n, F)
                           h[start:stop], c[start:stop], need_backprop, self.return_sequences)
                 for start, stop in ranges]
        _side_by_side(recurrent_kernels.lstm_forward, recurrent_kernels.lstm_forward_ranges,
                      [p.forward_args(kb, b, rec_blocks) for p in parts])
        if self.return_sequences:
            y = np.concatenate([p.ys.transpose(1, 0, 2) for p in parts])
        else:
            y = h.copy()
        result = [y, h.copy(), c] if self.return_state else y
        if not need_backprop:
            return result, None

        def backprop(d):
            dy, d_final = (d[0], d[1:]) if self.return_state else (d, [None, None])
            dh, dc = (np.zeros((n, u), dtype) if ds is None else np.array(ds, dtype=dtype, order="C")
                      for ds in d_final)
            dy_seq = None
            if self.return_sequences:
                dy_seq = dy.transpose(1, 0, 2)
            else:
                dh += dy
            kb_t = np.ascontiguousarray(kb.transpose(0, 2, 1))
            rk_t = np.ascontiguousarray(rec_blocks.transpose(0, 2, 1))
            _side_by_side(recurrent_kernels.lstm_backward, recurrent_kernels.lstm_backward_ranges, [p.backward_args(
                kb_t, rk_t, np.empty((0, stop - start, u), dtype) if dy_seq is None
                else np.ascontiguousarray(dy_seq[:, start:stop], dtype=dtype),
                dh[start:stop], dc[start:stop], need_input_grad) for p, (start, stop) in zip(parts, ranges)])
            grads = [p.grads for p in parts]
            dkb, drk, db = (g.copy() for g in grads[0][1:])
            for _, more_dkb, more_drk, more_db in grads[1:]:
                dkb += more_dkb
                drk += more_drk
                db += more_db
            self.kernel.add_grad(_keras_columns(dkb))
            self.recurrent_kernel.add_grad(_keras_columns(drk))
            if self.bias is not None:
                self.bias.add_grad(_keras_columns(db[:, None, :])[0])
            dx = None
            if need_input_grad:
                dx = np.concatenate([(g[0][::-1] if self.go_backwards else g[0]).transpose(1, 0, 2) for g in grads])
            if given_states is None:
                return dx
            return [dx, dh, dc] if need_input_grad else [None] * (1 + len(given_states))

        return result, backprop

    # -------------------------------------------------------- generic step
    def _step(self, xz, states, rec_masks):
        h_prev, c_prev = states
        u = self.units
        z = xz + _rec_forward(h_prev, self.recurrent_kernel.value, rec_masks, u, (0, 1, 2, 3))
        ra, act = self.recurrent_activation, self.activation
        gates, b_gates = ra.forward(z)  # i, f and o used; the c block's column goes through `activation`
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        g, bg = act.forward(z[:, 2 * u:3 * u])
        c = f * c_prev + i * g
        ac, bac = act.forward(c)
        h = o * ac
        return [h, c], (h_prev, c_prev, i, f, g, o, ac, b_gates, bg, bac)

    def _step_backward(self, d_new, cache, rec_masks, buffers):
        dh, dc_next = d_new
        h_prev, c_prev, i, f, g, o, ac, b_gates, bg, bac = cache
        xp = backend.array_module(dh)
        u = self.units
        dc = dc_next + bac(dh * o)
        dz = b_gates(xp.concatenate([dc * g, dc * c_prev, xp.zeros_like(dc), dh * ac], axis=1))
        dz[:, 2 * u:3 * u] = bg(dc * i)
        dh_prev = _rec_backward(dz, h_prev, self.recurrent_kernel.value, rec_masks, self.units, (0, 1, 2, 3),
                                buffers["recurrent_kernel"])
        return dz, [dh_prev, dc * f]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_RNN):
    """Gated recurrent unit: gates z, r, h; ``reset_after`` applies the reset gate after the
    recurrent product (bias ``(2, 3 * units)``) or before it (bias ``(3 * units,)``)."""

    _gates = 3
    _state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _build_bias(self):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self.add_weight("bias", shape, self.bias_initializer, self.bias_regularizer, self.bias_constraint)

    def _input_bias(self):
        if self.bias is None:
            return None
        return self.bias.value[0] if self.reset_after else self.bias.value

    def _add_input_bias_grad(self, g):
        if self.reset_after:
            xp = backend.array_module(g)
            self.bias.add_grad(xp.stack([g, xp.zeros_like(g)]))
        else:
            self.bias.add_grad(g)

    def _grad_buffers(self, xp, dtype):
        buffers = super()._grad_buffers(xp, dtype)
        if self.reset_after and self.bias is not None:
            buffers["recurrent_bias"] = xp.zeros((3 * self.units,), dtype=dtype)
        return buffers

    def _apply_grad_buffers(self, buffers):
        super()._apply_grad_buffers(buffers)
        if "recurrent_bias" in buffers:
            xp = backend.array_module(buffers["recurrent_bias"])
            rb = buffers["recurrent_bias"]
            self.bias.add_grad(xp.stack([xp.zeros_like(rb), rb]))

    def _step(self, xz, states, rec_masks):
        h_prev = states[0]
        u = self.units
        rk = self.recurrent_kernel.value
        ra, act = self.recurrent_activation, self.activation
        if self.reset_after:
            rec = _rec_forward(h_prev, rk, rec_masks, u, (0, 1, 2))
            if self.bias is not None:
                rec = rec + self.bias.value[1]
            zr, b_zr = ra.forward(xz[:, :2 * u] + rec[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            rec_h = rec[:, 2 * u:]
            hh, bh = act.forward(xz[:, 2 * u:] + r * rec_h)
            cache = (h_prev, z, r, hh, b_zr, bh, rec_h)
        else:
            rec = _rec_forward(h_prev, rk, rec_masks, u, (0, 1))
            zr, b_zr = ra.forward(xz[:, :2 * u] + rec)
            z, r = zr[:, :u], zr[:, u:]
            h_in = h_prev * rec_masks[2] if rec_masks is not None else h_prev
            rh = r * h_in
            hh, bh = act.forward(xz[:, 2 * u:] + gemm.matmul(rh, rk[:, 2 * u:]))
            cache = (h_prev, z, r, hh, b_zr, bh, (h_in, rh))
        h = z * h_prev + (1.0 - z) * hh
        return [h], cache

    def _step_backward(self, d_new, cache, rec_masks, buffers):
        dh = d_new[0]
        h_prev, z, r, hh, b_zr, bh, extra = cache
        xp = backend.array_module(dh)
        u = self.units
        rk = self.recurrent_kernel.value
        dpre_h = bh(dh * (1.0 - z))
        dh_prev = dh * z
        d_rk = buffers["recurrent_kernel"]
        if self.reset_after:
            rec_h = extra
            dpre_zr = b_zr(xp.concatenate([dh * (h_prev - hh), dpre_h * rec_h], axis=1))
            drec = xp.concatenate([dpre_zr, dpre_h * r], axis=1)
            if "recurrent_bias" in buffers:
                buffers["recurrent_bias"] += drec.sum(axis=0)
            dh_prev = dh_prev + _rec_backward(drec, h_prev, rk, rec_masks, u, (0, 1, 2), d_rk)
        else:
            h_in, rh = extra
            d_rk[:, 2 * u:] += gemm.matmul(rh.T, dpre_h)
            d_rh = gemm.matmul(dpre_h, rk[:, 2 * u:].T)
            dpre_zr = b_zr(xp.concatenate([dh * (h_prev - hh), d_rh * h_in], axis=1))
            d_hin = d_rh * r
            dh_prev = dh_prev + (d_hin * rec_masks[2] if rec_masks is not None else d_hin)
            dh_prev = dh_prev + _rec_backward(dpre_zr, h_prev, rk, rec_masks, u, (0, 1), d_rk)
        return xp.concatenate([dpre_zr, dpre_h], axis=1), [dh_prev]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}
