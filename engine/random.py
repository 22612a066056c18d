"""Random number generators: seeded per layer/initializer, or drawn from one global generator.

``set_random_seed(seed)`` reseeds the global generator (``keras.utils.set_random_seed``),
so unseeded initializers, dropout and shuffling become reproducible.
"""
from __future__ import annotations

import numpy as np

_global = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reseeds the global generator (and NumPy's legacy one) with ``seed``."""
    global _global
    _global = np.random.default_rng(seed)
    np.random.seed(seed)


def global_generator() -> np.random.Generator:
    return _global


def generator(seed=None) -> np.random.Generator:
    """A new Generator for ``seed``, or one split off the global generator when seed is None."""
    if seed is None:
        return np.random.default_rng(_global.integers(0, 2**63 - 1))
    return np.random.default_rng(seed)
