"""Keras 2's ``keras.layers.advanced_activations``: the activation layers under their old module path."""
from engine.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]
