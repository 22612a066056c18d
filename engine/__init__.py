"""fitq's engine: Keras's Model API on NumPy (CuPy on a GPU), usable with no server.

    from engine import Sequential, Model, Input, layers, optimizers, losses, metrics, callbacks
    from engine import model_from_json
"""
__version__ = "0.1.0"  # before the imports: engine.saving writes it into the files it makes

from engine import activations, allocator, backend, callbacks, constraints, initializers, layers, losses, metrics
from engine import optimizers, regularizers, utils
from engine.layers import Input
from engine.models import Model, Sequential, load_model, model_from_json
from engine.random import set_random_seed

allocator.keep_freed_memory()

__all__ = [
    "Input", "Model", "Sequential", "activations", "backend", "callbacks", "constraints", "initializers",
    "layers", "load_model", "losses", "metrics", "model_from_json", "optimizers", "regularizers",
    "set_random_seed", "utils",
]
