"""Building engine models from a spec or from a finished job's artifacts."""
from __future__ import annotations

import json
from typing import Any

from worker.errors import InvalidInput
from worker.spec import CompileSpec, code_layers
from worker.store import Store


def build_model(config: dict[str, Any], field: str = "model"):
    """``engine.model_from_json`` of a Keras ``to_json()`` object; 422 naming ``field`` when it cannot build.

    Models carrying code (``Lambda`` layers) are refused before anything is built: code in a model
    is never executed.
    """
    from engine import model_from_json  # noqa: PLC0415 - the engine is imported where models are built

    where = code_layers(config, field)
    if where:
        raise InvalidInput("Lambda layers carry Python code, which fitq never runs", field=where)
    try:
        return model_from_json(json.dumps(config))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidInput(f"the model does not build: {type(exc).__name__}: {exc}", field=field) from exc


def compile_kwargs(spec: CompileSpec) -> dict[str, Any]:
    """Keyword arguments for ``model.compile`` from a spec (absent options keep Keras's defaults)."""
    return spec.model_dump(exclude_none=True)


def load_trained(store: Store, job_id: str, compile_spec: CompileSpec | None = None, backend: str = "numpy"):
    """A finished job's model with its trained weights (compiled when ``compile_spec`` is given)."""
    config = store.read_json(store.job_file(job_id, "model.json"))
    model = build_model(config)
    model.use_backend(backend)
    if compile_spec is not None:
        model.compile(**compile_kwargs(compile_spec))
    model.set_weights(store.load_weights(job_id))
    return model
