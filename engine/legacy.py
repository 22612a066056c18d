"""Keras 1 argument names that Keras 2 still took, with Keras 2's warning (``keras/legacy/interfaces.py``).

``fit(nb_epoch=)``, ``fit_generator(samples_per_epoch=, nb_epoch=, nb_val_samples=, nb_worker=,
pickle_safe=, max_q_size=)``, ``evaluate_generator`` / ``predict_generator(val_samples=, nb_worker=,
pickle_safe=, max_q_size=)``: each is renamed to its Keras 2 argument with a ``UserWarning``.
``samples_per_epoch`` counted samples, ``steps_per_epoch`` counts batches: as Keras 2 did, it is
divided by the generator's ``batch_size`` when the generator has one.
"""
from __future__ import annotations

import functools
import warnings

_GENERATOR = {"samples_per_epoch": "steps_per_epoch", "nb_epoch": "epochs", "nb_val_samples": "validation_steps",
              "nb_worker": "workers", "pickle_safe": "use_multiprocessing", "max_q_size": "max_queue_size"}
_EVAL_GENERATOR = {"val_samples": "steps", "nb_worker": "workers", "pickle_safe": "use_multiprocessing",
                   "max_q_size": "max_queue_size"}
CONVERSIONS = {"fit": {"nb_epoch": "epochs"}, "fit_generator": _GENERATOR,
               "evaluate_generator": _EVAL_GENERATOR, "predict_generator": _EVAL_GENERATOR}
_COUNTS_SAMPLES = {"samples_per_epoch", "val_samples", "nb_val_samples"}


def keras1_arguments(method):
    """Decorator: ``method`` (one of ``CONVERSIONS``) also takes its Keras 1 keyword names."""
    conversions = CONVERSIONS[method.__name__]

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        old = [k for k in kwargs if k in conversions]
        if old:
            kwargs = _convert(method.__name__, args, kwargs, conversions)
        return method(self, *args, **kwargs)

    return wrapper


def _convert(name, args, kwargs, conversions):
    out = {}
    for key, value in kwargs.items():
        new = conversions.get(key)
        if new is None:
            out[key] = value
            continue
        if new in kwargs:
            raise TypeError(f"`{name}` got both the Keras 1 argument `{key}` and its Keras 2 name `{new}`")
        if key == "samples_per_epoch":
            generator = args[0] if args else kwargs.get("generator")
            batch_size = getattr(generator, "batch_size", None)
            value = value // batch_size if isinstance(batch_size, int) and batch_size > 0 else value
        out[new] = value
    renamed = ", ".join(f"{new}={out[new]!r}" for key, new in conversions.items() if key in kwargs)
    warnings.warn(f"Update your `{name}` call to the Keras 2 API: `{name}(..., {renamed})`", UserWarning,
                  stacklevel=3)
    if _COUNTS_SAMPLES & set(kwargs):
        warnings.warn(f"The semantics of the Keras 2 arguments of `{name}` are not those of the Keras 1 ones: "
                      "steps count batches, not samples", UserWarning, stacklevel=3)
    return out


def warn_keras1_call(call: str, keras2_call: str) -> None:
    """Keras 2's warning for a layer built with Keras 1 arguments."""
    warnings.warn(f"Update your `{call}` call to the Keras 2 API: `{keras2_call}`", UserWarning, stacklevel=3)
