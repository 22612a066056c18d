"""An image folder (``directory/<class>/<image>``) as a Sequence of decoded, resized, optionally
augmented batches: ``ImageDataGenerator(...).flow_from_directory(...)``."""
from __future__ import annotations

from engine.preprocessing.image import ImageDataGenerator


def image_folder(directory, target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                 batch_size=32, shuffle=True, seed=None, subset=None, validation_split=0.0,
                 interpolation="nearest", augment=None):
    """A ``DirectoryIterator`` over ``directory``; ``augment``: ``ImageDataGenerator`` arguments.

    ``subset`` ("training" / "validation") with ``validation_split`` takes, per class, the first
    ``validation_split`` of the sorted files for validation and the rest for training.
    """
    generator = ImageDataGenerator(validation_split=validation_split, **(augment or {}))
    return generator.flow_from_directory(directory, target_size=target_size, color_mode=color_mode, classes=classes,
                                         class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                         subset=subset, interpolation=interpolation)
