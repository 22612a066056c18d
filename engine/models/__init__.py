"""Models: Functional ``Model``, ``Sequential``, and loading from JSON and model files."""
from engine.models.model import Functional, Model
from engine.models.sequential import Sequential
from engine.saving import model_file, serialization


def model_from_json(json_string, custom_objects=None):
    """A model from Keras 3 or Keras 2 ``to_json()`` text."""
    return serialization.model_from_json(json_string, custom_objects=custom_objects)


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by ``model.save``."""
    return model_file.load_model(filepath, compile=compile)
