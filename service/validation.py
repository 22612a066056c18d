"""Submit-time checks: a job that cannot train is a 422 naming the field at fault, never a failed job later.

The model JSON must build with ``engine.model_from_json`` (no code layers), compile with the spec's
optimizer, losses and metrics, and the named arrays must exist and fit the model's inputs and
outputs in count, sample count, shape and dtype.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from worker import data
from worker.errors import InvalidInput, NotFound
from worker.generators import sequence
from worker.models import build_model, compile_kwargs
from worker.spec import JobSpec
from worker.store import Store, check_id

SPARSE_LOSSES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")


def _fits(actual: tuple, expected: tuple) -> bool:
    """Whether ``actual`` (no batch axis) matches ``expected`` (None = any size)."""
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict):
        return loss.get("class_name")
    return None


def losses_by_output(loss: Any, outputs: list[str]) -> dict[str, Any]:
    """The loss of each output: one loss for all (as in the seeds), a list by position or an object by name."""
    if isinstance(loss, list):
        if len(loss) != len(outputs):
            raise InvalidInput(f"{len(loss)} losses given for {len(outputs)} outputs ({', '.join(outputs)})",
                               field="compile.loss")
        return dict(zip(outputs, loss))
    if isinstance(loss, dict) and "class_name" not in loss:
        for key in loss:
            if key not in outputs:
                raise InvalidInput(f"the model has no output {key!r} (it has: {', '.join(outputs)})",
                                   field=f"compile.loss.{key}")
        return {name: loss.get(name) for name in outputs}
    return {name: loss for name in outputs}


def _check_names(value: Any, outputs: list[str], field: str) -> None:
    if isinstance(value, dict):
        for key in value:
            if key not in outputs:
                raise InvalidInput(f"the model has no output {key!r} (it has: {', '.join(outputs)})",
                                   field=f"{field}.{key}")
    elif isinstance(value, list) and field == "compile.loss_weights" and len(value) != len(outputs):
        raise InvalidInput(f"{len(value)} loss weights for {len(outputs)} outputs", field=field)


def _flat_metrics(value: Any) -> list[Any]:
    """Every metric named in ``metrics`` (a list, a list of lists by output, or an object by output)."""
    groups = list(value.values()) if isinstance(value, dict) else list(value or [])
    return [m for group in groups for m in (group if isinstance(group, list) else [group])]


def _check_compile(model, spec: JobSpec) -> None:
    from engine import losses, metrics, optimizers  # noqa: PLC0415

    c = spec.compile
    try:
        optimizers.get(c.optimizer)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc), field="compile.optimizer") from exc
    outputs = list(model.output_names)
    for name, loss in losses_by_output(c.loss, outputs).items():
        if loss is None:
            continue
        field = "compile.loss" + (f".{name}" if isinstance(c.loss, dict) and "class_name" not in c.loss else "")
        try:
            losses.get(loss)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(str(exc), field=field) from exc
    _check_names(c.loss_weights, outputs, "compile.loss_weights")
    for key in ("metrics", "weighted_metrics"):
        value = getattr(c, key)
        _check_names(value, outputs, f"compile.{key}")
        for metric in _flat_metrics(value):
            try:
                metrics.get(metric)
            except (ValueError, TypeError) as exc:
                raise InvalidInput(str(exc), field=f"compile.{key}") from exc
    try:
        model.compile(**compile_kwargs(c))
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"compile failed: {exc}", field="compile") from exc


def _check_inputs(model, sources: dict[str, data.ArraySource]) -> None:
    for tensor, name in zip(model.inputs, model.input_names):
        src = sources[name]
        expected = tuple(tensor.shape[1:])
        if not _fits(src.shape[1:], expected):
            raise InvalidInput(
                f"input {name!r} expects samples of shape {expected}, but {src.dataset}/{src.array} has "
                f"shape {src.shape[1:]} per sample", field=src.field)
        if np.dtype(tensor.dtype).kind in "iu" and src.dtype.kind == "f":
            raise InvalidInput(f"input {name!r} takes integers ({tensor.dtype}), {src.dataset}/{src.array} "
                               f"holds {src.dtype.name}", field=src.field)
        if src.dtype.kind not in "biuf":
            raise InvalidInput(f"{src.dataset}/{src.array} holds {src.dtype.name}, not numbers", field=src.field)


def _check_targets(model, sources: dict[str, data.ArraySource], loss: Any) -> None:
    losses = losses_by_output(loss, list(model.output_names))
    for tensor, name in zip(model.outputs, model.output_names):
        src = sources[name]
        out = tuple(tensor.shape[1:])
        target = src.shape[1:]
        ok = _fits(target, out) or (out and out[-1] == 1 and _fits(target, out[:-1]))
        if not ok and _loss_name(losses[name]) in SPARSE_LOSSES:
            ok = _fits(target, out[:-1]) or _fits(target, out[:-1] + (1,))
        if not ok:
            raise InvalidInput(
                f"output {name!r} gives samples of shape {out} but its targets {src.dataset}/{src.array} have "
                f"shape {target} per sample (loss {_loss_name(losses[name])!r})", field=src.field)


def _check_counts(groups: list[dict[str, data.ArraySource]]) -> None:
    first = None
    for group in groups:
        for src in group.values():
            if first is None:
                first = src
            elif src.shape[0] != first.shape[0]:
                raise InvalidInput(
                    f"{src.dataset}/{src.array} has {src.shape[0]} samples, {first.dataset}/{first.array} "
                    f"has {first.shape[0]}", field=src.field)


def _build_if_needed(model, store: Store, tenant: str, spec: JobSpec) -> None:
    """Builds a Sequential model that has no input shape from the data's shape, as ``fit`` would."""
    if getattr(model, "built", True):
        return
    d = spec.data
    if d.generator is not None:
        return
    if not data.is_ref(d.x) and not isinstance(d.x, data.ArrayRefObject):
        raise InvalidInput("a Sequential model without an input shape takes one array as x", field="data.x")
    src = data.source(store, tenant, d.x, "data.x")
    try:
        model.build((None,) + src.shape[1:])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"the model does not take samples of shape {src.shape[1:]}: {exc}",
                           field="data.x") from exc


def _check_arrays(model, store: Store, tenant: str, spec: JobSpec) -> None:
    d = spec.data
    inputs, outputs = list(model.input_names), list(model.output_names)
    x = data.by_name(store, tenant, d.x, inputs, "data.x")
    if d.y is None:
        raise InvalidInput("training needs targets 'y'", field="data.y")
    y = data.by_name(store, tenant, d.y, outputs, "data.y")
    groups = [x, y]
    if d.sample_weight is not None:
        groups.append(data.by_name(store, tenant, d.sample_weight, outputs, "data.sample_weight"))
    _check_inputs(model, x)
    _check_targets(model, y, spec.compile.loss)
    _check_counts(groups)
    if d.validation_data is not None:
        v = d.validation_data
        vx = data.by_name(store, tenant, v.x, inputs, "data.validation_data.x")
        vy = data.by_name(store, tenant, v.y, outputs, "data.validation_data.y")
        _check_inputs(model, vx)
        _check_targets(model, vy, spec.compile.loss)
        _check_counts([vx, vy])


def _check_generator(model, store: Store, tenant: str, spec: JobSpec) -> None:
    for field, gen in (("data.generator", spec.data.generator),
                       ("data.validation_generator", spec.data.validation_generator)):
        if gen is None:
            continue
        if len(model.inputs) != 1:
            raise InvalidInput("a generator feeds models with one input", field=field)
        train, _ = sequence(store, tenant, gen, field)
        batch = train[0]
        expected = tuple(model.inputs[0].shape[1:])
        if not _fits(tuple(batch[0].shape[1:]), expected):
            raise InvalidInput(f"the generator yields samples of shape {tuple(batch[0].shape[1:])}, the model "
                               f"expects {expected}", field=field)


def _check_callbacks(spec: JobSpec) -> None:
    from engine import callbacks  # noqa: PLC0415

    for i, cb in enumerate(spec.fit.callbacks):
        try:
            callbacks.get(cb.model_dump())
        except (ValueError, TypeError) as exc:
            raise InvalidInput(str(exc), field=f"fit.callbacks[{i}]") from exc


def _check_initial_weights(model, store: Store, tenant: str, records, spec: JobSpec) -> None:
    job_id = spec.initial_weights
    try:
        record = records.get(check_id(job_id, "initial_weights"))
    except NotFound as exc:
        raise InvalidInput(exc.message, field="initial_weights") from exc
    if record is None or record["tenant"] != tenant:
        raise InvalidInput(f"job {job_id!r} does not exist", field="initial_weights")
    weights = store.load_weights(job_id, field="initial_weights")
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise InvalidInput(f"job {job_id!r}'s weights do not fit this model's weight shapes",
                           field="initial_weights")


def check_job(spec: JobSpec, store: Store, tenant: str, records) -> None:
    """Raises :class:`InvalidInput` naming the field when ``spec`` cannot train on the named data."""
    model = build_model(spec.model)
    _build_if_needed(model, store, tenant, spec)
    _check_compile(model, spec)
    if spec.data.generator is not None:
        _check_generator(model, store, tenant, spec)
    else:
        _check_arrays(model, store, tenant, spec)
    _check_callbacks(spec)
    if spec.initial_weights:
        _check_initial_weights(model, store, tenant, records, spec)
