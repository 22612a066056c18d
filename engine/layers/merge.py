"""Merge layers over a list of inputs: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot, and their functional forms (``add([a, b])``, ...)."""
from __future__ import annotations

from engine import backend
from engine.layers.base import Layer
from engine.saving.layer_registry import register


def _unbroadcast(grad, shape):
    """Sums ``grad`` down to ``shape`` (undoing NumPy broadcasting)."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _broadcast_shape(shapes, layer_name):
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ValueError(
                f"Inputs to layer {layer_name!r} have incompatible shapes: {[tuple(s) for s in shapes]}"
            )
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Elementwise merge of two or more inputs of the same (broadcastable) shape."""

    supports_masking = True
    _min_inputs = 2

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self._min_inputs:
            raise ValueError(
                f"A merge layer ({type(self).__name__} {self.name!r}) should be called on a list of at least "
                f"{self._min_inputs} inputs. Received: {inputs!r}"
            )

    def build(self, input_shape):
        self._check(input_shape)
        _broadcast_shape(input_shape, self.name)
        self.built = True

    def compute_output_shape(self, input_shape):
        return _broadcast_shape(input_shape, self.name)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out

    def call(self, inputs, training=False, mask=None):
        self._check(inputs)
        return self._merge(inputs)

    def forward(self, inputs, training=False, mask=None):
        self._check(inputs)
        out = self._merge(inputs)
        shapes = [x.shape for x in inputs]

        def backprop(d):
            return [_unbroadcast(g, s) for g, s in zip(self._grads(inputs, out, d), shapes)]

        return out, backprop


@register
class Add(_Merge):
    """Sum of the inputs."""

    def _merge(self, inputs):
        out = inputs[0] + inputs[1]
        for x in inputs[2:]:
            out = out + x
        return out

    def _grads(self, inputs, out, d):
        return [d] * len(inputs)


@register
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"A `Subtract` layer ({self.name!r}) should be called on exactly 2 inputs. Received: {inputs!r}")

    def _merge(self, inputs):
        return inputs[0] - inputs[1]

    def _grads(self, inputs, out, d):
        return [d, -d]


@register
class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def _merge(self, inputs):
        out = inputs[0] * inputs[1]
        for x in inputs[2:]:
            out = out * x
        return out

    def _grads(self, inputs, out, d):
        grads = []
        for i in range(len(inputs)):
            g = d
            for j, x in enumerate(inputs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


@register
class Average(_Merge):
    """Mean of the inputs."""

    def _merge(self, inputs):
        return Add._merge(self, inputs) / len(inputs)

    def _grads(self, inputs, out, d):
        return [d / len(inputs)] * len(inputs)


class _Extremum(_Merge):
    _pick = None

    def _merge(self, inputs):
        xp = backend.array_module(*inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = getattr(xp, self._pick)(out, x)
        return out

    def _grads(self, inputs, out, d):
        # The first input that attains the extremum gets the gradient (as JAX's max/min do pairwise).
        xp = backend.array_module(d)
        taken = xp.zeros(out.shape, dtype=bool)
        grads = []
        for x in inputs:
            hit = (x == out) & ~taken
            taken = taken | hit
            grads.append(xp.where(hit, d, 0).astype(d.dtype))
        return grads


@register
class Maximum(_Extremum):
    """Elementwise maximum of the inputs."""

    _pick = "maximum"


@register
class Minimum(_Extremum):
    """Elementwise minimum of the inputs."""

    _pick = "minimum"


@register
class Concatenate(_Merge):
    """Concatenates the inputs along ``axis`` (default -1)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape):
        self._check(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_mask(self, inputs, mask=None):
        """Keras's rule: masks broadcast to their inputs (missing ones all True), concatenated along
        ``axis``, then any() over the last axis."""
        if mask is None or all(m is None for m in mask):
            return None
        xp = backend.array_module(*inputs)
        full = []
        for x, m in zip(inputs, mask):
            if m is None:
                full.append(xp.ones(x.shape, dtype=bool))
            elif m.ndim < x.ndim:
                full.append(xp.broadcast_to(xp.asarray(m, dtype=bool)[..., None], x.shape))
            else:
                full.append(xp.asarray(m, dtype=bool))
        return xp.concatenate(full, axis=self.axis).any(axis=-1)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape[0])
        axis = self.axis % rank
        out = list(input_shape[0])
        for s in input_shape[1:]:
            if len(s) != rank or any(
                i != axis and a is not None and b is not None and a != b for i, (a, b) in enumerate(zip(out, s))
            ):
                raise ValueError(
                    f"A `Concatenate` layer ({self.name!r}) requires inputs with matching shapes except for the "
                    f"concatenation axis. Received: input_shape={[tuple(x) for x in input_shape]}"
                )
            out[axis] = None if out[axis] is None or s[axis] is None else out[axis] + s[axis]
            out = [b if (i != axis and a is None) else a for i, (a, b) in enumerate(zip(out, s))]
        return tuple(out)

    def _merge(self, inputs):
        xp = backend.array_module(*inputs)
        return xp.concatenate(inputs, axis=self.axis)

    def forward(self, inputs, training=False, mask=None):
        self._check(inputs)
        out = self._merge(inputs)
        xp = backend.array_module(out)
        sizes = [x.shape[self.axis] for x in inputs]
        cuts = list(xp.cumsum(xp.asarray(sizes))[:-1].tolist()) if len(sizes) > 1 else []
        return out, lambda d: xp.split(d, cuts, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@register
class Dot(_Merge):
    """Dot product of two inputs along ``axes`` (optionally L2-normalized first: cosine proximity)."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [int(a) for a in axes] if isinstance(axes, (list, tuple)) else [int(axes)] * 2
        self.normalize = bool(normalize)

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"A `Dot` layer ({self.name!r}) should be called on exactly 2 inputs. Received: {inputs!r}")

    def _norm_axes(self, shapes):
        return [a % len(s) for a, s in zip(self.axes, shapes)]

    def build(self, input_shape):
        self._check(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        a, b = input_shape
        ax, bx = self._norm_axes(input_shape)
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ValueError(
                f"Incompatible input shapes for layer {self.name!r}: axis values {a[ax]} (at axis {ax}) != "
                f"{b[bx]} (at axis {bx}). Full input shapes: {tuple(a)}, {tuple(b)}"
            )
        out = list(a[:ax]) + list(a[ax + 1:]) + list(b[1:bx]) + list(b[bx + 1:])
        if len(out) == 1:
            out.append(1)
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        return None

    def _l2(self, x, axis):
        xp = backend.array_module(x)
        sq = xp.sum(x * x, axis=axis, keepdims=True)
        inv = 1.0 / xp.sqrt(xp.maximum(sq, 1e-12))
        return x * inv, inv, sq

    def _contract(self, a, b, ax, bx):
        xp = backend.array_module(a, b)
        # batched tensordot: move contraction axes last / first after batch.
        a2 = xp.moveaxis(a, ax, -1)
        b2 = xp.moveaxis(b, bx, 1)
        a_rest, b_rest = a2.shape[1:-1], b2.shape[2:]
        am = a2.reshape(a2.shape[0], -1, a2.shape[-1])
        bm = b2.reshape(b2.shape[0], b2.shape[1], -1)
        out = am @ bm
        out = out.reshape((a.shape[0],) + tuple(a_rest) + tuple(b_rest))
        if out.ndim == 1:
            out = out[:, None]
        return out, am, bm, a2.shape, b2.shape

    def _merge(self, inputs):
        a, b = inputs
        ax, bx = self._norm_axes([a.shape, b.shape])
        if self.normalize:
            a, b = self._l2(a, ax)[0], self._l2(b, bx)[0]
        return self._contract(a, b, ax, bx)[0]

    def forward(self, inputs, training=False, mask=None):
        self._check(inputs)
        xp = backend.array_module(*inputs)
        a0, b0 = inputs
        ax, bx = self._norm_axes([a0.shape, b0.shape])
        if self.normalize:
            a, a_inv, _ = self._l2(a0, ax)
            b, b_inv, _ = self._l2(b0, bx)
        else:
            a, b = a0, b0
        out, am, bm, a2_shape, b2_shape = self._contract(a, b, ax, bx)

        def backprop(d):
            dm = d.reshape(am.shape[0], am.shape[1], bm.shape[2])
            da = (dm @ bm.transpose(0, 2, 1)).reshape(a2_shape)
            db = (am.transpose(0, 2, 1) @ dm).reshape(b2_shape)
            da = xp.moveaxis(da, -1, ax)
            db = xp.moveaxis(db, 1, bx)
            if self.normalize:
                da = a_inv * (da - a * xp.sum(da * a, axis=ax, keepdims=True))
                db = b_inv * (db - b * xp.sum(db * b, axis=bx, keepdims=True))
            return [da, db]

        return out, backprop

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
