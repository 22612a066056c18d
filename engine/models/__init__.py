"""Models: Functional ``Model``, ``Sequential``, and loading from JSON."""
from engine.models.model import Functional, Model
from engine.models.sequential import Sequential


def model_from_json(json_string, custom_objects=None):
    """A model from Keras 3 or Keras 2 ``to_json()`` text."""
    from engine.saving.serialization import model_from_json as _from_json

    return _from_json(json_string, custom_objects=custom_objects)


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by ``model.save``."""
    from engine.saving.model_file import load_model as _load

    return _load(filepath, compile=compile)
