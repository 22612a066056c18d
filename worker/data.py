"""Array references in a spec -> arrays from the store, lined up with a model's inputs or outputs.

``x``, ``y`` and ``sample_weight`` take one reference, a list (by position) or an object (by name),
as Keras's ``fit`` does. Arrays are memory-mapped; ``columns`` picks columns of a 2-D array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.errors import InvalidInput, NotFound
from worker.spec import ArrayRefObject
from worker.store import Store


@dataclass(frozen=True)
class ArraySource:
    """One referenced array: where it is, what shape and dtype it will have once loaded."""

    store: Store
    dataset: str
    array: str
    columns: tuple[int, ...] | None
    shape: tuple[int, ...]
    dtype: np.dtype
    field: str

    def load(self) -> np.ndarray:
        """The array (a read-only memory map unless ``columns`` picks a copy)."""
        arr = self.store.open_array(self.dataset, self.array, self.field)
        if self.columns is not None:
            arr = np.ascontiguousarray(arr[:, list(self.columns)])
        return arr


def is_ref(value: Any) -> bool:
    """Whether ``value`` is one array reference (``"DS/ARRAY"`` or ``{"dataset", "array"}``)."""
    return isinstance(value, (str, ArrayRefObject)) or (isinstance(value, dict) and "dataset" in value)


def source(store: Store, tenant: str, ref: Any, field: str) -> ArraySource:
    """The :class:`ArraySource` of one reference; 422 naming ``field`` when it points at nothing."""
    if isinstance(ref, dict):
        ref = ArrayRefObject.model_validate(ref)
    if isinstance(ref, str):
        dataset, sep, array = ref.partition("/")
        if not sep:
            raise InvalidInput(f"array reference {ref!r} must be 'DATASET_ID/ARRAY'", field=field)
        columns = None
    else:
        dataset, array, columns = ref.dataset, ref.array, ref.columns
    try:
        meta = store.dataset_meta(dataset, tenant, field=field)
    except NotFound as exc:
        raise InvalidInput(exc.message, field=field) from exc
    described = meta.get("arrays", {}).get(array)
    if described is None:
        known = ", ".join(sorted(meta.get("arrays", {}))) or "none"
        raise InvalidInput(f"dataset {dataset!r} has no array {array!r} (it has: {known})", field=field)
    shape = tuple(described["shape"])
    picked = None
    if columns is not None:
        if len(shape) != 2:
            raise InvalidInput(f"'columns' needs a 2-D array; {dataset}/{array} has shape {shape}", field=field)
        names = meta.get("columns") or []
        picked = []
        for c in columns:
            index = names.index(c) if isinstance(c, str) and c in names else c
            if not isinstance(index, int) or not -shape[1] <= index < shape[1]:
                raise InvalidInput(f"{dataset}/{array} has no column {c!r}", field=field)
            picked.append(index)
        shape = (shape[0], len(picked))
        picked = tuple(picked)
    return ArraySource(store, dataset, array, picked, shape, np.dtype(described["dtype"]), field)


def by_name(store: Store, tenant: str, arg: Any, names: list[str], field: str) -> dict[str, ArraySource]:
    """``arg`` (one reference, a list or an object) as ``{model input/output name: ArraySource}``."""
    if hasattr(arg, "model_dump") and not isinstance(arg, ArrayRefObject):
        arg = arg.model_dump()
    if is_ref(arg):
        if len(names) != 1:
            raise InvalidInput(f"the model has {len(names)} of these ({', '.join(names)}): "
                               "give a list or an object keyed by name", field=field)
        return {names[0]: source(store, tenant, arg, field)}
    if isinstance(arg, list):
        if len(arg) != len(names):
            raise InvalidInput(f"got {len(arg)} arrays, the model expects {len(names)} ({', '.join(names)})",
                               field=field)
        return {n: source(store, tenant, r, f"{field}[{i}]") for i, (n, r) in enumerate(zip(names, arg))}
    if isinstance(arg, dict):
        for key in arg:
            if key not in names:
                raise InvalidInput(f"the model has no {key!r} (it has: {', '.join(names)})", field=f"{field}.{key}")
        missing = [n for n in names if n not in arg]
        if missing:
            raise InvalidInput(f"no array given for {', '.join(missing)}", field=field)
        return {n: source(store, tenant, arg[n], f"{field}.{n}") for n in names}
    raise InvalidInput("expected an array reference, a list or an object of them", field=field)


def load(sources: dict[str, ArraySource]) -> dict[str, np.ndarray]:
    """Loads every source: ``{name: array}``."""
    return {name: src.load() for name, src in sources.items()}
