"""Two rules every part of fitq applies to a model's inputs and outputs, written once.

- :func:`by_name`: a value given for a model's inputs (or outputs) is one value, a list by position,
  or a dict by name, as Keras's ``fit`` / ``compile`` take them; the result is a list ordered like
  the names.
- :func:`sample_shape_fits`: a sample's shape (no batch axis) fits a tensor's shape where ``None``
  means any size.

Both raise :class:`StructureError`, a ``ValueError`` that also says which key or position was at
fault, so callers that name request fields (the service) can point at it.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence


class StructureError(ValueError):
    """A value does not line up with the model's names; ``key`` is the dict key or list index at fault."""

    def __init__(self, message: str, key: str | int | None = None):
        super().__init__(message)
        self.key = key


def _is_one(value: Any) -> bool:
    return not isinstance(value, (list, tuple, dict))


def by_name(value: Any, names: Sequence[str], what: str, *, is_one: Callable[[Any], bool] = _is_one,
            allow_missing: bool = False, one_for_all: bool = False) -> list:
    """``value`` as a list ordered like ``names``.

    ``is_one`` is asked first, so a caller may count some dicts or lists as one value.

    - one value (``is_one(value)``): ``[value]`` for one name; ``[value] * len(names)`` when
      ``one_for_all`` (a loss for every output, as Keras 2 does); an error otherwise.
    - a list or tuple: by position; its length must be ``len(names)``.
    - a dict: by name; unknown keys are errors, and so are missing ones unless ``allow_missing``
      (then they are None).
    """
    names = list(names)
    n = len(names)
    if is_one(value):
        if n == 1 or one_for_all:
            return [value] * n
        raise StructureError(f"{what}: got one value, the model has {n} ({', '.join(names)}): "
                             "give a list by position or a dict by name")
    if isinstance(value, dict):
        for key in value:
            if key not in names:
                raise StructureError(f"{what}: the model has no {key!r} (it has: {', '.join(names)})", key)
        missing = [k for k in names if k not in value]
        if missing and not allow_missing:
            raise StructureError(f"{what}: nothing given for {', '.join(map(repr, missing))} "
                                 f"(the model has: {', '.join(names)})")
        return [value.get(k) for k in names]
    value = list(value)
    if len(value) != n:
        raise StructureError(f"{what}: got a list of {len(value)}, the model has {n} "
                             f"({', '.join(names)}): give one entry per name, or a dict by name")
    return value


def sample_shape_fits(actual: Sequence[int], expected: Sequence[int | None]) -> bool:
    """Whether a sample of shape ``actual`` fits ``expected`` (both without the batch axis; None = any)."""
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))
