"""The engine's random numbers: one global NumPy Generator, reseedable.

Unseeded draws (initializers, dropout, shuffling) come from :func:`generator`;
:func:`set_random_seed` reseeds it (and Python's and NumPy's legacy global
generators, as ``keras.utils.set_random_seed`` does), so a seeded run repeats.
"""
from __future__ import annotations

import random as _py_random

import numpy as np

_generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reseeds the engine's generator, ``random`` and ``np.random`` with ``seed``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r}")
    global _generator
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))
    _generator = np.random.default_rng(int(seed))


def generator() -> np.random.Generator:
    """The global Generator that unseeded draws use."""
    return _generator


def make_generator(seed=None) -> np.random.Generator:
    """A fresh Generator for an integer ``seed``; the global one for None."""
    if seed is None:
        return _generator
    return np.random.default_rng(int(seed))
