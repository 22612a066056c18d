"""The array module behind the engine: NumPy always, CuPy when asked for.

The engine never imports CuPy at import time. A model picks its backend with
``model.use_backend("cupy")`` (or ``"numpy"``); layers find the module of the
arrays they are given with :func:`array_module`, so one code path serves both.
"""
from __future__ import annotations

import sys

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    """The default float dtype, ``"float32"`` as in Keras."""
    return _FLOATX


def epsilon() -> float:
    """Keras's fuzz factor, 1e-7."""
    return _EPSILON


def get_module(name: str):
    """The array module called ``name`` ("numpy" or "cupy"); imports CuPy only here."""
    if name == "numpy":
        return np
    if name == "cupy":
        try:
            import cupy  # noqa: PLC0415 - imported on request, never at import time
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ValueError("backend 'cupy' needs the cupy package and a CUDA GPU") from exc
        return cupy
    raise ValueError(f"Unknown backend {name!r}: expected 'numpy' or 'cupy'")


def array_module(*arrays):
    """The module (numpy or cupy) that owns ``arrays``; numpy unless one is a CuPy array."""
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        for a in arrays:
            if isinstance(a, cupy.ndarray):
                return cupy
    return np


def to_numpy(a):
    """``a`` as a NumPy array (copies from the GPU when it is a CuPy array)."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    return np.asarray(a)


def standardize_dtype(dtype) -> str:
    """A dtype name as Keras writes it ("float32", "int32", ...)."""
    if dtype is None:
        return _FLOATX
    return np.dtype(dtype).name
