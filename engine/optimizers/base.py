"""Optimizer: Keras 3's optimizer base class on engine Variables.

``optimizer.apply(variables)`` updates, in place, every trainable Variable whose
``.grad`` is set: gradients are divided by ``loss_scale_factor``, accumulated over
``gradient_accumulation_steps``, clipped (``clipnorm`` per variable,
``global_clipnorm`` over all, or ``clipvalue``), weight decay is applied, then each
subclass's ``update_step``; then the EMA of the weights, then each variable's
``constraint``; finally ``iterations`` grows by one. Slots (momentums, ...) are
created once per variable, with the variable's array module, in Keras's order
(see :attr:`Optimizer.variables`), and updated with in-place ops.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from engine import backend, naming
from engine.optimizers import schedules

# Keras 2 config keys that Keras 3 no longer has and that change nothing here.
_KERAS2_IGNORED = ("is_legacy_optimizer", "jit_compile", "schedule_decay")


def clip_by_norm(xp, g, clipnorm):
    """``g * clipnorm / max(||g||, clipnorm)`` (Keras's ``_clip_by_norm``)."""
    l2sum = xp.sum(xp.square(g))
    positive = l2sum > 0
    l2norm = xp.where(positive, xp.sqrt(xp.where(positive, l2sum, xp.ones_like(l2sum))), l2sum)
    c = g.dtype.type(clipnorm)
    return g * c / xp.maximum(l2norm, c)


def clip_by_global_norm(grads, clipnorm):
    """All gradients scaled by ``clipnorm * min(1 / global_norm, 1 / clipnorm)``."""
    xp = backend.array_module(*grads)
    dtype = grads[0].dtype.type
    use_norm = xp.sqrt(xp.sum(xp.stack([xp.sum(xp.square(g)) for g in grads])))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = dtype(clipnorm) * xp.minimum(dtype(1.0) / use_norm, dtype(1.0 / clipnorm))
        scale = scale + (use_norm - use_norm)
    return [g * scale.astype(g.dtype) for g in grads]


class Optimizer:
    """Base optimizer; subclasses define ``build_slots(variables)`` and ``update_step``, and pass the
    keyword arguments they do not define (``weight_decay``, ``clipnorm``, ``use_ema``, ``name``, ...)
    on to this class as ``**kwargs``."""

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if "lr" in kwargs:
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None):
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=2)
        for key in _KERAS2_IGNORED:
            kwargs.pop(key, None)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self.name = name or naming.uniquify(naming.to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self._iterations = 0
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.built = False
        self._variables = []
        self._index = {}
        self._slot_groups = []
        self._slots = {}
        self._extra_state = []
        self._exclude_ids = set()
        self._exclude_pattern = None

    # ------------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> float:
        """The current learning rate (a float32 value, as Keras stores it)."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return lr(self._iterations)
        if callable(lr):
            return float(np.float32(lr()))
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, dict):
            value = schedules.deserialize(value)
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                "constructor argument, hence its learning rate is not settable. If you need the learning rate "
                "to be settable, you should instantiate the optimizer with a float `learning_rate` argument."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a callable "
                "(that takes in the current iteration value and returns the corresponding learning rate value). "
                f"Received instead: learning_rate={value}"
            )
        self._learning_rate = float(np.float32(value))

    @property
    def iterations(self) -> int:
        """Update steps taken (counting accumulated steps once per ``gradient_accumulation_steps``)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    # -------------------------------------------------------------------- slots
    def build(self, variables):
        """Creates the slots of ``variables`` (called by the first :meth:`apply`)."""
        if self.built:
            self._add_variables([v for v in variables if id(v) not in self._index])
            return
        if self.use_ema:
            self.add_slots(variables, ["average"])
        if self.gradient_accumulation_steps:
            self.add_slots(variables, ["gradient_accumulator"])
        self.build_slots(variables)
        self._add_variables(variables)
        self.built = True

    def build_slots(self, variables):
        """Subclasses declare their slot groups here with :meth:`add_slots`."""

    def add_slots(self, variables, names, fill=0.0):
        """Declares slots ``names`` (one array each per variable, filled with ``fill``, or one fill per name)."""
        fills = list(fill) if isinstance(fill, (list, tuple)) else [fill] * len(names)
        self._slot_groups.append((list(names), fills))
        for name in names:
            self._slots.setdefault(name, {})

    def slot_shape(self, name, variable):
        """The shape of slot ``name`` of ``variable`` (the variable's own shape unless overridden)."""
        return variable.value.shape

    def _add_variables(self, variables):
        for var in variables:
            if id(var) in self._index:
                continue
            self._index[id(var)] = len(self._variables)
            self._variables.append(var)
        for names, fills in self._slot_groups:
            for var in variables:
                for name, fill in zip(names, fills):
                    if id(var) not in self._slots[name]:
                        xp = backend.array_module(var.value)
                        self._slots[name][id(var)] = xp.full(self.slot_shape(name, var), fill,
                                                             dtype=var.value.dtype)

    def slot(self, name, variable):
        """The slot array ``name`` of ``variable`` (e.g. "momentum")."""
        return self._slots[name][id(variable)]

    def add_state(self, name, value):
        """An optimizer-wide float32 array (Nadam's ``u_product``), listed after the slots."""
        self._extra_state.append(name)
        setattr(self, name, np.asarray(value, dtype=backend.floatx()))

    def _ordered_slots(self):
        out = []
        for names, _ in self._slot_groups:
            per_var = len(names) > 1
            if per_var:
                for var in self._variables:
                    out.extend((self._slot_name(var, n), self._slots[n][id(var)]) for n in names)
            else:
                out.extend((self._slot_name(var, names[0]), self._slots[names[0]][id(var)])
                           for var in self._variables)
        return out

    def _slot_name(self, var, name):
        return f"{var.path.replace('/', '_')}_{name}"

    @property
    def variable_names(self) -> list:
        names = ["iteration"]
        if not callable(self._learning_rate):
            names.append("learning_rate")
        return names + [n for n, _ in self._ordered_slots()] + (["variable"] * len(self._extra_state))

    @property
    def variables(self) -> list:
        """The optimizer's state in Keras 3's order: iteration, learning_rate (unless a
        schedule), the slots in creation order, then optimizer-wide state."""
        values = [np.asarray(self._iterations, dtype="int64")]
        if not callable(self._learning_rate):
            values.append(np.asarray(self._learning_rate, dtype=backend.floatx()))
        values += [a for _, a in self._ordered_slots()]
        values += [getattr(self, n) for n in self._extra_state]
        return values

    def save_own_variables(self, store):
        """``store[str(i)]`` = each of :attr:`variables` as a NumPy array (Keras's layout)."""
        for i, value in enumerate(self.variables):
            store[str(i)] = backend.to_numpy(value).copy()

    def load_own_variables(self, store):
        """Restores :attr:`variables` from ``store`` (build the optimizer on the model's variables first)."""
        current = self.variables
        if len(store.keys()) != len(current):
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has {len(current)} variables "
                f"whereas the saved optimizer has {len(store.keys())} variables.", stacklevel=2)
            return
        self._iterations = int(np.asarray(store["0"]))
        offset = 1
        if not callable(self._learning_rate):
            self._learning_rate = float(np.float32(np.asarray(store["1"])))
            offset = 2
        for i in range(offset, len(current) - len(self._extra_state)):
            xp = backend.array_module(current[i])
            current[i][...] = xp.asarray(np.asarray(store[str(i)]), dtype=current[i].dtype)
        for j, name in enumerate(self._extra_state):
            setattr(self, name, np.asarray(store[str(len(current) - len(self._extra_state) + j)],
                                           dtype=backend.floatx()))

    # --------------------------------------------------------------------- apply
    def apply(self, variables):
        """One optimizer step on the trainable ``variables`` that have a ``.grad``."""
        variables = [v for v in variables if v.trainable]
        if not variables:
            return
        self.build(variables)
        pairs = [(v.grad, v) for v in variables if v.grad is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        grads = [g for g, _ in pairs]
        trainable = [v for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / g.dtype.type(self.loss_scale_factor) for g in grads]
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.gradient_accumulation_steps:
                self._accumulate_or_update(grads, trainable)
            else:
                self._update(grads, trainable)
            if self.use_ema:
                self._update_ema()
        for var in trainable:
            if var.constraint is not None:
                var.value[...] = var.constraint(var.value)
        self._iterations += 1

    def _update(self, grads, trainable):
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(trainable)
        self.update_steps(grads, trainable, self.learning_rate)

    def update_steps(self, grads, trainable, learning_rate):
        """All variables' updates for one step (Nadam first updates its shared state)."""
        for g, var in zip(grads, trainable):
            xp = backend.array_module(var.value)
            g = xp.asarray(g, dtype=var.value.dtype)
            self.update_step(g, var, var.value.dtype.type(learning_rate))

    def _accumulate_or_update(self, grads, trainable):
        steps = self.gradient_accumulation_steps
        accumulators = [self.slot("gradient_accumulator", v) for v in trainable]
        if (self._iterations + 1) % steps == 0:
            grads = [(g + a) / a.dtype.type(steps) for g, a in zip(grads, accumulators)]
            self._update(grads, trainable)
            for a in accumulators:
                a[...] = 0
        else:
            for g, a in zip(grads, accumulators):
                a += g

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [clip_by_norm(backend.array_module(g), g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            v = self.clipvalue
            return [backend.array_module(g).clip(g, g.dtype.type(-v), g.dtype.type(v)) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Variables (or names matching any of ``var_names``) that weight decay skips."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or []}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, var):
        if id(var) in self._exclude_ids:
            return False
        return not (self._exclude_pattern is not None and self._exclude_pattern.search(var.name))

    def _apply_weight_decay(self, trainable):
        if self.weight_decay is None:
            return
        for var in trainable:
            if self._use_weight_decay(var):
                dt = var.value.dtype.type
                var.value -= var.value * dt(self.weight_decay) * dt(self.learning_rate)

    def _update_ema(self):
        momentum = np.float32(self.ema_momentum) if self.iterations != 0 else np.float32(0.0)
        overwrite = (self.ema_overwrite_frequency is not None
                     and (self.iterations + 1) % self.ema_overwrite_frequency == 0)
        for var in self._variables:
            average = self.slot("average", var)
            dt = average.dtype.type
            average *= dt(momentum)
            average += (dt(1) - dt(momentum)) * var.value
            if overwrite:
                var.value[...] = average

    def finalize_variable_values(self, variables):
        """At the end of training, with ``use_ema``, sets the variables to their moving averages
        (``fit`` calls it after its last epoch, as Keras's does)."""
        if self.use_ema:
            for var in variables:
                if id(var) in self._index:
                    var.value[...] = self.slot("average", var)

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (gradients are divided back in :meth:`apply`)."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    # ------------------------------------------------------------------- config
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {
            "name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config):
        """An optimizer from a Keras 3 config, or a Keras 2 one ("lr", "decay", legacy keys)."""
        config = dict(config)
        if "lr" in config:
            lr = config.pop("lr")
            config.setdefault("learning_rate", lr)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} learning_rate={self._learning_rate}>"
