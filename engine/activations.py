"""Keras 3 activations, each with its exact derivative.

``get("relu")`` returns an :class:`Activation`: calling it gives ``y``;
``forward(x)`` gives ``(y, backprop)`` where ``backprop(dy) -> dx`` (same shape
as ``x``). Element-wise activations work on any shape; ``softmax``,
``log_softmax``, ``glu`` and ``sparsemax`` act along ``axis`` (default -1).
Arrays may be NumPy or CuPy; the dtype of ``x`` is kept (float32 in models).

Module-level functions (``relu(x, negative_slope=0.0, ...)``, ``softmax(x,
axis=-1)``, ...) mirror ``keras.activations`` and return ``y`` only.
"""
from __future__ import annotations

import math

from engine import backend, kernels

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------- math helpers
def _xp(x):
    return backend.array_module(x)


def _asarray(x):
    xp = _xp(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(backend.floatx())
    return x


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow, in the dtype of ``x``."""
    xp = _xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _softplus(x):
    """log(1 + exp(x)) as ``logaddexp(x, 0)``."""
    xp = _xp(x)
    return (xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)


def _erfc(z):
    """Complementary error function with relative error below 2e-7 everywhere.

    Chebyshev fit of Numerical Recipes (``erfcc``), evaluated in float64 and
    returned in the dtype of ``z``; relative accuracy also in the far tail,
    which is what ``gelu`` needs for negative inputs.
    """
    xp = _xp(z)
    dtype = z.dtype
    z = z.astype(xp.float64)
    a = xp.abs(z)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    r = t * xp.exp(poly)
    return xp.where(z >= 0, r, 2.0 - r).astype(dtype, copy=False)


def _axis_sum(a, axis):
    return _xp(a).sum(a, axis=axis, keepdims=True)


# ------------------------------------------------------- forward/backprop pairs
def _relu_forward(x, negative_slope=0.0, max_value=None, threshold=0.0):
    xp = _xp(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return _leaky_relu_forward(x, negative_slope)
    passed = x > threshold
    if max_value is not None:
        passed = passed & (x > 0) & (x < max_value)
        y = xp.clip(xp.where(x > threshold, x, 0), 0, max_value)
    elif threshold == 0:
        # where(x > 0, x, 0) without a data-dependent branch per element: fmax maps NaN to 0
        # and adding +0 turns -0 into +0, so the result is bit for bit the same, 10x faster.
        y = xp.fmax(x, 0)
        y += 0
    else:
        y = xp.where(passed, x, 0)
    if negative_slope == 0.0:
        return y.astype(x.dtype, copy=False), lambda dy: dy * passed
    below = x < threshold
    y = (y - negative_slope * xp.where(below, threshold - x, 0)).astype(x.dtype, copy=False)

    def backprop(dy):
        return dy * (passed.astype(x.dtype) + negative_slope * below.astype(x.dtype))

    return y, backprop


def _leaky_relu_forward(x, negative_slope=0.2):
    xp = _xp(x)
    pos = x >= 0
    y = xp.where(pos, x, negative_slope * x).astype(x.dtype, copy=False)
    return y, lambda dy: xp.where(pos, dy, negative_slope * dy).astype(dy.dtype, copy=False)


def _relu6_forward(x):
    xp = _xp(x)
    y = xp.minimum(xp.maximum(x, 0), 6).astype(x.dtype, copy=False)
    inside = (x > 0) & (x < 6)
    return y, lambda dy: xp.where(inside, dy, 0).astype(dy.dtype, copy=False)


def _elu_forward(x, alpha=1.0):
    xp = _xp(x)
    pos = x > 0
    y = xp.where(pos, x, alpha * xp.expm1(xp.where(pos, 0, x))).astype(x.dtype, copy=False)
    return y, lambda dy: dy * xp.where(pos, 1, y + alpha).astype(x.dtype, copy=False)


def _selu_forward(x):
    y, elu_bp = _elu_forward(x, _SELU_ALPHA)
    return (_SELU_SCALE * y).astype(x.dtype, copy=False), lambda dy: _SELU_SCALE * elu_bp(dy)


def _celu_forward(x, alpha=1.0):
    xp = _xp(x)
    pos = x > 0
    e = xp.exp(xp.where(pos, 0, x) / alpha)
    y = xp.where(pos, x, alpha * (e - 1)).astype(x.dtype, copy=False)
    return y, lambda dy: dy * xp.where(pos, 1, e).astype(x.dtype, copy=False)


def _sigmoid_forward(x):
    y = _sigmoid(x)
    return y, lambda dy: dy * (y * (1 - y))


def _log_sigmoid_forward(x):
    y = -_softplus(-x)
    return y, lambda dy: dy * _sigmoid(-x)


def _hard_sigmoid_forward(x):
    xp = _xp(x)
    y = (xp.minimum(xp.maximum(x + 3, 0), 6) / 6).astype(x.dtype, copy=False)
    inside = (x > -3) & (x < 3)
    return y, lambda dy: xp.where(inside, dy / 6, 0).astype(dy.dtype, copy=False)


def _keras2_hard_sigmoid_forward(x):
    """Keras 2's hard_sigmoid: ``clip(0.2 x + 0.5, 0, 1)`` (Keras 3's is ``relu6(x + 3) / 6``)."""
    xp = _xp(x)
    y = xp.clip(x * 0.2 + 0.5, 0, 1).astype(x.dtype, copy=False)
    inside = (x > -2.5) & (x < 2.5)
    return y, lambda dy: xp.where(inside, dy * 0.2, 0).astype(dy.dtype, copy=False)


def _hard_silu_forward(x):
    xp = _xp(x)
    hs = (xp.minimum(xp.maximum(x + 3, 0), 6) / 6).astype(x.dtype, copy=False)
    inside = (x > -3) & (x < 3)

    def backprop(dy):
        return dy * (hs + xp.where(inside, x / 6, 0)).astype(x.dtype, copy=False)

    return (x * hs).astype(x.dtype, copy=False), backprop


def _silu_forward(x):
    s = _sigmoid(x)
    return x * s, lambda dy: dy * (s * (1 + x * (1 - s)))


def _gelu_forward(x, approximate=False):
    xp = _xp(x)
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
        t = xp.tanh(inner)
        cdf = 0.5 * (1.0 + t)
        y = (x * cdf).astype(x.dtype, copy=False)

        def backprop(dy):
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return dy * (cdf + 0.5 * x * ((1 + t) * (1 - t)) * d_inner).astype(x.dtype, copy=False)

        return y, backprop
    cdf = (0.5 * _erfc(-x * _SQRT_HALF)).astype(x.dtype, copy=False)
    y = x * cdf

    def backprop(dy):
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
        return dy * (cdf + x * pdf).astype(x.dtype, copy=False)

    return y, backprop


def _tanh_forward(x):
    y = _xp(x).tanh(x)
    return y, lambda dy: dy * ((1 + y) * (1 - y))


def _tanh_shrink_forward(x):
    t = _xp(x).tanh(x)
    return x - t, lambda dy: dy * (t * t)


def _hard_tanh_forward(x):
    xp = _xp(x)
    inside = (x >= -1) & (x <= 1)
    y = xp.clip(x, -1, 1).astype(x.dtype, copy=False)
    return y, lambda dy: xp.where(inside, dy, 0).astype(dy.dtype, copy=False)


def _hard_shrink_forward(x, threshold=0.5):
    xp = _xp(x)
    keep = xp.abs(x) > threshold
    return xp.where(keep, x, 0).astype(x.dtype, copy=False), lambda dy: xp.where(keep, dy, 0).astype(dy.dtype, copy=False)


def _soft_shrink_forward(x, threshold=0.5):
    xp = _xp(x)
    y = xp.where(x > threshold, x - threshold, xp.where(x < -threshold, x + threshold, 0))
    keep = xp.abs(x) > threshold
    return y.astype(x.dtype, copy=False), lambda dy: xp.where(keep, dy, 0).astype(dy.dtype, copy=False)


def _threshold_forward(x, threshold, default_value):
    xp = _xp(x)
    keep = x > threshold
    y = xp.where(keep, x, default_value).astype(x.dtype, copy=False)
    return y, lambda dy: xp.where(keep, dy, 0).astype(dy.dtype, copy=False)


def _softplus_forward(x):
    return _softplus(x), lambda dy: dy * _sigmoid(x)


def _softsign_forward(x):
    xp = _xp(x)
    d = 1 + xp.abs(x)
    return x / d, lambda dy: dy / (d * d)


def _sparse_plus_forward(x):
    xp = _xp(x)
    mid = (x > -1) & (x < 1)
    y = xp.where(x <= -1, 0, xp.where(x >= 1, x, 0.25 * (x + 1) ** 2)).astype(x.dtype, copy=False)
    slope = xp.where(x <= -1, 0, xp.where(mid, 0.5 * (x + 1), 1)).astype(x.dtype, copy=False)
    return y, lambda dy: dy * slope


def _sparse_sigmoid_forward(x):
    xp = _xp(x)
    mid = (x > -1) & (x < 1)
    y = xp.where(x <= -1, 0, xp.where(x >= 1, 1, 0.5 * (x + 1))).astype(x.dtype, copy=False)
    return y, lambda dy: xp.where(mid, 0.5 * dy, 0).astype(dy.dtype, copy=False)


def _squareplus_forward(x, b=4):
    xp = _xp(x)
    r = xp.sqrt(x * x + b)
    return ((x + r) / 2).astype(x.dtype, copy=False), lambda dy: dy * (0.5 * (1 + x / r)).astype(x.dtype, copy=False)


def _exponential_forward(x):
    y = _xp(x).exp(x)
    return y, lambda dy: dy * y


def _linear_forward(x):
    return x, lambda dy: dy


def _mish_forward(x):
    xp = _xp(x)
    t = xp.tanh(_softplus(x))
    y = x * t

    def backprop(dy):
        return dy * (t + x * ((1 + t) * (1 - t)) * _sigmoid(x))

    return y, backprop


def _softmax_forward(x, axis=-1):
    xp = _xp(x)
    if axis in (-1, x.ndim - 1) and kernels.fusable(x):
        y = kernels.softmax_last_axis_in_place(x.copy())
    else:
        y = x - x.max(axis=axis, keepdims=True)
        xp.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)

    def backprop(dy):
        return y * (dy - (dy * y).sum(axis=axis, keepdims=True))

    return y, backprop


def _log_softmax_forward(x, axis=-1):
    xp = _xp(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    y = shifted - xp.log(_axis_sum(xp.exp(shifted), axis))

    def backprop(dy):
        return dy - xp.exp(y) * _axis_sum(dy, axis)

    return y, backprop


def _glu_forward(x, axis=-1):
    xp = _xp(x)
    if x.shape[axis] % 2:
        raise ValueError(
            f"glu expects an even size along axis {axis}; received shape {tuple(x.shape)}"
        )
    a, b = xp.split(x, 2, axis=axis)
    s = _sigmoid(b)

    def backprop(dy):
        return xp.concatenate([dy * s, dy * a * s * (1 - s)], axis=axis)

    return a * s, backprop


def _sparsemax_forward(x, axis=-1):
    """Keras 3's sparsemax formula, as its backends compute it.

    ``tau = (sum of the first k sorted cumulative sums - 1) / k``: Keras sums the
    cumulative sums over the support (outputs need not sum to 1); this follows it.
    """
    xp = _xp(x)
    z = xp.moveaxis(x, axis, -1)
    order = xp.argsort(-z, axis=-1, kind="stable")
    rank = xp.argsort(order, axis=-1, kind="stable")
    z_sorted = xp.take_along_axis(z, order, axis=-1)
    cumsum = xp.cumsum(z_sorted, axis=-1)
    r = xp.arange(1, z.shape[-1] + 1, dtype=x.dtype)
    support = z_sorted - (cumsum - 1) / r > 0
    k = support.sum(axis=-1, keepdims=True).astype(x.dtype)
    tau = (xp.where(support, cumsum, 0).sum(axis=-1, keepdims=True) - 1) / k
    y_last = xp.maximum(z - tau, 0).astype(x.dtype, copy=False)
    active = (y_last > 0).astype(x.dtype)
    # d tau / d z = (k - rank) / k for the k largest entries, 0 for the rest.
    dtau = xp.maximum(k - rank, 0).astype(x.dtype) / k

    def backprop(dy):
        g = xp.moveaxis(dy, axis, -1) * active
        dz = g - g.sum(axis=-1, keepdims=True) * dtau
        return xp.moveaxis(dz, -1, axis)

    return xp.moveaxis(y_last, -1, axis), backprop


_FORWARDS = {
    "relu": _relu_forward,
    "leaky_relu": _leaky_relu_forward,
    "relu6": _relu6_forward,
    "elu": _elu_forward,
    "selu": _selu_forward,
    "celu": _celu_forward,
    "sigmoid": _sigmoid_forward,
    "log_sigmoid": _log_sigmoid_forward,
    "hard_sigmoid": _hard_sigmoid_forward,
    "hard_silu": _hard_silu_forward,
    "silu": _silu_forward,
    "gelu": _gelu_forward,
    "tanh": _tanh_forward,
    "tanh_shrink": _tanh_shrink_forward,
    "hard_tanh": _hard_tanh_forward,
    "hard_shrink": _hard_shrink_forward,
    "soft_shrink": _soft_shrink_forward,
    "threshold": _threshold_forward,
    "softplus": _softplus_forward,
    "softsign": _softsign_forward,
    "sparse_plus": _sparse_plus_forward,
    "sparse_sigmoid": _sparse_sigmoid_forward,
    "squareplus": _squareplus_forward,
    "exponential": _exponential_forward,
    "linear": _linear_forward,
    "mish": _mish_forward,
    "softmax": _softmax_forward,
    "log_softmax": _log_softmax_forward,
    "glu": _glu_forward,
    "sparsemax": _sparsemax_forward,
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def _relu_in_place(z):
    kernels.relu_in_place(z)
    return z




# Inference forms that overwrite their argument, for activations called with their default
# arguments: the same operations as the forward functions, in the same order, without new arrays.
_IN_PLACE = {_relu_forward: _relu_in_place, _softmax_forward: kernels.softmax_last_axis_in_place, _linear_forward: lambda z: z}
# Functions Keras 2 defined differently under the same name, for models read from Keras 2 files.
_KERAS2_FORWARDS = {"hard_sigmoid": _keras2_hard_sigmoid_forward}


class Activation:
    """A named activation with its derivative.

    Args:
        name: a Keras activation name ("relu", "softmax", ...; "swish" and
            "hard_swish" are aliases of "silu" and "hard_silu").
        **kwargs: the keyword arguments of the Keras function
            (``negative_slope`` for relu, ``axis`` for softmax, ...).
    """

    keras_version = 3

    def __init__(self, name: str, **kwargs):
        name = _ALIASES.get(name, name)
        if name not in _FORWARDS:
            raise ValueError(f"Could not interpret activation function identifier: {name!r}")
        self.name = name
        self.kwargs = dict(kwargs)
        self._forward = _FORWARDS[name]

    def forward(self, x):
        """``x`` -> ``(y, backprop)`` with ``backprop(dy) -> dx``, all shaped like ``x``."""
        return self._forward(_asarray(x), **self.kwargs)

    def __call__(self, x):
        return self.forward(x)[0]

    @property
    def is_plain_relu(self) -> bool:
        """Whether this is a relu with its default arguments, the one the compiled passes compute."""
        return getattr(self, "_forward", None) is _relu_forward and not self.kwargs

    def _add_bias_owned(self, z, bias):
        """``z += bias`` (None: nothing) unless a relu with its default arguments will add it in its
        own pass (NumPy float32 / float64 ``z`` and ``bias``); whether the relu is to add it."""
        if bias is None:
            return False
        if (self.is_plain_relu and kernels.fusable(z) and kernels.fusable(bias) and bias.dtype == z.dtype
                and z.shape[-1:] == bias.shape):
            return True
        z += bias
        return False

    def call_owned(self, z, bias=None):
        """``self(z + bias)`` (``bias`` along the last axis, or None) for an array the caller made and
        hands over: where it can (relu, softmax and linear with their default arguments, on NumPy
        float32 / float64), ``z`` is overwritten instead of a new array being made, and a relu adds
        the bias in its own pass. The same bits as ``self(z + bias)``."""
        if self._add_bias_owned(z, bias):
            kernels.bias_relu_in_place(z, bias)
            return z
        in_place = _IN_PLACE.get(getattr(self, "_forward", None))
        if in_place is not None and not self.kwargs and kernels.fusable(z):
            return in_place(z)
        return self(z)

    def forward_owned(self, z, bias=None):
        """:meth:`forward` of ``z + bias`` (as :meth:`call_owned`) for an array the caller made and hands
        over: a relu with its default arguments overwrites ``z`` and keeps no mask (``y > 0`` exactly
        where ``z + bias > 0``), in one compiled pass each way on NumPy float32 / float64, the bias
        added in the same pass. The same bits as :meth:`forward`."""
        if self._add_bias_owned(z, bias):
            kernels.bias_relu_in_place(z, bias)
        elif not self.is_plain_relu:
            return self.forward(z)
        elif kernels.fusable(z):
            kernels.relu_in_place(z)
        else:
            xp = _xp(z)
            xp.fmax(z, 0, out=z)
            z += 0
            return z, lambda dy: dy * (z > 0)
        return z, lambda dy: kernels.relu_grad(dy, z) if kernels.fusable(dy, z) else dy * (z > 0)

    def get_config(self) -> dict:
        return dict(self.kwargs)

    def __eq__(self, other):
        return isinstance(other, Activation) and (self.name, self.kwargs, self.keras_version) == (
            other.name, other.kwargs, other.keras_version)

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.kwargs.items())), self.keras_version))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Activation({self.name!r}{args})"


class Keras2Activation(Activation):
    """An activation as Keras 2 defined it where Keras 3 changed the function behind the name.

    It serializes under the same name; :mod:`engine.saving.keras2` creates it for models read
    from Keras 2 files.
    """

    keras_version = 2

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        if self.name not in _KERAS2_FORWARDS:
            raise ValueError(f"Keras 2 and Keras 3 define {self.name!r} alike; use Activation({self.name!r})")
        self._forward = _KERAS2_FORWARDS[self.name]

    def __repr__(self) -> str:
        return "Keras2" + super().__repr__()


def keras2(identifier) -> Activation:
    """``get(identifier)``, with Keras 2's definition where Keras 2 and Keras 3 differ (hard_sigmoid)."""
    act = get(identifier)
    if type(act) is Activation and act.name in _KERAS2_FORWARDS:
        return Keras2Activation(act.name, **act.kwargs)
    return act


class _FunctionActivation(Activation):
    """A user's callable used as an activation: forward only, no derivative."""

    def __init__(self, fn):
        self.name = getattr(fn, "__name__", type(fn).__name__)
        self.kwargs = {}
        self.fn = fn

    def forward(self, x):
        y = self.fn(x)

        def backprop(dy):
            raise TypeError(
                f"Activation {self.name!r} is a plain callable with no derivative; "
                "training needs a Keras activation name or an object with forward(x) -> (y, backprop)"
            )

        return y, backprop


# ----------------------------------------------------- keras.activations.* API
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    return _relu_forward(_asarray(x), negative_slope, max_value, threshold)[0]


def leaky_relu(x, negative_slope=0.2):
    return _leaky_relu_forward(_asarray(x), negative_slope)[0]


def relu6(x):
    return _relu6_forward(_asarray(x))[0]


def elu(x, alpha=1.0):
    return _elu_forward(_asarray(x), alpha)[0]


def selu(x):
    return _selu_forward(_asarray(x))[0]


def celu(x, alpha=1.0):
    return _celu_forward(_asarray(x), alpha)[0]


def sigmoid(x):
    return _sigmoid_forward(_asarray(x))[0]


def log_sigmoid(x):
    return _log_sigmoid_forward(_asarray(x))[0]


def hard_sigmoid(x):
    return _hard_sigmoid_forward(_asarray(x))[0]


def hard_silu(x):
    return _hard_silu_forward(_asarray(x))[0]


def silu(x):
    return _silu_forward(_asarray(x))[0]


def gelu(x, approximate=False):
    return _gelu_forward(_asarray(x), approximate)[0]


def tanh(x):
    return _tanh_forward(_asarray(x))[0]


def tanh_shrink(x):
    return _tanh_shrink_forward(_asarray(x))[0]


def hard_tanh(x):
    return _hard_tanh_forward(_asarray(x))[0]


def hard_shrink(x, threshold=0.5):
    return _hard_shrink_forward(_asarray(x), threshold)[0]


def soft_shrink(x, threshold=0.5):
    return _soft_shrink_forward(_asarray(x), threshold)[0]


def threshold(x, threshold, default_value):
    return _threshold_forward(_asarray(x), threshold, default_value)[0]


def softplus(x):
    return _softplus_forward(_asarray(x))[0]


def softsign(x):
    return _softsign_forward(_asarray(x))[0]


def sparse_plus(x):
    return _sparse_plus_forward(_asarray(x))[0]


def sparse_sigmoid(x):
    return _sparse_sigmoid_forward(_asarray(x))[0]


def squareplus(x, b=4):
    return _squareplus_forward(_asarray(x), b)[0]


def exponential(x):
    return _exponential_forward(_asarray(x))[0]


def linear(x):
    return x


def mish(x):
    return _mish_forward(_asarray(x))[0]


def softmax(x, axis=-1):
    return _softmax_forward(_asarray(x), axis)[0]


def log_softmax(x, axis=-1):
    return _log_softmax_forward(_asarray(x), axis)[0]


def glu(x, axis=-1):
    return _glu_forward(_asarray(x), axis)[0]


def sparsemax(x, axis=-1):
    return _sparsemax_forward(_asarray(x), axis)[0]


swish = silu
hard_swish = hard_silu

_FUNCTIONS = {name: globals()[name] for name in _FORWARDS}

# Keras layer classes that Keras 3 also accepts as an activation, with the
# config keys they take -> (activation name, {config key: kwarg}).
_LAYER_CLASSES = {
    "ReLU": ("relu", {"negative_slope": "negative_slope", "max_value": "max_value", "threshold": "threshold"}),
    "LeakyReLU": ("leaky_relu", {"negative_slope": "negative_slope", "alpha": "negative_slope"}),
    "ELU": ("elu", {"alpha": "alpha"}),
    "Softmax": ("softmax", {"axis": "axis"}),
}


# ------------------------------------------------------------- get/serialize
def get(identifier) -> Activation:
    """An :class:`Activation` from a name, None (linear), a dict or a callable."""
    if identifier is None:
        return Activation("linear")
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _FORWARDS:
            return Activation(name)
        raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if callable(identifier):
        for name, fn in _FUNCTIONS.items():
            if fn is identifier:
                return Activation(name)
        if hasattr(identifier, "forward"):
            return identifier
        return _FunctionActivation(identifier)
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def _from_dict(identifier: dict) -> Activation:
    class_name = identifier.get("class_name")
    config = identifier.get("config")
    if class_name == "function" and isinstance(config, str):
        return get(config)
    if class_name in _LAYER_CLASSES:
        name, keys = _LAYER_CLASSES[class_name]
        config = config or {}
        kwargs = {keys[k]: v for k, v in config.items() if k in keys and v is not None}
        return Activation(name, **kwargs)
    if isinstance(class_name, str) and _ALIASES.get(class_name, class_name) in _FORWARDS:
        return Activation(class_name, **(config if isinstance(config, dict) else {}))
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation) -> str:
    """The name Keras 3 writes for ``activation`` ("relu", "silu", ...)."""
    act = get(activation)
    if isinstance(act, _FunctionActivation) or act.name not in _FORWARDS:
        raise ValueError(f"Unknown activation function {act.name!r} cannot be serialized")
    return act.name


def deserialize(config) -> Activation:
    return get(config)
