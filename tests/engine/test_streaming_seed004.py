"""The fit_generator article's (seed 004) flower-classification script with fitq's module paths, on a small
image folder made here: its own ``minibatches`` generator with ImageDataGenerator augmentation, a validation
generator, ``steps_per_epoch`` and ``validation_steps``. Only the image decoding (skimage there, Pillow here),
the train/test split (sklearn there, a seeded permutation here), the image size and the data path differ."""
from __future__ import annotations

import glob
import os
import threading

import numpy as np
import pytest
from PIL import Image

from engine import callbacks, layers
from engine.models import Sequential
from engine.preprocessing.image import ImageDataGenerator, img_to_array, load_img
from engine.utils.np_utils import to_categorical

Convolution2D = getattr(layers, "Convolution2D", None)
MaxPooling2D = getattr(layers, "MaxPooling2D", None)
pytestmark = pytest.mark.skipif(Convolution2D is None or MaxPooling2D is None,
                                reason="the article's model needs the convolution and pooling layers")

w = 24
h = 24
c = 3


def make_flower_folder(root, per_class=6):
    """``root/<flower>/<i>.jpg``: five classes of JPEGs of varying sizes, each class its own hue."""
    rng = np.random.default_rng(0)
    hues = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200)]
    for name, hue in zip(("daisy", "dandelion", "roses", "sunflowers", "tulips"), hues):
        os.makedirs(os.path.join(root, name))
        for i in range(per_class):
            size = (int(rng.integers(20, 40)), int(rng.integers(20, 40)))
            pixels = np.clip(np.array(hue) + rng.normal(0, 25, size + (3,)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(root, name, f"{i}.jpg"), quality=90)


def read_img(path):
    cate = [path + "/" + x for x in sorted(os.listdir(path)) if os.path.isdir(path + "/" + x)]
    imgs = []
    labels = []
    for idx, folder in enumerate(cate):
        for im in sorted(glob.glob(folder + "/*.jpg")):
            img = img_to_array(load_img(im, target_size=(w, h))) / 255.0
            imgs.append(img)
            labels.append(idx)
    return np.asarray(imgs, np.float32), np.asarray(labels, np.int32)


def minibatches(inputs=None, targets=None, batch_size=None, shuffle=False, aug=None):
    while 1:  # loops forever
        assert len(inputs) == len(targets)
        if shuffle:
            indices = np.arange(len(inputs))
            np.random.shuffle(indices)
        for start_idx in range(len(inputs) - batch_size):
            if shuffle:
                excerpt = indices[start_idx:start_idx + batch_size]
                if aug is not None:
                    (inputs[excerpt], targets[excerpt]) = next(aug.flow(inputs[excerpt], targets[excerpt],
                                                                        batch_size=batch_size))
            else:
                excerpt = slice(start_idx, start_idx + batch_size)
                if aug is not None:
                    (inputs[excerpt], targets[excerpt]) = next(aug.flow(inputs[excerpt], targets[excerpt],
                                                                        batch_size=batch_size))
            yield inputs[excerpt], targets[excerpt]


class CountBatches(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train = self.test = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1


def test_article_training_script_runs(tmp_path):
    path = str(tmp_path / "flower_photos")
    make_flower_folder(path)
    np.random.seed(0)

    data, label = read_img(path)
    num_example = data.shape[0]
    arr = np.arange(num_example)
    np.random.shuffle(arr)
    data = data[arr]
    label = label[arr]
    labels_5 = to_categorical(label, num_classes=5)

    split = int(num_example * 0.7)
    x_train, y_test, x_label, y_label = data[:split], data[split:], labels_5[:split], labels_5[split:]

    aug = ImageDataGenerator(rotation_range=20, zoom_range=0.15, width_shift_range=0.2, height_shift_range=0.2,
                             shear_range=0.15, horizontal_flip=True, fill_mode="nearest")

    model = Sequential()
    model.add(Convolution2D(4, 5, 5, input_shape=(w, h, 3)))
    model.add(layers.Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Convolution2D(8, 3, 3))
    model.add(layers.Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Convolution2D(16, 3, 3))
    model.add(layers.Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(128))
    model.add(layers.Activation("relu"))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(5))
    model.add(layers.Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    before = [wt.copy() for wt in model.get_weights()]

    counter = CountBatches()
    H = model.fit_generator(minibatches(x_train, x_label, batch_size=6, shuffle=False, aug=aug),
                            steps_per_epoch=len(x_train) // 6,
                            validation_data=minibatches(y_test, y_label, batch_size=6, shuffle=False, aug=None),
                            validation_steps=len(y_test) // 6,
                            epochs=6, verbose=0, callbacks=[counter])

    N = 6
    assert len(H.history["loss"]) == N and len(H.history["val_loss"]) == N
    assert np.isfinite(H.history["loss"]).all() and np.isfinite(H.history["val_loss"]).all()
    assert counter.train == N * (len(x_train) // 6) and counter.test == N * (len(y_test) // 6)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not [t for t in threading.enumerate() if t.name.startswith("fitq-enqueuer")]
