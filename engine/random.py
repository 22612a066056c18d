"""Random number generators: seeded per layer/initializer, or drawn from one global generator.

``set_random_seed(seed)`` reseeds the global generator (and Python's and NumPy's
legacy ones, as ``keras.utils.set_random_seed`` does), so unseeded initializers,
dropout and shuffling become reproducible. :func:`tracking` collects the generators
made while a model is built and trained, and :func:`get_state` / :func:`set_state`
save and restore all of them, so training resumed from a checkpoint draws exactly
what an uninterrupted run would have drawn.
"""
from __future__ import annotations

import contextlib
import contextvars
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
    gen = np.random.default_rng(_global.integers(0, 2**63 - 1) if seed is None else seed)
    tracked = _tracked.get()
    if tracked is not None:
        tracked.append(gen)
    return gen


_tracked: contextvars.ContextVar[list | None] = contextvars.ContextVar("tracked_generators", default=None)


@contextlib.contextmanager
def tracking():
    """Yields a list that receives, in order, every generator :func:`generator` makes inside the block."""
    gens: list[np.random.Generator] = []
    token = _tracked.set(gens)
    try:
        yield gens
    finally:
        _tracked.reset(token)


def get_state(gens: list[np.random.Generator]) -> dict:
    """The state of the global generator and of ``gens`` (JSON-serialisable)."""
    return {"global": _global.bit_generator.state, "generators": [g.bit_generator.state for g in gens],
            "python": list(_py_random.getstate()[1]), "numpy": _legacy_state()}


def set_state(gens: list[np.random.Generator], state: dict) -> None:
    """Restores :func:`get_state`'s ``state`` into the global generator and ``gens`` (made in the same order)."""
    if len(gens) != len(state["generators"]):
        raise ValueError(f"the saved random state has {len(state['generators'])} generators, this run made "
                         f"{len(gens)}: it was saved by a different model or data set-up")
    _global.bit_generator.state = state["global"]
    for gen, saved in zip(gens, state["generators"]):
        gen.bit_generator.state = saved
    _py_random.setstate((3, tuple(state["python"]), None))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _legacy_state() -> list:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]
