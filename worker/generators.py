"""Streaming sources over the store, as Keras ``Sequence`` objects (``__len__``, ``__getitem__``,
``on_epoch_end``), for ``fit`` with a ``generator`` in the job spec.

- :class:`ArraySequence` reads batches from memory-mapped ``.npy`` arrays, so an array larger than
  memory trains in bounded memory.
- :class:`ImageFolderSequence` decodes ``images/<class>/<file>`` on the fly at ``target_size`` with
  labels from the folder names, as ``flow_from_directory`` does.

Both shuffle per epoch with a seeded generator and apply ``ImageDataGenerator`` augmentation
(``random_transform`` then ``standardize``) per sample when the spec gives ``augment`` — to the
validation subset too, as one Keras generator with ``subset=`` does. Featurewise statistics
(``featurewise_center``, ...) are fitted on up to 1000 training samples first.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from engine import random as engine_random

from worker import layout
from worker.errors import InvalidInput
from worker.ingest import IMAGE_SUFFIXES
from worker.spec import GeneratorSpec
from worker.store import Store


FEATUREWISE = ("featurewise_center", "featurewise_std_normalization", "zca_whitening")
FEATUREWISE_SAMPLES = 1000


def image_data_generator(augment: dict | None):
    """An ``engine`` ``ImageDataGenerator`` built from the spec's ``augment`` arguments, or None."""
    if not augment:
        return None
    from engine.preprocessing.image import ImageDataGenerator  # noqa: PLC0415 - only streaming jobs need it

    try:
        return ImageDataGenerator(**augment)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid augmentation: {exc}", field="data.generator.augment") from exc


class _Shuffled:
    """Per-epoch order of ``n`` samples: the indices ``[start, stop)`` shuffled with a seeded generator."""

    def __init__(self, indices: np.ndarray, batch_size: int, shuffle: bool, seed: int | None):
        self.indices = indices
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = engine_random.generator(seed)  # tracked, so a checkpoint carries its state
        self.order = indices.copy()
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def batch_indices(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range for {len(self)} batches")
        return np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(self.indices) if self.shuffle else self.indices.copy()


class ArraySequence(_Shuffled):
    """Batches ``(x[idx], y[idx])`` of ``.npy`` files opened as memory maps; shapes ``(batch, ...)``.

    It holds the files' paths, not their data: a copy sent to another process (``use_multiprocessing``)
    maps the files again instead of carrying the arrays.
    """

    def __init__(self, x_path: Path, y_path: Path | None, indices: np.ndarray, batch_size: int,
                 shuffle: bool, seed: int | None, augmenter=None):
        super().__init__(indices, batch_size, shuffle, seed)
        self.x_path, self.y_path, self.augmenter = x_path, y_path, augmenter
        self._maps = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self._maps is None:
            x = np.load(self.x_path, mmap_mode="r", allow_pickle=False)
            y = np.load(self.y_path, mmap_mode="r", allow_pickle=False) if self.y_path else None
            self._maps = (x, y)
        return self._maps

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": None}

    def __getitem__(self, i: int):
        idx = self.batch_indices(i)
        x, y = self._arrays()
        xb = np.asarray(x[idx], dtype=np.float32 if self.augmenter else None)
        if self.augmenter is not None:
            xb = np.stack([self.augmenter.standardize(self.augmenter.random_transform(s)) for s in xb])
        if y is None:
            return (xb,)
        return xb, np.asarray(y[idx])


class ImageFolderSequence(_Shuffled):
    """Batches of decoded images ``(batch, h, w, channels)`` float32 in [0, 255] and their labels."""

    MODES = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}

    def __init__(self, files: list[Path], labels: np.ndarray, num_classes: int, spec: GeneratorSpec,
                 indices: np.ndarray, seed: int | None, augmenter=None):
        super().__init__(indices, spec.batch_size, spec.shuffle, seed)
        self.files, self.labels, self.num_classes = files, labels, num_classes
        self.spec, self.augmenter = spec, augmenter

    def _image(self, path: Path) -> np.ndarray:
        from PIL import Image  # noqa: PLC0415 - only image datasets need Pillow

        with Image.open(path) as img:
            img = img.convert(self.MODES[self.spec.color_mode])
            h, w = self.spec.target_size
            if img.size != (w, h):
                img = img.resize((w, h), Image.NEAREST)
            arr = np.asarray(img, dtype=np.float32)
        return arr[..., None] if arr.ndim == 2 else arr

    def __getitem__(self, i: int):
        idx = self.batch_indices(i)
        xb = np.stack([self._image(self.files[j]) for j in idx])
        if self.augmenter is not None:
            xb = np.stack([self.augmenter.standardize(self.augmenter.random_transform(s)) for s in xb])
        labels = self.labels[idx]
        mode = self.spec.class_mode
        if mode == "input":
            return xb, xb.copy()
        if mode is None:
            return (xb,)
        if mode == "categorical":
            return xb, np.eye(self.num_classes, dtype=np.float32)[labels]
        if mode == "binary":
            return xb, labels.astype(np.float32)
        return xb, labels.astype(np.int64)


def image_files(store: Store, dataset: str, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Every image of an image-folder dataset, sorted, and its class index."""
    root = store.local_dir(store.dataset_dir(dataset) / layout.DATASET_IMAGES)
    files, labels = [], []
    for index, cls in enumerate(classes):
        for path in sorted((root / cls).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)
                labels.append(index)
    return files, np.asarray(labels, dtype=np.int64)


def _split(n: int, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """As ``fit(validation_split=)``: the last fraction of the samples validates."""
    cut = n - int(n * validation_split)
    return np.arange(cut), np.arange(cut, n)


def _split_per_class(labels: np.ndarray, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """As ``flow_from_directory``: the first ``validation_split`` of each class's files validate."""
    train, val = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        cut = int(len(idx) * validation_split)
        val.append(idx[:cut])
        train.append(idx[cut:])
    return np.concatenate(train), np.concatenate(val)


def sequence(store: Store, tenant: str, spec: GeneratorSpec, field: str):
    """``(train, validation_or_None)`` Sequences for one generator spec."""
    meta = store.dataset_meta(spec.dataset, tenant, field=f"{field}.dataset")
    augmenter = image_data_generator(spec.augment)
    if "images" in meta:
        if spec.target_size is None:
            raise InvalidInput("an image dataset needs 'target_size': [height, width]", field=f"{field}.target_size")
        classes = meta["images"]["classes"]
        files, labels = image_files(store, spec.dataset, classes)
        train_idx, val_idx = _split_per_class(labels, spec.validation_split)
        make = lambda idx, aug: ImageFolderSequence(files, labels, len(classes), spec, idx, spec.seed, aug)  # noqa: E731
    else:
        if spec.x is None:
            raise InvalidInput("an array dataset needs 'x' (and usually 'y') array names", field=f"{field}.x")
        x_path = store.array_path(spec.dataset, spec.x, f"{field}.x")
        y_path = store.array_path(spec.dataset, spec.y, f"{field}.y") if spec.y else None
        n = meta["arrays"][spec.x]["shape"][0]
        if y_path is not None and meta["arrays"][spec.y]["shape"][0] != n:
            raise InvalidInput(f"arrays {spec.x!r} and {spec.y!r} have different numbers of samples", field=field)
        train_idx, val_idx = _split(n, spec.validation_split)
        make = lambda idx, aug: ArraySequence(x_path, y_path, idx, spec.batch_size, spec.shuffle, spec.seed, aug)  # noqa: E731
    if augmenter is not None and any(spec.augment.get(k) for k in FEATUREWISE):
        plain = make(train_idx, None)
        batches = range(min(len(plain), math.ceil(FEATUREWISE_SAMPLES / spec.batch_size)))
        augmenter.fit(np.concatenate([plain[i][0] for i in batches]).astype(np.float32))
    validation = make(val_idx, augmenter) if len(val_idx) else None
    return make(train_idx, augmenter), validation


def training_sequences(store: Store, tenant: str, spec: GeneratorSpec, validation_spec: GeneratorSpec | None):
    """The training Sequence and the validation one (a separate spec, or the spec's ``validation_split``)."""
    train, validation = sequence(store, tenant, spec, "data.generator")
    if validation_spec is not None:
        validation, _ = sequence(store, tenant, validation_spec, "data.validation_generator")
    return train, validation
