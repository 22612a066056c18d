"""Keras 3 weight initializers, drawing from NumPy.

Every initializer is called as ``init(shape, dtype="float32") -> np.ndarray``.
Random ones follow Keras's formulas (fans, truncation at two standard
deviations, the 0.87962566103423978 stddev correction); their values differ
from Keras's (another RNG) but their distributions are the same. A seeded
initializer gives the same values on every call, as in Keras; an unseeded one
draws from a generator split off :func:`engine.random.global_generator`.
"""
from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine import random as engine_random
from engine.registry import Configurable, Registry, serialized

_TRUNCATED_NORMAL_STDDEV_FACTOR = 0.87962566103423978


def _dtype(dtype) -> str:
    return backend.standardize_dtype(dtype)


def _shape(shape) -> tuple:
    return tuple(int(s) for s in shape)


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype) -> array`` and ``get_config() -> dict``."""

    def __call__(self, shape, dtype=None):
        raise TypeError(f"Initializer {type(self).__name__} does not define __call__")

    def clone(self):
        return type(self).from_config(self.get_config())


# ------------------------------------------------------------------ constants
class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every entry equal to ``value`` (a scalar, or an array broadcast to ``shape``)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        dtype = _dtype(dtype)
        return np.asarray(self.value, dtype=dtype) * np.ones(_shape(shape), dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """``gain`` times the identity matrix; 2D shapes only."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


# --------------------------------------------------------------------- random
class RandomInitializer(Initializer):
    """Base of the random initializers; ``seed`` is an int or None."""

    def __init__(self, seed=None):
        if isinstance(seed, dict):
            seed = seed.get("config", {}).get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(
                "`seed` argument should be an instance of `keras.random.SeedGenerator()` "
                f"or an integer. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)

    def _rng(self) -> np.random.Generator:
        return engine_random.generator(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _normal(rng, shape, mean, stddev, dtype):
    return (rng.standard_normal(shape) * stddev + mean).astype(dtype)


def _truncated_normal(rng, shape, mean, stddev, dtype):
    """Normal draws redrawn until within two standard deviations of the mean."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return (z * stddev + mean).astype(dtype)


def _uniform(rng, shape, minval, maxval, dtype):
    """Uniform on ``[minval, maxval)``, also after rounding to ``dtype``."""
    values = rng.uniform(minval, maxval, size=shape).astype(dtype)
    if values.dtype.kind == "f" and maxval > minval:
        below_max = np.nextafter(np.asarray(maxval, dtype=values.dtype), np.asarray(minval, dtype=values.dtype))
        np.minimum(values, below_max, out=values)
    return values


class RandomNormal(RandomInitializer):
    """Normal with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _normal(self._rng(), _shape(shape), self.mean, self.stddev, _dtype(dtype))

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal with ``mean`` and ``stddev``, cut at two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), _shape(shape), self.mean, self.stddev, _dtype(dtype))

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform on ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _uniform(self._rng(), _shape(shape), self.minval, self.maxval, _dtype(dtype))

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """Keras's ``(fan_in, fan_out)``: conv kernels ``(*spatial, in, out)`` count the receptive field."""
    shape = _shape(shape)
    if input_axes is not None and output_axes is not None:
        return int(np.prod([shape[a] for a in input_axes])), int(np.prod([shape[a] for a in output_axes]))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(RandomInitializer):
    """Draws scaled by the fans: ``scale / fan`` is the variance.

    Args:
        scale: positive float.
        mode: "fan_in", "fan_out" or "fan_avg".
        distribution: "truncated_normal" (also "normal"), "untruncated_normal"
            or "uniform".
        seed: int or None.
        input_axes, output_axes: optional axes that define the fans.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {allowed_modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. Please use one of {allowed}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / _TRUNCATED_NORMAL_STDDEV_FACTOR
            return _truncated_normal(rng, shape, 0.0, stddev, dtype)
        if self.distribution == "untruncated_normal":
            return _normal(rng, shape, 0.0, math.sqrt(scale), dtype)
        limit = math.sqrt(3.0 * scale)
        return _uniform(rng, shape, -limit, limit, dtype)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _fixed_variance_scaling(class_name, scale, mode, distribution, doc):
    """A VarianceScaling subclass with fixed scale/mode/distribution (GlorotUniform, ...)."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution, seed=seed,
                                 input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                                  "__doc__": doc, "__module__": __name__})


GlorotUniform = _fixed_variance_scaling(
    "GlorotUniform", 1.0, "fan_avg", "uniform", "Uniform on ±sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _fixed_variance_scaling(
    "GlorotNormal", 1.0, "fan_avg", "truncated_normal", "Truncated normal, stddev sqrt(2 / (fan_in + fan_out)).")
LecunUniform = _fixed_variance_scaling(
    "LecunUniform", 1.0, "fan_in", "uniform", "Uniform on ±sqrt(3 / fan_in).")
LecunNormal = _fixed_variance_scaling(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(1 / fan_in).")
HeUniform = _fixed_variance_scaling(
    "HeUniform", 2.0, "fan_in", "uniform", "Uniform on ±sqrt(6 / fan_in).")
HeNormal = _fixed_variance_scaling(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(2 / fan_in).")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (rows flattened over all but the last axis) times ``gain``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        num_rows = int(np.prod(shape[:-1]))
        num_cols = shape[-1]
        a = self._rng().standard_normal((max(num_rows, num_cols), min(num_rows, num_cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if num_rows < num_cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


# ------------------------------------------------------------ names and dicts
# Functions named like keras.initializers.* lower-case aliases.
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, truncated_normal, random_uniform = RandomNormal, TruncatedNormal, RandomUniform
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
lecun_uniform, lecun_normal, he_uniform, he_normal = LecunUniform, LecunNormal, HeUniform, HeNormal

_REGISTRY = Registry(
    "initializer", "keras.initializers", Initializer,
    [Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling, GlorotUniform,
     GlorotNormal, LecunUniform, LecunNormal, HeUniform, HeNormal, Orthogonal],
    aliases={"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal, "normal": RandomNormal,
             "uniform": RandomUniform, "zero": Zeros, "one": Ones},
    dropped_keys={"dtype"},  # written by older Keras versions, ignored by Keras 3
)


def _array_or_callable(identifier):
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _ArrayInitializer(identifier)
    return identifier if callable(identifier) else None


def get(identifier):
    """An initializer from a name, a class name, a config dict, a class, an instance or an array.

    None gives None, as in Keras.
    """
    return _REGISTRY.get(identifier, other=_array_or_callable)


class _ArrayInitializer(Initializer):
    """An array given directly as the initial value; ``shape`` must match it."""

    def __init__(self, value):
        self.value = np.asarray(value)

    def __call__(self, shape, dtype=None):
        if _shape(shape) != tuple(self.value.shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(self.value.shape)} for direct tensor as initializer. "
                f"Received shape={_shape(shape)}"
            )
        return self.value.astype(_dtype(dtype))


def serialize(initializer) -> dict:
    """Keras 3's dict form: module, class_name, config, registered_name."""
    init = get(initializer)
    if not isinstance(init, Initializer) or isinstance(init, _ArrayInitializer):
        raise ValueError(f"Cannot serialize initializer {initializer!r}: not a Keras initializer")
    return serialized("keras.initializers", init)


def deserialize(config) -> Initializer:
    return get(config)
