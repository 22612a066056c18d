"""TensorFlow Serving's REST formats for ``predict``, and inline arrays for ``evaluate``.

Row format: ``{"instances": [row, ...]}``, each row a value (one input) or an object keyed by input
name (several inputs), answered with ``{"predictions": [...]}`` (rows; objects keyed by output name
for several outputs). Columnar format: ``{"inputs": value}`` or ``{"inputs": {name: value}}``,
answered with ``{"outputs": value}`` or ``{"outputs": {name: value}}``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from worker.errors import InvalidInput


def _array(value: Any, dtype: str, field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.dtype(dtype))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a numeric array of consistent shape: {exc}", field=field) from exc
    if arr.ndim == 0:
        raise InvalidInput("expected an array, got a single number", field=field)
    return arr


def _check_shape(arr: np.ndarray, tensor, name: str, field: str) -> None:
    expected = tuple(tensor.shape[1:])
    got = arr.shape[1:]
    if len(got) != len(expected) or any(e is not None and g != e for g, e in zip(got, expected)):
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
    if isinstance(inputs, dict):
        unknown = [k for k in inputs if k not in names]
        if unknown:
            raise InvalidInput(f"the model has no input {unknown[0]!r} (it has: {', '.join(names)})",
                               field=f"{field}.{unknown[0]}")
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InvalidInput(f"no value for input {missing[0]!r}", field=field)
        values = inputs
    elif len(names) == 1:
        values = {names[0]: inputs}
    else:
        raise InvalidInput(f"the model has inputs {names}: give an object keyed by input name", field=field)
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
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise InvalidInput(f"the model has no output {unknown[0]!r}", field=f"{field}.{unknown[0]}")
        return {k: _array(v, "float32", f"{field}.{k}") for k, v in value.items()}
    if len(names) != 1:
        raise InvalidInput(f"the model has outputs {names}: give an object keyed by output name", field=field)
    return {names[0]: _array(value, "float32", field)}


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
