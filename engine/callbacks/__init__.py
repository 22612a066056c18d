"""Keras callbacks: the hooks fit, evaluate and predict call, and the standard callbacks.

``get({"class_name": "EarlyStopping", "config": {...}})`` builds one of the
callbacks that are pure data (no Python functions): EarlyStopping,
ReduceLROnPlateau, TerminateOnNaN, CSVLogger, ModelCheckpoint.
"""
from __future__ import annotations

from engine.callbacks.callback import Callback
from engine.callbacks.callback_list import CallbackList
from engine.callbacks.csv_logger import CSVLogger
from engine.callbacks.early_stopping import EarlyStopping
from engine.callbacks.history import History
from engine.callbacks.lambda_callback import LambdaCallback
from engine.callbacks.learning_rate_scheduler import LearningRateScheduler
from engine.callbacks.model_checkpoint import ModelCheckpoint
from engine.callbacks.monitor_callback import MonitorCallback
from engine.callbacks.progbar_logger import ProgbarLogger
from engine.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from engine.callbacks.remote_monitor import RemoteMonitor
from engine.callbacks.terminate_on_nan import TerminateOnNaN

# Callbacks a config dict can name: their arguments are all plain data.
DATA_CALLBACKS = {cls.__name__: cls for cls in
                  (EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, CSVLogger, ModelCheckpoint)}


def get(identifier) -> Callback:
    """A callback from ``{"class_name": ..., "config": {...}}`` (or a Callback instance, returned as is)."""
    if isinstance(identifier, Callback):
        return identifier
    if not isinstance(identifier, dict) or "class_name" not in identifier:
        raise ValueError(f"Could not interpret callback identifier: {identifier!r}")
    class_name = identifier["class_name"]
    cls = DATA_CALLBACKS.get(class_name)
    if cls is None:
        raise ValueError(
            f"Unknown callback: {class_name!r}. Callbacks given as config can be one of {sorted(DATA_CALLBACKS)}"
        )
    config = identifier.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"The config of callback {class_name!r} must be a dict, got {config!r}")
    try:
        return cls(**config)
    except TypeError as exc:
        raise ValueError(f"Invalid config for callback {class_name!r}: {exc}") from exc


__all__ = [
    "Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau",
    "RemoteMonitor", "TerminateOnNaN", "get",
]
