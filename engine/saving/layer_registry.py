"""Layer and model classes by Keras class name, for deserialization (a leaf module: the layers and
models register here, and the serializer, which the layers use for their sub-layers, reads it)."""
from __future__ import annotations

_LAYERS: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


def register(cls=None, *, aliases=()):
    """Class decorator: makes ``cls`` loadable by its name (and Keras 1/2 ``aliases``)."""

    def wrap(c):
        _LAYERS[c.__name__] = c
        for a in aliases:
            _ALIASES[a] = c.__name__
        return c

    return wrap(cls) if cls is not None else wrap


def get_class(class_name: str) -> type:
    """The layer class called ``class_name``; ValueError naming it when there is none."""
    name = _ALIASES.get(class_name, class_name)
    if name not in _LAYERS:
        raise ValueError(
            f"Unknown layer: '{class_name}'. fitq supports these layers: {', '.join(sorted(_LAYERS))}"
        )
    return _LAYERS[name]


def names() -> list[str]:
    return sorted(_LAYERS)
