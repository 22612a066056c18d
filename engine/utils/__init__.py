"""Keras's ``utils``: ``Sequence``, ``to_categorical``, ``normalize``, ``set_random_seed``."""
from engine.random import set_random_seed
from engine.streaming.sequence import Sequence
from engine.utils.np_utils import normalize, to_categorical

__all__ = ["Sequence", "normalize", "set_random_seed", "to_categorical"]
