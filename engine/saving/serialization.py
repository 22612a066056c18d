"""Layer configs: Keras 3's ``{"module", "class_name", "config", "registered_name"}`` entries
written; Keras 3 and Keras 2 entries read; ``to_json`` / ``model_from_json``.

Each class owns its config (``get_config`` / ``from_config``); this module only names the class
(``Layer.saved_as``: models name themselves, a built-in layer is ``keras.layers.<ClassName>``) and
finds it again through :mod:`engine.saving.layer_registry`, where every layer and model class
registers. Layer configs are turned into Keras 3's form here (dtype policy dicts); models and the
InputLayer write theirs in that form already (``Layer.config_is_keras3``).

Keras 2 configs (tf.keras 2.x and standalone Keras 2.3) are first rewritten into this form by
:mod:`engine.saving.keras2`.
"""
from __future__ import annotations

import json

from engine.saving import keras2
from engine.saving.code_layers import carries_code
from engine.saving.layer_registry import get_class


# ------------------------------------------------------------------- writing
def to_json(model, **kwargs) -> str:
    """``model`` as Keras 3 ``to_json()`` text (``kwargs`` go to ``json.dumps``).

    A model read from a Keras 1/2 file keeps that file's ``keras_version`` at the top, so
    fitq reads it back with Keras 2's semantics (Keras 3 ignores the key).
    """
    return json.dumps(serialize_model(model), **kwargs)


def serialize_model(model) -> dict:
    """``serialize_layer(model)`` plus the ``keras_version`` of the Keras 1/2 file it came from."""
    config = serialize_layer(model)
    version = getattr(model, "keras_version", None)
    if keras2.is_keras2_version(version):
        config["keras_version"] = version
    return config


def dtype_policy(name: str) -> dict:
    """Keras 3's serialized dtype policy for ``name``."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def keras3_layer_config(layer) -> dict:
    """``layer.get_config()`` in Keras 3's form: dtype policy dict, no ``batch_input_shape``."""
    config = dict(layer.get_config())
    if layer.config_is_keras3:
        return config
    config.pop("batch_input_shape", None)
    if isinstance(config.get("dtype"), str):
        config["dtype"] = dtype_policy(config["dtype"])
    return config


def keras_class_name(layer) -> str:
    """The class name Keras 3 writes for ``layer`` ("Functional" for a Model)."""
    return layer.saved_as[1] if layer.saved_as else type(layer).__name__


def serialize_layer(layer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` of a layer or model, as Keras 3 writes it."""
    module, class_name, registered_name = layer.saved_as or ("keras.layers", type(layer).__name__, None)
    return {"module": module, "class_name": class_name, "config": keras3_layer_config(layer),
            "registered_name": registered_name}


# ------------------------------------------------------------------- reading
def model_from_json(json_string, custom_objects=None):
    """A model from Keras 3 or Keras 2 ``to_json()`` text (str, bytes or an already parsed dict)."""
    if isinstance(json_string, dict):
        config = json_string
    else:
        try:
            config = json.loads(json_string)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The model JSON could not be parsed: {exc}") from exc
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("The model JSON must be an object with a 'class_name' and a 'config' (Keras to_json output)")
    return deserialize_layer(config)


def _refuse_code(class_name, config):
    if carries_code(class_name, config):
        raise ValueError(
            f"Layer class '{class_name}' carries Python code; code in models is not allowed "
            "(fitq never runs code from a model file)"
        )


def deserialize_layer(config, custom_objects=None, keras_version=None):
    """A layer or model from ``{"class_name", "config", ...}`` in Keras 3 or Keras 2 form.

    A config written by Keras 1/2 (``keras_version``, given or in the config, or Keras 2's
    form) is read with Keras 2's definitions where Keras 3 changed them; models keep that
    version as ``model.keras_version`` (None for Keras 3).
    """
    if keras2.is_reading():
        return _deserialize(config)
    version = keras2.keras_version_of(config, keras_version)
    with keras2.reading(version):
        return _deserialize(config)


def _deserialize(config):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A layer config must be a dict with 'class_name' and 'config', got {config!r}")
    class_name = config["class_name"]
    inner = config.get("config")
    _refuse_code(class_name, inner)
    registered = config.get("registered_name")
    if registered not in (None, class_name):
        raise ValueError(f"Unknown layer: '{registered}' (a custom layer); fitq loads only Keras's built-in layers")
    if not isinstance(class_name, str):
        raise ValueError(f"Layer 'class_name' must be a string, got {class_name!r}")
    cls = get_class(class_name)
    if cls.saved_as is not None:  # a model reads its own config, in Keras 3 or Keras 2 form
        model = cls.from_config(inner)
        model.keras_version = keras2.version_being_read()
        return model
    if not isinstance(inner, dict):
        raise ValueError(f"Layer '{class_name}' needs a 'config' dict, got {inner!r}")
    keras2_file = keras2.is_keras2_version(keras2.version_being_read())
    if keras2_file:
        inner = keras2.keras2_semantics(cls.__name__, inner)
    kwargs = keras2.translate_layer_config(cls, inner, class_name)
    try:
        layer = cls.from_config(kwargs)
    except TypeError as exc:
        raise ValueError(f"Layer '{class_name}' cannot be built from its config: {exc}") from exc
    return keras2.keras2_layer(layer) if keras2_file else layer
