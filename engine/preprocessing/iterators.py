"""Iterators behind ``ImageDataGenerator.flow`` / ``flow_from_directory`` (Keras's legacy ones).

Each is a :class:`engine.utils.Sequence` (random access by batch index, reshuffled in
``on_epoch_end``) and also an endless iterator (``next()`` walks the epochs, as Keras's does).
With a ``seed``, the sample order of epoch ``e`` and the augmentation of batch ``i`` come from
generators seeded with ``(seed, e)`` and ``(seed, e, i)``: the same batches whichever worker
thread or process builds them. Without one, draws come from the global generator
(``engine.utils.set_random_seed``).
"""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from engine import random as engine_random
from engine.preprocessing.image_io import COLOR_MODES, array_to_img, img_to_array, load_img
from engine.streaming.sequence import Sequence

WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


class Iterator(Sequence):
    """Batches of ``batch_size`` over ``n`` samples, shuffled per epoch when ``shuffle``."""

    white_list_formats = WHITE_LIST_FORMATS

    def __init__(self, n, batch_size, shuffle, seed):
        self.n = int(n)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self._set_index_array()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("lock")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()

    def _set_index_array(self):
        self.index_array = np.arange(self.n)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch]) if self.seed is not None \
                else engine_random.global_generator()
            self.index_array = rng.permutation(self.n)

    def _batch_rng(self, epoch, index):
        """The generator of one batch's random transforms."""
        if self.seed is None:
            return engine_random.generator(None)
        return np.random.default_rng([self.seed, epoch, index])

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if idx >= len(self) or idx < -len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}")
        idx = idx % len(self)
        self.total_batches_seen += 1
        index_array = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(index_array, self._batch_rng(self.epoch, idx))

    def on_epoch_end(self):
        self.epoch += 1
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            if self.batch_index >= len(self):
                self.batch_index = 0
                self.on_epoch_end()
            idx, epoch = self.batch_index, self.epoch
            index_array = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
            self.batch_index += 1
            self.total_batches_seen += 1
        # Transforming the images is not under the lock, so threads can do it in parallel.
        return self._get_batches_of_transformed_samples(index_array, self._batch_rng(epoch, idx))

    def _get_batches_of_transformed_samples(self, index_array, rng):
        raise TypeError(f"{type(self).__name__} must implement _get_batches_of_transformed_samples")

    def _save(self, batch_x, index_array, rng):
        for i, j in enumerate(index_array):
            img = array_to_img(batch_x[i], self.data_format, scale=True)
            fname = f"{self.save_prefix}_{j}_{int(rng.integers(1e7))}.{self.save_format}"
            img.save(os.path.join(self.save_to_dir, fname))


def _transform(generator, x, rng):
    """One sample through the generator's random transform and standardization."""
    params = generator._random_parameters(x.shape, rng)
    x = generator.apply_transform(x, params)
    return generator.standardize(x)


class NumpyArrayIterator(Iterator):
    """Batches ``(x, y[, sample_weight])`` of a rank-4 image array ``x``, augmented by ``image_data_generator``.

    ``x`` may be ``(images, extra)`` or ``(images, [extras...])``: the extras are batched alongside
    (not augmented) and the inputs become ``[images, *extras]``.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format="channels_last", save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype="float32"):
        self.dtype = dtype
        if isinstance(x, (tuple, list)):
            x_misc = [np.asarray(x[1])] if not isinstance(x[1], list) else [np.asarray(xx) for xx in x[1]]
            x = x[0]
            for xx in x_misc:
                if len(x) != len(xx):
                    raise ValueError("All of the arrays in `x` should have the same length. Found a pair with: "
                                     f"len(x[0]) = {len(x)}, len(x[?]) = {len(xx)}")
        else:
            x_misc = []
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same length. "
                             f"Found: x.shape = {np.shape(x)}, y.shape = {np.shape(y)}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same length. "
                             f"Found: x.shape = {np.shape(x)}, sample_weight.shape = {np.shape(sample_weight)}")
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(f'Invalid subset name: {subset}; expected "training" or "validation".')
            split_idx = int(len(x) * image_data_generator._validation_split)
            if (y is not None and not ignore_class_split
                    and not np.array_equal(np.unique(y[:split_idx]), np.unique(y[split_idx:]))):
                raise ValueError("Training and validation subsets have different number of classes after the "
                                 "split. If your numpy arrays are sorted by the label, you might want to shuffle them.")
            part = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
            x = x[part]
            x_misc = [np.asarray(xx[part]) for xx in x_misc]
            if y is not None:
                y = y[part]
            if sample_weight is not None:
                sample_weight = sample_weight[part]
        self.x = np.asarray(x, dtype=self.dtype)
        self.x_misc = x_misc
        if self.x.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4. You passed an array with shape "
                             f"{self.x.shape}")
        channels_axis = 3 if data_format == "channels_last" else 1
        if self.x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(f'NumpyArrayIterator is set to use the data format convention "{data_format}" (channels '
                          f"on axis {channels_axis}), i.e. expected either 1, 3, or 4 channels on axis "
                          f"{channels_axis}. However, it was passed an array with shape {self.x.shape} "
                          f"({self.x.shape[channels_axis]} channels).", stacklevel=2)
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.data_format = data_format
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    def _get_batches_of_transformed_samples(self, index_array, rng):
        batch_x = np.zeros((len(index_array),) + self.x.shape[1:], dtype=self.dtype)
        for i, j in enumerate(index_array):
            batch_x[i] = _transform(self.image_data_generator, self.x[j].astype(self.dtype), rng)
        if self.save_to_dir:
            self._save(batch_x, index_array, rng)
        batch_x_miscs = [xx[index_array] for xx in self.x_misc]
        inputs = batch_x if not batch_x_miscs else [batch_x] + batch_x_miscs
        if self.y is None:
            return inputs
        if self.sample_weight is None:
            return inputs, self.y[index_array]
        return inputs, self.y[index_array], self.sample_weight[index_array]


def _iter_valid_files(directory, white_list_formats, follow_links):
    """``(root, filename)`` of the images under ``directory``, sorted by folder then name."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda item: item[0]):
        for fname in sorted(files):
            if fname.lower().endswith(white_list_formats):
                yield root, fname


def list_class_files(directory, classes, white_list_formats=WHITE_LIST_FORMATS, split=None, follow_links=False):
    """``(class indices (n,) int32, paths relative to directory)`` of every image, class by class.

    ``split=(lo, hi)`` keeps the files from ``int(lo * k)`` to ``int(hi * k)`` of each class's ``k``.
    """
    labels, filenames = [], []
    for index, cls in enumerate(classes):
        class_dir = os.path.join(directory, cls)
        files = list(_iter_valid_files(class_dir, white_list_formats, follow_links))
        if split:
            files = files[int(split[0] * len(files)):int(split[1] * len(files))]
        for root, fname in files:
            labels.append(index)
            filenames.append(os.path.join(cls, os.path.relpath(os.path.join(root, fname), class_dir)))
    return np.asarray(labels, dtype="int32"), filenames


class DirectoryIterator(Iterator):
    """Batches of images read from ``directory/<class>/<file>``, decoded and resized with Pillow.

    ``class_mode``: "categorical" (one-hot), "binary" / "sparse" (class index as float), "input"
    (the images again, for autoencoders) or None (images only).
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format="channels_last",
                 save_to_dir=None, save_prefix="", save_format="png", follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype="float32"):
        if color_mode not in COLOR_MODES:
            raise ValueError(f'Invalid color mode: {color_mode}; expected "rgb", "rgba", or "grayscale".')
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: {self.allowed_class_modes}")
        self.image_data_generator = image_data_generator
        self.target_size = tuple(int(v) for v in target_size)
        self.keep_aspect_ratio = keep_aspect_ratio
        self.color_mode = color_mode
        self.data_format = data_format
        channels = {"rgba": 4, "rgb": 3, "grayscale": 1}[color_mode]
        self.image_shape = self.target_size + (channels,) if data_format == "channels_last" \
            else (channels,) + self.target_size
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.interpolation = interpolation
        self.split = None
        if subset is not None:
            validation_split = image_data_generator._validation_split if image_data_generator else 0.0
            if subset == "validation":
                self.split = (0, validation_split)
            elif subset == "training":
                self.split = (validation_split, 1)
            else:
                raise ValueError(f'Invalid subset name: {subset};expected "training" or "validation"')
        self.subset = subset
        self.directory = os.fspath(directory)
        self.class_mode = class_mode
        self.dtype = dtype
        if not classes:
            classes = [d for d in sorted(os.listdir(self.directory))
                       if os.path.isdir(os.path.join(self.directory, d))]
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        self.classes, self.filenames = list_class_files(self.directory, classes, self.white_list_formats,
                                                        self.split, follow_links)
        self.samples = len(self.filenames)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self.filepaths = [os.path.join(self.directory, fname) for fname in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self):
        return self.classes

    def _get_batches_of_transformed_samples(self, index_array, rng):
        batch_x = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            with load_img(self.filepaths[j], color_mode=self.color_mode, target_size=self.target_size,
                          interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio) as img:
                x = img_to_array(img, data_format=self.data_format, dtype=self.dtype)
            if self.image_data_generator:
                x = _transform(self.image_data_generator, x, rng)
            batch_x[i] = x
        if self.save_to_dir:
            self._save(batch_x, index_array, rng)
        if self.class_mode == "input":
            return batch_x, batch_x.copy()
        if self.class_mode in {"binary", "sparse"}:
            return batch_x, self.classes[index_array].astype(self.dtype)
        if self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            batch_y[np.arange(len(batch_x)), self.classes[index_array]] = 1.0
            return batch_x, batch_y
        return batch_x
