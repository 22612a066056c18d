"""Keras 2's ``keras.utils.generic_utils``: the progress bar under its old module path."""
from engine.progbar import Progbar

__all__ = ["Progbar"]
