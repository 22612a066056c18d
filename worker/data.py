"""A spec's ``data`` resolved against the store and a model: which array feeds which input or output.

``x``, ``y`` and ``sample_weight`` take one reference, a list (by position) or an object (by name),
as Keras's ``fit`` does (the rule is :func:`engine.structure.by_name`). Resolving reads only the
datasets' descriptions; :meth:`FitData.arguments` then opens the arrays (memory maps; ``columns``
picks columns of a 2-D array). Submit-time validation and the worker use the same :func:`resolve`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.structure import StructureError
from engine.structure import by_name as _by_name

from worker.errors import InvalidInput, NotFound
from worker.spec import ArrayRefObject, DataSpec
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
    finite: bool | None = None

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
    return ArraySource(store, dataset, array, picked, shape, np.dtype(described["dtype"]), field,
                       described.get("finite"))


def by_name(store: Store, tenant: str, arg: Any, names: list[str], field: str) -> dict[str, ArraySource]:
    """``arg`` (one reference, a list or an object) as ``{model input/output name: ArraySource}``."""
    if hasattr(arg, "model_dump") and not isinstance(arg, ArrayRefObject):
        arg = arg.model_dump()
    if not is_ref(arg) and not isinstance(arg, (list, dict)):
        raise InvalidInput("expected an array reference, a list or an object of them", field=field)
    try:
        refs = _by_name(arg, names, field, is_one=is_ref)
    except StructureError as exc:
        raise InvalidInput(str(exc), field=_sub_field(field, exc.key)) from exc
    keyed = isinstance(arg, dict)
    return {n: source(store, tenant, r, _sub_field(field, n if keyed else (i if isinstance(arg, list) else None)))
            for i, (n, r) in enumerate(zip(names, refs))}


def _sub_field(field: str, key: str | int | None) -> str:
    if key is None:
        return field
    return f"{field}[{key}]" if isinstance(key, int) else f"{field}.{key}"


Group = dict[str, ArraySource]
"""Arrays by model input or output name."""


@dataclass(frozen=True)
class FitData:
    """The arrays of a spec's ``data`` (not the generator form), lined up with a model's names."""

    x: Group
    y: Group | None
    sample_weight: Group | None = None
    validation: tuple[Group, Group, Group | None] | None = None

    def sources(self) -> list[ArraySource]:
        """Every array the data names."""
        groups = [self.x, self.y, self.sample_weight, *(self.validation or ())]
        return [src for group in groups if group for src in group.values()]

    def arguments(self) -> dict[str, Any]:
        """``x``, ``y``, ``sample_weight`` and ``validation_data`` for ``model.fit``, arrays opened."""
        args: dict[str, Any] = {"x": load(self.x), "y": load(self.y) if self.y is not None else None}
        if self.sample_weight is not None:
            args["sample_weight"] = load(self.sample_weight)
        if self.validation is not None:
            vx, vy, vsw = self.validation
            args["validation_data"] = (load(vx), load(vy)) + ((load(vsw),) if vsw is not None else ())
        return args


def resolve(store: Store, tenant: str, d: DataSpec, inputs: list[str], outputs: list[str]) -> FitData:
    """The :class:`FitData` of ``d``; 422 naming the field of the first reference that points at nothing."""
    group = lambda arg, names, field: by_name(store, tenant, arg, names, field)  # noqa: E731
    validation = None
    if d.validation_data is not None:
        v = d.validation_data
        validation = (group(v.x, inputs, "data.validation_data.x"), group(v.y, outputs, "data.validation_data.y"),
                      group(v.sample_weight, outputs, "data.validation_data.sample_weight")
                      if v.sample_weight is not None else None)
    return FitData(
        x=group(d.x, inputs, "data.x"),
        y=group(d.y, outputs, "data.y") if d.y is not None else None,
        sample_weight=group(d.sample_weight, outputs, "data.sample_weight") if d.sample_weight is not None else None,
        validation=validation)


def _refs(arg: Any):
    if arg is None:
        return
    if hasattr(arg, "model_dump") and not isinstance(arg, ArrayRefObject):
        arg = arg.model_dump()
    if is_ref(arg):
        yield arg
    else:
        for ref in (arg.values() if isinstance(arg, dict) else arg):
            yield ref


def dataset_ids(d: DataSpec) -> set[str]:
    """Every dataset id that ``d`` names (arrays, generators, validation)."""
    args = [d.x, d.y, d.sample_weight]
    if d.validation_data is not None:
        args += [d.validation_data.x, d.validation_data.y, d.validation_data.sample_weight]
    ids = set()
    for arg in args:
        for ref in _refs(arg):
            if isinstance(ref, str):
                ids.add(ref.partition("/")[0])
            else:
                ids.add(ref.dataset if isinstance(ref, ArrayRefObject) else ref["dataset"])
    for gen in (d.generator, d.validation_generator):
        if gen is not None:
            ids.add(gen.dataset)
    return ids


def load(sources: Group) -> dict[str, np.ndarray]:
    """Opens every source: ``{name: array}``."""
    return {name: src.load() for name, src in sources.items()}
