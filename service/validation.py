"""Submit-time checks: a job that cannot train is a 422 naming the field at fault, never a failed job later.

The model JSON must build with ``engine.model_from_json`` (no code layers; built with shapes only,
so the API never allocates a model's weights) within the size limits, compile with the spec's
optimizer, losses and metrics, and the named arrays (resolved by :func:`worker.data.resolve`, as the
worker does) must exist and fit the model's inputs and outputs in count, sample count, shape and dtype.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.structure import StructureError, by_name, sample_shape_fits
from engine.variables import shapes_only

from worker import data
from worker.errors import InvalidInput, NotFound
from worker.generators import sequence
from worker.models import build_model, check_declared_layers, check_size, compile_kwargs
from worker.settings import Settings
from worker.spec import JobSpec
from worker.store import Store, check_id

SPARSE_LOSSES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict):
        return loss.get("class_name")
    return None


def _per_output(value: Any, outputs: list[str], field: str, one_for_all: bool = True) -> dict[str, Any]:
    """``value`` for each output: one for all (as in the seeds), a list by position or an object by name."""
    try:
        return dict(zip(outputs, by_name(value, outputs, field, is_one=lambda v: not isinstance(v, (list, dict))
                                         or (isinstance(v, dict) and "class_name" in v),
                                         allow_missing=True, one_for_all=one_for_all)))
    except StructureError as exc:
        key = exc.key
        raise InvalidInput(str(exc), field=field if key is None else f"{field}.{key}") from exc


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
    for name, loss in _per_output(c.loss, outputs, "compile.loss").items():
        if loss is None:
            continue
        field = "compile.loss" + (f".{name}" if isinstance(c.loss, dict) and "class_name" not in c.loss else "")
        try:
            losses.get(loss)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(str(exc), field=field) from exc
    if c.loss_weights is not None:
        _per_output(c.loss_weights, outputs, "compile.loss_weights")
    for key in ("metrics", "weighted_metrics"):
        value = getattr(c, key)
        if isinstance(value, dict):
            _per_output(value, outputs, f"compile.{key}")
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
        if not sample_shape_fits(src.shape[1:], expected):
            raise InvalidInput(
                f"input {name!r} expects samples of shape {expected}, but {src.dataset}/{src.array} has "
                f"shape {src.shape[1:]} per sample", field=src.field)
        if np.dtype(tensor.dtype).kind in "iu" and src.dtype.kind == "f":
            raise InvalidInput(f"input {name!r} takes integers ({tensor.dtype}), {src.dataset}/{src.array} "
                               f"holds {src.dtype.name}", field=src.field)
        if src.dtype.kind not in "biuf":
            raise InvalidInput(f"{src.dataset}/{src.array} holds {src.dtype.name}, not numbers", field=src.field)


def _check_targets(model, sources: dict[str, data.ArraySource], loss: Any) -> None:
    losses = _per_output(loss, list(model.output_names), "compile.loss")
    for tensor, name in zip(model.outputs, model.output_names):
        src = sources[name]
        out = tuple(tensor.shape[1:])
        target = src.shape[1:]
        ok = sample_shape_fits(target, out) or (out and out[-1] == 1 and sample_shape_fits(target, out[:-1]))
        if not ok and _loss_name(losses[name]) in SPARSE_LOSSES:
            ok = sample_shape_fits(target, out[:-1]) or sample_shape_fits(target, out[:-1] + (1,))
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
        with shapes_only():
            model.build((None,) + src.shape[1:])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"the model does not take samples of shape {src.shape[1:]}: {exc}",
                           field="data.x") from exc


def _check_arrays(model, store: Store, tenant: str, spec: JobSpec) -> None:
    if spec.data.y is None:
        raise InvalidInput("training needs targets 'y'", field="data.y")
    fit_data = data.resolve(store, tenant, spec.data, list(model.input_names), list(model.output_names))
    _check_inputs(model, fit_data.x)
    _check_targets(model, fit_data.y, spec.compile.loss)
    _check_counts([g for g in (fit_data.x, fit_data.y, fit_data.sample_weight) if g is not None])
    if not spec.data.allow_nonfinite:
        for src in fit_data.sources():
            if src.finite is False:
                raise InvalidInput(f"{src.dataset}/{src.array} holds NaN or Inf values: clean it, or set "
                                   "data.allow_nonfinite to train on it anyway", field=src.field)
    if fit_data.validation is not None:
        vx, vy, vsw = fit_data.validation
        _check_inputs(model, vx)
        _check_targets(model, vy, spec.compile.loss)
        _check_counts([g for g in (vx, vy, vsw) if g is not None])


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
        if not sample_shape_fits(tuple(batch[0].shape[1:]), expected):
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
    expected = [tuple(w.shape) for w in model.weights]
    if [tuple(w.shape) for w in weights] != expected:
        raise InvalidInput(f"job {job_id!r}'s weights do not fit this model's weight shapes",
                           field="initial_weights")


def _check_limits(spec: JobSpec, settings: Settings) -> None:
    """422 naming the field when the spec asks for more than this server's limits."""
    f = spec.fit
    asked = [("fit.epochs", f.epochs, settings.max_epochs, "FITQ_MAX_EPOCHS"),
             ("fit.batch_size", f.batch_size, settings.max_batch_size, "FITQ_MAX_BATCH_SIZE"),
             ("fit.steps_per_epoch", f.steps_per_epoch, settings.max_steps, "FITQ_MAX_STEPS"),
             ("fit.validation_steps", f.validation_steps, settings.max_steps, "FITQ_MAX_STEPS")]
    for name, gen in (("data.generator", spec.data.generator), ("data.validation_generator",
                                                                  spec.data.validation_generator)):
        if gen is not None:
            asked.append((f"{name}.batch_size", gen.batch_size, settings.max_batch_size, "FITQ_MAX_BATCH_SIZE"))
    for field, value, limit, setting in asked:
        if value is not None and value > limit:
            raise InvalidInput(f"{value} is more than this server's limit of {limit} ({setting})", field=field)


def check_job(spec: JobSpec, store: Store, tenant: str, records, settings: Settings) -> None:
    """Raises :class:`InvalidInput` naming the field when ``spec`` cannot train on the named data."""
    _check_limits(spec, settings)
    check_declared_layers(spec.model, settings.max_layers)
    model = build_model(spec.model, shapes_only=True)
    _build_if_needed(model, store, tenant, spec)
    check_size(model, settings.max_params, settings.max_layers)
    _check_compile(model, spec)
    if spec.data.generator is not None:
        _check_generator(model, store, tenant, spec)
    else:
        _check_arrays(model, store, tenant, spec)
    _check_callbacks(spec)
    if spec.initial_weights:
        _check_initial_weights(model, store, tenant, records, spec)
