"""Keras layers by Keras's names (``engine.layers.Dense``, ``engine.layers.concatenate``, ...)."""
from engine.layers.base import Layer
from engine.layers.input_layer import Input, InputLayer
from engine.layers.core import Activation, Dense, Dropout, Flatten, Permute, RepeatVector, Reshape
from engine.layers.merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                                 average, concatenate, dot, maximum, minimum, multiply, subtract)
from engine.saving.layer_registry import get_class, register
from engine.layers.activation_layers import ELU, PReLU, ReLU, LeakyReLU, Softmax
from engine.layers.convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Convolution1D,
                                         Convolution2D, Deconv2D, Deconvolution1D, Deconvolution2D,
                                         DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
                                         SeparableConvolution1D, SeparableConvolution2D)
from engine.layers.embedding import Embedding
from engine.layers.masking import Masking
from engine.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from engine.layers.normalization import BatchNormalization, LayerNormalization
from engine.layers.pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
                                   GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D,
                                   GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D,
                                   MaxPooling1D, MaxPooling2D)
from engine.layers.recurrent import GRU, LSTM, SimpleRNN
from engine.layers.reshaping import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from engine.layers.wrappers import Bidirectional, TimeDistributed
from engine.saving.serialization import deserialize_layer


def deserialize(config, custom_objects=None):
    """A layer from ``{"class_name", "config"}`` (Keras 3 or Keras 2 form)."""
    return deserialize_layer(config)
