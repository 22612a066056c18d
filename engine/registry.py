"""Keras's ``get`` / ``serialize`` / ``deserialize`` for one kind of object, written once.

A :class:`Registry` knows one kind's classes by class name and snake-case name (plus aliases) and
turns identifiers into objects: ``get("max_norm")``, ``get({"class_name": "MaxNorm", "config":
{...}})``, ``get(MaxNorm)``, ``get(instance)``. :func:`serialized` is Keras 3's dict form of any
object with a ``get_config``; losses, metrics and optimizers use it too.
"""
from __future__ import annotations

from typing import Any, Callable

from engine import naming


def serialized(module: str, obj) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` of ``obj``, as Keras 3 writes a built-in."""
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(), "registered_name": None}


class Configurable:
    """Base of the objects a :class:`Registry` makes: a config (no arguments unless a subclass has
    some), ``from_config`` that passes it back to the constructor, and a repr that shows it."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class Registry:
    """The ``kind`` objects (subclasses of ``base``) that Keras's ``keras.<module>`` names.

    ``aliases``: other names (Keras 2's, or factory functions such as ``l1_l2``, which only names
    reach); ``dropped_keys``: config keys older Keras versions wrote and Keras 3 ignores.
    """

    def __init__(self, kind: str, module: str, base: type, classes, aliases: dict[str, Callable] | None = None,
                 dropped_keys=()):
        self.kind, self.module, self.base = kind, module, base
        self.by_name: dict[str, Callable] = {cls.__name__: cls for cls in classes}
        self.by_name.update({naming.to_snake_case(cls.__name__): cls for cls in classes})
        self.by_name.update(aliases or {})
        self.dropped_keys = frozenset(dropped_keys)

    def error(self, identifier) -> ValueError:
        return ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}")

    def get(self, identifier, other: Callable[[Any], Any] | None = None):
        """An object from a name, a config dict, a class or an instance; None stays None.

        Anything else goes to ``other`` (a callable used as is, an array, ...), which returns the
        object or None; without it, or when it returns None, ValueError names the identifier.
        """
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            factory = self.by_name.get(identifier)
            if factory is None:
                raise self.error(identifier)
            return factory()
        if isinstance(identifier, dict):
            return self.from_config(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        found = other(identifier) if other is not None else None
        if found is None:
            raise self.error(identifier)
        return found

    def from_config(self, identifier: dict):
        """An instance from ``{"class_name", "config"}`` (a class's name, not a factory's)."""
        class_name = identifier.get("class_name")
        cls = self.by_name.get(class_name) if isinstance(class_name, str) else None
        if not isinstance(cls, type):
            raise self.error(identifier)
        config = {k: v for k, v in (identifier.get("config") or {}).items() if k not in self.dropped_keys}
        try:
            return cls.from_config(config)
        except TypeError as exc:
            raise ValueError(f"Invalid config for {self.kind} {class_name!r}: {exc}") from exc

    def serialize(self, obj) -> dict | None:
        """Keras 3's dict form of ``get(obj)``; None for None."""
        if obj is None:
            return None
        found = self.get(obj, other=lambda x: x)
        if not isinstance(found, self.base):
            raise ValueError(f"Cannot serialize {self.kind} {obj!r}: not a Keras {self.kind}")
        return serialized(self.module, found)
