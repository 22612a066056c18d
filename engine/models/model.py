"""Model: a Functional graph with Keras's training API, weights I/O and JSON."""
from __future__ import annotations

import numpy as np

from engine import backend, graph, naming, structure
from engine.models import functional_config
from engine.models.functional import FunctionalGraph
from engine.saving import model_file, serialization, weights_io
from engine.saving.layer_registry import register
from engine.summary import print_summary
from engine.trainer import Trainer


@register(aliases=("Functional",))
class Model(Trainer, FunctionalGraph):
    """``Model(inputs, outputs, name=None)``: the Functional API (Keras's ``keras.Model``).

    ``inputs`` / ``outputs``: a KerasTensor, a list of them, or a dict by name.
    """

    saved_as = ("keras.src.models.functional", "Functional", "Functional")
    config_is_keras3 = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise ValueError(
                "Model needs `inputs` and `outputs` (the Functional API); subclassed models run Python code and "
                "are not supported"
            )
        super().__init__(name=name or naming.uniquify("functional"), trainable=trainable, **kwargs)
        self._init_trainer()
        self._backend = "numpy"
        self._init_graph(inputs, outputs)

    # ----------------------------------------------------------------- backend
    @property
    def _xp(self):
        return backend.get_module(self._backend)

    def use_backend(self, name: str):
        """Moves the weights to ``name`` ("numpy" or "cupy") and runs there from now on."""
        xp = backend.get_module(name)
        for v in self.weights:
            v.value = xp.asarray(v.value) if name == "cupy" else backend.to_numpy(v.value)
            v.grad = None
        self._backend = name
        if self.optimizer is not None:
            self.optimizer = type(self.optimizer).from_config(self.optimizer.get_config())
        return self

    def _all_layers(self):
        """Every layer inside this model, nested models and wrapped layers included."""
        seen, out = set(), []

        def walk(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            out.append(layer)
            for sub in getattr(layer, "layers", None) or getattr(layer, "_sublayers", lambda: [])():
                walk(sub)

        for layer in self.layers:
            walk(layer)
        return out

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, *args, **kwargs):
        if graph.is_symbolic(inputs):
            return graph.call_symbolic(self, inputs, *args, **kwargs)
        training = bool(kwargs.pop("training", False))
        flat = structure.by_name(inputs, self.input_names, f"inputs of model {self.name!r}")
        outs, _, _ = self.run_graph(self._to_device(flat, [t.dtype for t in self.inputs]), training=training,
                                    need_backprop=False)
        self._collect_activity_losses()
        return self._pack_outputs(outs)

    # ----------------------------------------------------------- weights files
    def save_weights(self, filepath, overwrite=True):
        """Writes the weights to ``filepath`` as .npz keyed by "layer/weight" paths (in ``get_weights`` order)."""
        weights_io.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Reads weights written by :meth:`save_weights`."""
        weights_io.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    def save(self, filepath, overwrite=True):
        """Writes the whole model (JSON config, weights, compile settings) to ``filepath``."""
        model_file.save_model(self, filepath, overwrite=overwrite)

    # ------------------------------------------------------------ serializing
    def get_config(self):
        return functional_config.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return functional_config.from_config(cls, config)

    def to_json(self, **kwargs) -> str:
        """The model as Keras 3 ``to_json()`` text, which real Keras 3 loads."""
        return serialization.to_json(self, **kwargs)

    # ----------------------------------------------------------------- summary
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Prints Keras's table: layers, output shapes, parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))


Functional = Model
