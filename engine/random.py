"""Random number generators: seeded per layer/initializer, or drawn from one global generator.

``set_random_seed(seed)`` reseeds the global generator (and Python's and NumPy's
legacy ones, as ``keras.utils.set_random_seed`` does), so unseeded initializers,
dropout and shuffling become reproducible.
"""
from __future__ import annotations

import random as _py_random

import numpy as np

_global = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reseeds the global generator, ``random`` and ``np.random`` with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r}")
    global _global
    _global = np.random.default_rng(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def global_generator() -> np.random.Generator:
    return _global


def generator(seed=None) -> np.random.Generator:
    """A new Generator for ``seed``, or one split off the global generator when seed is None."""
    if seed is None:
        return np.random.default_rng(_global.integers(0, 2**63 - 1))
    return np.random.default_rng(seed)
