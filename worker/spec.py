"""The job spec: one pydantic model, read by the API at submit time and by the worker that runs it.

A spec mirrors Keras: ``compile`` and ``fit`` take Keras's argument names and defaults (minus what
cannot travel over the wire: Python callables, ``target_tensors``); ``data`` names arrays in the store.
An array reference is ``"DATASET_ID/ARRAY"`` or ``{"dataset", "array", "columns"?}``; ``x``, ``y`` and
``sample_weight`` take one reference, a list (by position) or an object (by input / output name).
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.errors import InvalidInput

CALLBACKS_OVER_THE_WIRE = ("EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN")


class Strict(BaseModel):
    """Unknown fields are errors, so a typo is a 422 naming it rather than a silently ignored option."""

    model_config = ConfigDict(extra="forbid")


class ArrayRefObject(Strict):
    """``{"dataset": "ds_...", "array": "x", "columns": [0, 2]}``; ``columns`` picks columns of a 2-D array."""

    dataset: str
    array: str
    columns: list[int] | list[str] | None = None


Seed = Annotated[int, Field(ge=0, lt=2**32)]
"""A random seed as NumPy's generators take it: 0 to 2**32 - 1 (a negative seed is a 422, not a failed job)."""

ArrayRef = Union[str, ArrayRefObject]
ArraysArg = Union[ArrayRef, list[ArrayRef], dict[str, ArrayRef]]


class ValidationData(Strict):
    """Keras's ``validation_data=(x, y[, sample_weight])`` as references."""

    x: ArraysArg
    y: ArraysArg
    sample_weight: ArraysArg | None = None


class GeneratorSpec(Strict):
    """A streaming source over one dataset (Keras's ``fit_generator`` / a ``Sequence``).

    Arrays: ``x`` and ``y`` name arrays of ``dataset`` (memory-mapped, read a batch at a time).
    Image folders: ``x``/``y`` are left out; images are decoded on the fly at ``target_size`` with
    labels from the folder names (``class_mode`` as in ``flow_from_directory``).
    ``augment`` takes ``ImageDataGenerator`` arguments.
    """

    dataset: str
    x: str | None = None
    y: str | None = None
    batch_size: int = Field(default=32, ge=1)
    shuffle: bool = True
    seed: Seed | None = None
    augment: dict[str, Any] | None = None
    target_size: tuple[int, int] | None = None
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb"
    class_mode: Literal["categorical", "binary", "sparse", "input"] | None = "categorical"
    validation_split: float = Field(default=0.0, ge=0.0, lt=1.0)


class DataSpec(Strict):
    """What to train on: arrays (``x``, ``y``, ...) or a ``generator``, never both."""

    x: ArraysArg | None = None
    y: ArraysArg | None = None
    sample_weight: ArraysArg | None = None
    validation_data: ValidationData | None = None
    generator: GeneratorSpec | None = None
    validation_generator: GeneratorSpec | None = None
    allow_nonfinite: bool = Field(default=False, description="Train on arrays that hold NaN or Inf "
                                  "(refused by default: such a job's loss is NaN from its first batch).")

    @model_validator(mode="after")
    def _one_source(self) -> "DataSpec":
        if self.generator is None and self.x is None:
            raise ValueError("give either 'x' (with 'y') or 'generator'")
        if self.generator is not None and self.x is not None:
            raise ValueError("give either 'x' or 'generator', not both")
        return self


class CompileSpec(Strict):
    """Keras's ``compile`` arguments (optimizer name or ``{"class_name", "config"}``, losses, metrics)."""

    optimizer: str | dict[str, Any] = "rmsprop"
    loss: str | dict[str, Any] | list[Any] | None = None
    metrics: list[Any] | dict[str, Any] | None = None
    loss_weights: list[float] | dict[str, float] | None = None
    sample_weight_mode: str | list[Any] | dict[str, Any] | None = None
    weighted_metrics: list[Any] | dict[str, Any] | None = None

    @field_validator("loss")
    @classmethod
    def _loss_given(cls, value):
        if value is None:
            raise ValueError("a loss is needed to train")
        return value


class CallbackSpec(Strict):
    """A Keras callback that needs no code: ``{"class_name": "EarlyStopping", "config": {...}}``."""

    class_name: Literal[CALLBACKS_OVER_THE_WIRE]  # type: ignore[valid-type]
    config: dict[str, Any] = Field(default_factory=dict)


class FitSpec(Strict):
    """Keras's ``fit`` / ``fit_generator`` arguments with Keras's defaults."""

    epochs: int = Field(default=1, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    verbose: Literal[0, 1, 2] = 1
    validation_split: float = Field(default=0.0, ge=0.0, lt=1.0)
    shuffle: bool = True
    class_weight: dict[str, float] | None = None
    initial_epoch: int = Field(default=0, ge=0)
    steps_per_epoch: int | None = Field(default=None, ge=1)
    validation_steps: int | None = Field(default=None, ge=1)
    validation_freq: int | list[int] = 1
    max_queue_size: int = Field(default=10, ge=1)
    workers: int = Field(default=1, ge=0)
    use_multiprocessing: bool = False
    callbacks: list[CallbackSpec] = Field(default_factory=list)

    @field_validator("class_weight")
    @classmethod
    def _class_indices(cls, value):
        if value is not None:
            for key in value:
                if not key.lstrip("-").isdigit():
                    raise ValueError(f"class_weight keys are class indices, got {key!r}")
        return value

    @model_validator(mode="after")
    def _epochs_after_initial(self) -> "FitSpec":
        if self.initial_epoch >= self.epochs:
            raise ValueError(f"initial_epoch ({self.initial_epoch}) must be less than epochs ({self.epochs})")
        return self


class JobSpec(Strict):
    """A training job: ``POST /v1/jobs`` body, stored as ``spec.json`` and read by the worker."""

    name: str | None = Field(default=None, max_length=200)
    model: dict[str, Any] | str
    compile: CompileSpec
    data: DataSpec
    fit: FitSpec = Field(default_factory=FitSpec)
    initial_weights: str | None = None
    backend: Literal["numpy", "cupy"] = "numpy"
    device: Literal["cpu", "gpu"] | None = Field(
        default=None, description="Where the job trains: 'gpu' waits for a GPU worker and trains on CuPy; "
                                  "unset takes the server's FITQ_DEFAULT_DEVICE ('cupy' as backend means 'gpu').")
    seed: Seed | None = Field(default=None,
                             description="Seeds the job's random generators (keras.utils.set_random_seed): "
                                         "the same spec and data then train to the same weights.")

    @model_validator(mode="after")
    def _device_and_backend_agree(self) -> "JobSpec":
        if self.device == "cpu" and self.backend == "cupy":
            raise ValueError("backend 'cupy' runs on a GPU: drop it or set device 'gpu'")
        return self

    @property
    def array_backend(self) -> str:
        """The engine backend the job trains with: ``cupy`` on a GPU, ``numpy`` otherwise."""
        return "cupy" if self.device == "gpu" or self.backend == "cupy" else "numpy"

    @field_validator("model")
    @classmethod
    def _model_object(cls, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"the model is not valid JSON: {exc}") from exc
        if not isinstance(value, dict) or "class_name" not in value:
            raise ValueError("the model must be a Keras to_json() object with a 'class_name'")
        return value


class PredictRequest(Strict):
    """``POST /v1/jobs/{id}/predict``: TensorFlow Serving's ``instances`` (rows) or ``inputs`` (columns),
    or ``dataset`` references predicted by a job on the predict queue."""

    instances: list[Any] | None = None
    inputs: Any | None = None
    dataset: ArraysArg | None = None
    batch_size: int = Field(default=32, ge=1)
    signature_name: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "PredictRequest":
        given = [k for k in ("instances", "inputs", "dataset") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'instances', 'inputs' or 'dataset'")
        return self


class PredictJob(Strict):
    """A predict job as stored (``predict.json``): the trained job it predicts with and the data."""

    parent: str
    dataset: ArraysArg
    batch_size: int = Field(default=32, ge=1)


class EvaluateRequest(Strict):
    """``POST /v1/jobs/{id}/evaluate``: ``x``/``y``/``sample_weight`` as array references or inline
    values (a nested list for a single input / output, an object of them keyed by name)."""

    x: Any
    y: Any
    sample_weight: Any | None = None
    batch_size: int = Field(default=32, ge=1)
