"""Engine models from a spec or from a finished job's artifacts; the model-size limits."""
from __future__ import annotations

import json
import math
from typing import Any

from worker import layout
from worker.errors import InvalidInput
from worker.spec import CompileSpec
from worker.store import Store

BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def build_model(config: dict[str, Any], field: str = "model", shapes_only: bool = False):
    """``engine.model_from_json`` of a Keras ``to_json()`` object; 422 naming ``field`` when it cannot build.

    Models carrying code (``Lambda`` layers) are refused before anything is built: code in a model
    is never executed. With ``shapes_only`` the weights have shapes but no memory (see
    :func:`engine.variables.shapes_only`): what the API builds to check a spec.
    """
    from engine import model_from_json  # noqa: PLC0415 - the engine is imported where models are built
    from engine.saving.code_layers import first_code_layer  # noqa: PLC0415
    from engine.variables import shapes_only as no_memory  # noqa: PLC0415

    where = first_code_layer(config, field)
    if where:
        raise InvalidInput("Lambda layers carry Python code, which fitq never runs", field=where)
    try:
        if shapes_only:
            with no_memory():
                return model_from_json(json.dumps(config))
        return model_from_json(json.dumps(config))
    except BUILD_ERRORS as exc:
        raise InvalidInput(f"the model does not build: {type(exc).__name__}: {exc}", field=field) from exc


def _declared_layers(config: Any) -> int:
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return 1
    return sum(_declared_layers(layer) for layer in layers)


def check_declared_layers(config: dict[str, Any], max_layers: int, field: str = "model") -> None:
    """422 when a model config declares more than ``max_layers`` layers (counted before building)."""
    n = _declared_layers(config)
    if n > max_layers:
        raise InvalidInput(f"the model declares {n} layers, more than this server's limit of {max_layers} "
                           "(FITQ_MAX_LAYERS)", field=field)


def check_size(model, max_params: int, max_layers: int, field: str = "model") -> int:
    """The model's parameter count (from weight shapes); 422 when it has more than ``max_params``
    parameters or ``max_layers`` layers."""
    params = sum(math.prod(w.shape) for w in model.weights)
    if params > max_params:
        raise InvalidInput(f"the model has {params:,} parameters, more than this server's limit of "
                           f"{max_params:,} (FITQ_MAX_PARAMS)", field=field)
    layers = len(getattr(model, "layers", []))
    if layers > max_layers:
        raise InvalidInput(f"the model has {layers} layers, more than this server's limit of {max_layers} "
                           "(FITQ_MAX_LAYERS)", field=field)
    return params


def compile_kwargs(spec: CompileSpec) -> dict[str, Any]:
    """Keyword arguments for ``model.compile`` from a spec (absent options keep Keras's defaults)."""
    return spec.model_dump(exclude_none=True)


def load_trained(store: Store, job_id: str, compile_spec: CompileSpec | None = None, backend: str = "numpy"):
    """A finished job's model with its trained weights (compiled when ``compile_spec`` is given)."""
    model = build_model(store.read_json(store.job_file(job_id, layout.MODEL)))
    model.use_backend(backend)
    if compile_spec is not None:
        model.compile(**compile_kwargs(compile_spec))
    model.set_weights(store.load_weights(job_id))
    return model
