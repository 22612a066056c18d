"""TensorFlow Serving's REST formats for ``predict``, and inline arrays for ``evaluate``.

Row format: ``{"instances": [row, ...]}``, each row a value (one input) or an object keyed by input
name (several inputs), answered with ``{"predictions": [...]}`` (rows; objects keyed by output name
for several outputs). Columnar format: ``{"inputs": value}`` or ``{"inputs": {name: value}}``,
answered with ``{"outputs": value}`` or ``{"outputs": {name: value}}``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.structure import StructureError, by_name, sample_shape_fits

from worker.errors import Conflict, InvalidInput


def _array(value: Any, dtype: str, field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.dtype(dtype))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a numeric array of consistent shape: {exc}", field=field) from exc
    if arr.ndim == 0:
        raise InvalidInput("expected an array, got a single number", field=field)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidInput("the values include NaN or Infinity", field=field)
    return arr


def require_finite(values: Any, what: str) -> None:
    """409 when the model's ``what`` (outputs, loss or metrics) hold NaN or Inf, which JSON cannot carry:
    the weights of a model that gives them have usually diverged."""
    arrays = values.values() if isinstance(values, dict) else values if isinstance(values, (list, tuple)) else [values]
    if not all(np.isfinite(np.asarray(a, dtype=np.float64)).all() for a in arrays):
        raise Conflict(f"the model's {what} include NaN or Infinity (diverged weights?), which JSON cannot carry",
                       field="id")


def _by_name(value: Any, names: list[str], field: str, allow_missing: bool = False) -> dict[str, Any]:
    """A value for a one-input (or one-output) model, or an object keyed by name: ``{name: value}``."""
    try:
        return dict(zip(names, by_name(value, names, field, is_one=lambda v: not isinstance(v, dict),
                                       allow_missing=allow_missing)))
    except StructureError as exc:
        raise InvalidInput(str(exc), field=field if exc.key is None else f"{field}.{exc.key}") from exc


def _check_shape(arr: np.ndarray, tensor, name: str, field: str) -> None:
    expected = tuple(tensor.shape[1:])
    got = arr.shape[1:]
    if not sample_shape_fits(got, expected):
        raise InvalidInput(f"input {name!r} expects samples of shape {expected}, got {got}", field=field)


def rows_to_inputs(model, instances: list[Any]) -> dict[str, np.ndarray]:
    """``instances`` (rows) as ``{input name: array (n, ...)}``."""
    names = list(model.input_names)
    if not instances:
        raise InvalidInput("'instances' is empty", field="instances")
    keyed = all(isinstance(row, dict) for row in instances)
    if len(names) > 1 and not keyed:
        raise InvalidInput(f"the model has inputs {names}: each instance must be an object keyed by input name",
                           field="instances")
    out = {}
    for tensor, name in zip(model.inputs, names):
        if keyed:
            missing = [i for i, row in enumerate(instances) if name not in row]
            if missing:
                raise InvalidInput(f"instance {missing[0]} has no {name!r}", field=f"instances[{missing[0]}]")
            column = [row[name] for row in instances]
        else:
            column = instances
        arr = _array(column, tensor.dtype, "instances")
        _check_shape(arr, tensor, name, "instances")
        out[name] = arr
    return out


def columns_to_inputs(model, inputs: Any, field: str = "inputs") -> dict[str, np.ndarray]:
    """``inputs`` (columns: a value for one input, an object by input name) as ``{name: array}``."""
    names = list(model.input_names)
    values = _by_name(inputs, names, field)
    out = {}
    for tensor, name in zip(model.inputs, names):
        sub = f"{field}.{name}" if isinstance(inputs, dict) else field
        arr = _array(values[name], tensor.dtype, sub)
        _check_shape(arr, tensor, name, sub)
        out[name] = arr
    lengths = {len(a) for a in out.values()}
    if len(lengths) > 1:
        raise InvalidInput("inputs have different numbers of samples", field=field)
    return out


def targets(model, value: Any, field: str) -> dict[str, np.ndarray]:
    """Inline targets (a value for one output, an object by output name) as ``{name: array}``."""
    names = list(model.output_names)
    given = {k: v for k, v in _by_name(value, names, field, allow_missing=True).items() if v is not None}
    keyed = isinstance(value, dict)
    return {k: _array(v, "float32", f"{field}.{k}" if keyed else field) for k, v in given.items()}


def predictions_as_rows(model, predictions) -> list:
    """Model outputs as TF Serving's ``predictions`` (one entry per row)."""
    names = list(model.output_names)
    if len(names) == 1:
        return np.asarray(predictions).tolist()
    arrays = [np.asarray(p) for p in predictions]
    return [{name: arr[i].tolist() for name, arr in zip(names, arrays)} for i in range(len(arrays[0]))]


def predictions_as_columns(model, predictions) -> Any:
    """Model outputs as TF Serving's ``outputs`` (a value, or an object keyed by output name)."""
    names = list(model.output_names)
    if len(names) == 1:
        return np.asarray(predictions).tolist()
    return {name: np.asarray(p).tolist() for name, p in zip(names, predictions)}
