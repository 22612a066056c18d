"""The Keras 2 names the seeds' programs use: layer aliases, module paths, Keras 1 arguments, get_layer."""
from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import engine
from engine import layers


@pytest.mark.parametrize("alias, cls", [
    ("MaxPool1D", "MaxPooling1D"), ("MaxPool2D", "MaxPooling2D"), ("AvgPool1D", "AveragePooling1D"),
    ("AvgPool2D", "AveragePooling2D"), ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
    ("GlobalMaxPool2D", "GlobalMaxPooling2D"), ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("Deconvolution2D", "Conv2DTranspose"),
    ("Deconv2D", "Conv2DTranspose"), ("SeparableConvolution2D", "SeparableConv2D"),
])
def test_layer_aliases_are_the_same_classes(alias, cls):
    assert getattr(layers, alias) is getattr(layers, cls)
    assert layers.get_class(alias) is getattr(layers, cls)


@pytest.mark.parametrize("module, names", [
    ("engine.layers.convolutional", ["Convolution2D", "MaxPooling2D", "ZeroPadding2D", "Conv2D", "UpSampling2D"]),
    ("engine.layers.core", ["Flatten", "Dense", "Dropout", "Activation"]),
    ("engine.layers.advanced_activations", ["PReLU", "LeakyReLU", "ELU", "ReLU", "Softmax"]),
    ("engine.utils.np_utils", ["to_categorical"]),
    ("engine.utils.generic_utils", ["Progbar"]),
])
def test_keras2_module_paths(module, names):
    mod = importlib.import_module(module)
    for name in names:
        assert hasattr(mod, name), f"{module}.{name}"


def test_convolution2d_keras1_positional_warns_and_builds_keras2_layer():
    with pytest.warns(UserWarning, match="Update your `Conv2D` call to the Keras 2 API"):
        layer = layers.Convolution2D(4, 5, 3, border_mode="same", input_shape=(10, 10, 3))
    out = engine.Sequential([layer]).predict(np.ones((1, 10, 10, 3), "float32"), verbose=0)
    assert layer.kernel.shape == (5, 3, 3, 4) and layer.padding == "same" and out.shape == (1, 10, 10, 4)


def test_convolution2d_keras2_arguments_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.Convolution2D(4, (5, 5), padding="same")


def _mlp():
    model = engine.Sequential([engine.Input((3,)), layers.Dense(2, name="d1"), layers.Dense(1, name="d2")])
    model.compile("sgd", "mse")
    return model


def test_fit_nb_epoch_warns_and_means_epochs():
    model = _mlp()
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    with pytest.warns(UserWarning, match="Update your `fit` call to the Keras 2 API"):
        history = model.fit(x, y, nb_epoch=3, verbose=0)
    assert history.epoch == [0, 1, 2]
    with pytest.raises(TypeError, match="both the Keras 1 argument `nb_epoch` and its Keras 2 name `epochs`"):
        model.fit(x, y, nb_epoch=3, epochs=2, verbose=0)


class _Batches(engine.utils.Sequence):
    batch_size = 2

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return np.full((2, 3), i, "float32"), np.ones((2, 1), "float32")


def test_fit_generator_keras1_arguments_map_to_keras2():
    model = _mlp()
    with pytest.warns(UserWarning, match="Update your `fit_generator` call"):
        history = model.fit_generator(_Batches(), samples_per_epoch=4, nb_epoch=2, validation_data=_Batches(),
                                      nb_val_samples=1, max_q_size=3, nb_worker=1, pickle_safe=False, verbose=0)
    assert history.epoch == [0, 1] and "val_loss" in history.history
    with pytest.warns(UserWarning, match="evaluate_generator"):
        loss = model.evaluate_generator(_Batches(), val_samples=2, max_q_size=2, nb_worker=1, pickle_safe=False)
    assert np.isfinite(loss)
    with pytest.warns(UserWarning, match="predict_generator"):
        preds = model.predict_generator(_Batches(), val_samples=2, max_q_size=2)
    assert preds.shape == (4, 1)


def test_get_layer_index_wins_over_name():
    model = _mlp()
    assert model.get_layer(name="d1", index=1) is model.get_layer("d2")
