"""Training API of a model: compile, fit, evaluate, predict and the on-batch variants.

One epoch loop serves every kind of data: :func:`engine.data_adapters.get_adapter`
turns arrays, generators or Sequences into batches of flat lists ``(xs, ys, sws)``
ordered like the model's inputs and outputs.
"""
from __future__ import annotations

import numpy as np

from engine import backend, gemm, weight_copies
from engine import callbacks as callbacks_module
from engine import metrics as metrics_module
from engine import optimizers as optimizers_module
from engine.compile_utils import CompiledLoss, CompiledMetrics
from engine.data_adapters import ArrayDataAdapter, get_adapter, is_stream, standardize_arrays
from engine.data_arrays import split_validation
from engine.legacy import keras1_arguments
from engine.saving import keras2
from engine.structure import StructureError, sample_shape_fits


def _should_validate(epoch, validation_freq):
    if isinstance(validation_freq, int):
        if validation_freq < 1:
            raise ValueError(f"`validation_freq` must be a positive integer, got {validation_freq}")
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, (list, tuple, set)):
        return (epoch + 1) in validation_freq
    raise ValueError(f"`validation_freq` should be an int or a list of epochs, got {validation_freq!r}")


def class_weight_to_sample_weight(y, class_weight):
    """Per-sample weights ``(batch,)`` (or ``(batch, T)``) from a class index -> weight dict."""
    y = backend.to_numpy(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        classes = np.argmax(y, axis=-1)
    else:
        classes = np.round(y.reshape(y.shape[:-1]) if y.ndim >= 2 else y).astype(np.int64)
    table = {int(k): float(v) for k, v in class_weight.items()}
    missing = sorted(set(np.unique(classes).tolist()) - set(table))
    if missing:
        raise ValueError(
            f"`class_weight` must contain all classes in the data. The classes {missing} exist in the data "
            f"but not in `class_weight`."
        )
    lookup = np.vectorize(table.__getitem__, otypes=[np.float32])
    return lookup(classes) if classes.size else classes.astype(np.float32)


_TRAIN_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
_TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
_PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


def may_change_weights(callbacks, hooks) -> bool:
    """Whether code that may assign a weight runs between the batches: a batch hook of any callback
    but the progress bar's."""
    return uses_batch_hooks(callbacks, hooks, besides=(callbacks_module.ProgbarLogger,))


def uses_batch_hooks(callbacks, hooks, besides=()) -> bool:
    """Whether any callback defines (or was given, as LambdaCallback is) one of ``hooks``; callbacks
    whose exact type is in ``besides`` are not counted.

    When none does, the batch hooks are no-ops and the loops skip them and the per-batch logs.
    """
    for cb in callbacks:
        if type(cb) in besides:
            continue
        for hook in hooks:
            if getattr(getattr(cb, hook), "__func__", None) is not getattr(callbacks_module.Callback, hook):
                return True
    return False


class StepPlan:
    """What every batch of one fit / evaluate call reuses instead of walking the model again.

    ``trainable``: the variables the optimizer updates; ``weights``: all variables (their
    grads are cleared after each update); ``regularized``: ``(variable, is_trainable)`` for
    the variables with a regularizer, in ``weights`` order; ``layers``: every layer, nested
    ones included (their activity losses are collected after each batch).
    """

    def __init__(self, model):
        self.trainable = model.trainable_weights
        self.weights = model.weights
        trainable_ids = {id(v) for v in self.trainable}
        self.regularized = [(v, id(v) in trainable_ids) for v in self.weights if v.regularizer is not None]
        self.layers = model._all_layers()


class Trainer:
    """Mixin giving a graph model Keras's training API."""

    # The Keras version of the file the model was read from ("2.15.0"; None: built here or Keras 3's).
    # A Keras 1/2 model names metrics given by class name as Keras 2 did ("AUC" -> "auc").
    keras_version = None

    def _init_trainer(self):
        self.compiled = False
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self._compiled_loss = None
        self._compiled_metrics = None
        self._loss_tracker = None
        self.loss = None
        self._sample_weight_mode = None

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                sample_weight_mode=None, weighted_metrics=None, target_tensors=None, run_eagerly=None,
                steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **kwargs):
        """Configures the model for training (Keras 2 / Keras 3 ``compile``)."""
        if target_tensors is not None:
            raise ValueError("`target_tensors` is not supported: pass targets to fit()")
        unknown = set(kwargs) - {"distribute", "options"}
        if unknown:
            raise TypeError(f"Invalid keyword argument(s) in `compile()`: {sorted(unknown)}")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self._compiled_loss = CompiledLoss(loss, loss_weights, self.output_names)
        self._compiled_metrics = CompiledMetrics(metrics, weighted_metrics, self.output_names,
                                                 keras2_names=keras2.is_keras2_version(self.keras_version))
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._sample_weight_mode = sample_weight_mode
        self.compiled = True

    def _assert_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(
                f"You must call `compile()` before using the model ({method}). "
                "You must compile your model before training/testing. Use `model.compile(optimizer, loss)`."
            )

    @property
    def metrics_names(self) -> list[str]:
        """Names of what evaluate returns, in order: loss, per-output losses, metrics."""
        if not self.compiled:
            return []
        names = ["loss"] + [t.name for t in self._compiled_loss.trackers]
        if self._compiled_metrics.entries is not None:
            names += [name for name, *_ in self._compiled_metrics.entries]
        return names

    def reset_metrics(self):
        if self._loss_tracker is not None:
            self._loss_tracker.reset_state()
            for t in self._compiled_loss.trackers:
                t.reset_state()
            self._compiled_metrics.reset()

    def _metric_logs(self) -> dict:
        logs = {"loss": float(self._loss_tracker.result())}
        logs.update(self._compiled_metrics.results())
        for t in self._compiled_loss.trackers:
            logs[t.name] = float(t.result())
        return logs

    # ------------------------------------------------------------------- steps
    def _to_device(self, arrays, dtypes=None):
        if arrays is None:
            return None
        xp = self._xp
        out = []
        for i, a in enumerate(arrays):
            if a is None:
                out.append(None)
                continue
            dtype = dtypes[i] if dtypes is not None else None
            if dtype is not None and a.dtype != dtype:
                a = np.asarray(a).astype(dtype) if xp is np else xp.asarray(a, dtype=dtype)
            elif a.dtype == np.float64:
                a = a.astype(np.float32)
            out.append(xp.asarray(a) if xp is not np else np.asarray(a))
        return out

    def _check_inputs(self, xs):
        for name, t, x in zip(self.input_names, self.inputs, xs):
            if not sample_shape_fits(x.shape[1:], t.shape[1:]):
                raise StructureError(
                    f"Input {name!r} of model {self.name!r} is incompatible with the data: expected shape "
                    f"{t.shape}, but the data has shape {tuple(x.shape)}", name
                )

    def _check_targets(self, ys, preds):
        for i, (y, p) in enumerate(zip(ys, preds)):
            if y is None:
                continue
            name = self.output_names[i]
            if y.shape[0] != p.shape[0]:
                raise ValueError(
                    f"Target for output {name!r} has {y.shape[0]} samples but the input batch has {p.shape[0]}"
                )
            same = y.shape[1:] == p.shape[1:]
            sparse_like = y.ndim == p.ndim - 1 or (y.ndim == p.ndim and y.shape[-1] == 1)
            expand_like = y.ndim == p.ndim - 1 and p.shape[-1] == 1
            if not (same or sparse_like or expand_like):
                raise ValueError(
                    f"Target for output {name!r} has shape {tuple(y.shape)}, which does not fit the output's "
                    f"shape {tuple(p.shape)}"
                )

    def _prepare_batch(self, xs, ys, sws, class_weight=None):
        xs = self._to_device(xs, [t.dtype for t in self.inputs])
        self._check_inputs(xs)
        ys = self._to_device(ys)
        if class_weight is not None and ys is not None:
            cw = self._class_weight_for_outputs(class_weight)
            sws = list(sws) if sws is not None else [None] * len(ys)
            for i, (y, w) in enumerate(zip(ys, cw)):
                if w is None or y is None:
                    continue
                extra = class_weight_to_sample_weight(y, w)
                sws[i] = extra if sws[i] is None else backend.to_numpy(sws[i]) * extra
        sws = self._to_device(sws, None if sws is None else ["float32"] * len(sws))
        return xs, ys, sws

    def _class_weight_for_outputs(self, class_weight):
        names = self.output_names
        if isinstance(class_weight, dict) and class_weight and all(k in names for k in class_weight):
            return [class_weight.get(n) for n in names]
        return [class_weight] * len(names)

    def _collect_activity_losses(self, layers=None) -> float:
        total = 0.0
        for layer in self._all_layers() if layers is None else layers:
            if layer._activity_losses:
                total += sum(layer._activity_losses)
                layer._activity_losses.clear()
        return total

    def _regularization(self, with_grads, plan) -> float:
        total = 0.0
        for v, trainable in plan.regularized:
            total += float(v.regularizer(v.value))
            if with_grads and trainable:
                v.add_grad(v.regularizer.gradient(v.value))
        return total

    def _step(self, xs, ys, sws, training, plan=None):
        """One batch: forward, loss, and (when training) backward + update. Returns the predictions.

        ``plan``: the :class:`StepPlan` of the running fit / evaluate (made here when None).
        """
        plan = StepPlan(self) if plan is None else plan
        outs, masks, bp = self.run_graph(xs, training=training, need_backprop=training, need_input_grads=False)
        self._check_targets(ys, outs)
        total, _, d_preds = self._compiled_loss.compute(ys, outs, sws, masks, need_grad=training)
        if training:
            bp(d_preds)
        total += self._collect_activity_losses(plan.layers)
        if plan.regularized:
            total += self._regularization(training, plan)
        if training:
            self.optimizer.apply(plan.trainable)
            for v in plan.weights:
                v.grad = None
        self._loss_tracker.update_state(total, sample_weight=int(xs[0].shape[0]))
        self._compiled_metrics.update(ys, outs, sws, masks)
        return outs

    def train_step(self, xs, ys, sws, plan=None):
        self._step(xs, ys, sws, training=True, plan=plan)
        return self._metric_logs()

    def test_step(self, xs, ys, sws, plan=None):
        self._step(xs, ys, sws, training=False, plan=plan)
        return self._metric_logs()

    # --------------------------------------------------------------------- fit
    @keras1_arguments
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False):
        """Trains the model for ``epochs`` (a final epoch index, counted from ``initial_epoch``); returns History."""
        self._assert_compiled("fit")
        if verbose == "auto":
            verbose = 1
        stream = dict(max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)
        train = standardize_arrays(self, x, y, sample_weight)
        val_adapter = None
        if validation_data is not None:
            val_adapter = self._validation_adapter(validation_data, validation_batch_size or batch_size,
                                                   validation_steps, stream)
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"`validation_split` must be between 0 and 1, got {validation_split}")
            if train is None:
                raise ValueError("`validation_split` is only supported for arrays, not generators or Sequences")
            train, val = split_validation(*train, validation_split)
            val_adapter = ArrayDataAdapter(*val, batch_size=validation_batch_size or batch_size,
                                           steps=validation_steps)
        if train is not None:
            adapter = ArrayDataAdapter(*train, batch_size=batch_size, shuffle=shuffle, steps=steps_per_epoch)
        else:
            adapter = get_adapter(self, x, y, sample_weight, batch_size=batch_size, steps=steps_per_epoch,
                                  shuffle=shuffle, **stream)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs, steps=adapter.num_batches)
        self.stop_training = False
        cbs.on_train_begin()
        batch_hooks = uses_batch_hooks(cbs, _TRAIN_BATCH_HOOKS)
        plan = StepPlan(self)
        logs = {}
        try:
            with gemm.openblas_on_caller():
                for epoch in range(initial_epoch, epochs):
                    self.reset_metrics()
                    cbs.on_epoch_begin(epoch)
                    with adapter.epoch() as batches:
                        for step, (xs, ys, sws) in enumerate(batches):
                            if batch_hooks:
                                cbs.on_train_batch_begin(step)
                            xs, ys, sws = self._prepare_batch(xs, ys, sws, class_weight)
                            if batch_hooks:
                                cbs.on_train_batch_end(step, self.train_step(xs, ys, sws, plan))
                            else:
                                self._step(xs, ys, sws, training=True, plan=plan)
                            if self.stop_training:
                                break
                    epoch_logs = dict(self._metric_logs())
                    if val_adapter is not None and _should_validate(epoch, validation_freq):
                        val_logs = self._evaluate_adapter(val_adapter, cbs)
                        epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    cbs.on_epoch_end(epoch, epoch_logs)
                    logs = epoch_logs
                    if self.stop_training:
                        break
        finally:
            adapter.close()
            if val_adapter is not None:
                val_adapter.close()
        if epochs > 0:
            # With use_ema, Keras ends training on the weights' moving averages.
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs)
        return self.history

    def _validation_adapter(self, validation_data, batch_size, steps, stream):
        if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3) and not _is_batchlike(validation_data):
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) == 3 else None
            return get_adapter(self, vx, vy, vsw, batch_size=batch_size, steps=steps, shuffle=False)
        if isinstance(validation_data, (tuple, list)):
            raise ValueError(
                "When passing validation_data, it must contain 2 (x_val, y_val) or 3 (x_val, y_val, val_sample_weights) "
                f"items, however it contains {len(validation_data)} items"
            )
        return get_adapter(self, validation_data, None, None, batch_size=batch_size, steps=steps, shuffle=False, **stream)

    def _evaluate_adapter(self, adapter, cbs):
        self.reset_metrics()
        cbs.on_test_begin()
        batch_hooks = uses_batch_hooks(cbs, _TEST_BATCH_HOOKS)
        plan = StepPlan(self)
        with adapter.epoch() as batches, weight_copies.held_for_loop(not may_change_weights(cbs, _TEST_BATCH_HOOKS)):
            for step, (xs, ys, sws) in enumerate(batches):
                if batch_hooks:
                    cbs.on_test_batch_begin(step)
                xs, ys, sws = self._prepare_batch(xs, ys, sws)
                if batch_hooks:
                    cbs.on_test_batch_end(step, self.test_step(xs, ys, sws, plan))
                else:
                    self._step(xs, ys, sws, training=False, plan=plan)
        logs = self._metric_logs()
        cbs.on_test_end(logs)
        return logs

    # ---------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None, steps=None, callbacks=None,
                 max_queue_size=10, workers=1, use_multiprocessing=False, return_dict=False):
        """Loss and metrics on the data: a scalar, a list in ``metrics_names`` order, or a dict."""
        self._assert_compiled("evaluate")
        if verbose == "auto":
            verbose = 1
        adapter = get_adapter(self, x, y, sample_weight, batch_size=batch_size, steps=steps, shuffle=False,
                              max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)
        cbs = callbacks_module.CallbackList(callbacks, add_history=False, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=adapter.num_batches)
        try:
            with gemm.openblas_on_caller():
                logs = self._evaluate_adapter(adapter, cbs)
        finally:
            adapter.close()
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # ----------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None, max_queue_size=10, workers=1,
                use_multiprocessing=False):
        """Model outputs for ``x`` as NumPy arrays (a list or dict for several outputs)."""
        if verbose == "auto":
            verbose = 0
        adapter = get_adapter(self, x, None, None, batch_size=batch_size, steps=steps, shuffle=False,
                              max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing,
                              for_predict=True)
        cbs = callbacks_module.CallbackList(callbacks, add_history=False, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=adapter.num_batches)
        chunks = [[] for _ in self.outputs]
        cbs.on_predict_begin()
        batch_hooks = uses_batch_hooks(cbs, _PREDICT_BATCH_HOOKS)
        dtypes = [t.dtype for t in self.inputs]
        layers = self._all_layers()
        try:
            held = not may_change_weights(cbs, _PREDICT_BATCH_HOOKS)
            with gemm.openblas_on_caller(), adapter.epoch() as batches, weight_copies.held_for_loop(held):
                for step, (xs, _, _) in enumerate(batches):
                    if batch_hooks:
                        cbs.on_predict_batch_begin(step)
                    xs = self._to_device(xs, dtypes)
                    self._check_inputs(xs)
                    outs, _, _ = self.run_graph(xs, training=False, need_backprop=False)
                    self._collect_activity_losses(layers)
                    for c, o in zip(chunks, outs):
                        c.append(backend.to_numpy(o))
                    if batch_hooks:
                        cbs.on_predict_batch_end(step, {"outputs": outs})
        finally:
            adapter.close()
        cbs.on_predict_end()
        if not chunks[0]:
            raise ValueError("Unexpected result of `predict`: no batch was produced. The input data may be empty.")
        return self._pack_outputs([np.concatenate(c, axis=0) for c in chunks])

    # ---------------------------------------------------------------- on-batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True, return_dict=False):
        """One gradient update on one batch; returns loss (and metrics) for it."""
        self._assert_compiled("train_on_batch")
        if reset_metrics:
            # Keras 3 resets before the batch, so the results are this batch's alone.
            self.reset_metrics()
        xs, ys, sws = standardize_arrays(self, x, y, sample_weight)
        xs, ys, sws = self._prepare_batch(xs, ys, sws, class_weight)
        logs = self.train_step(xs, ys, sws)
        return self._on_batch_result(logs, reset_metrics, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        """Loss (and metrics) on one batch, no update."""
        self._assert_compiled("test_on_batch")
        if reset_metrics:
            self.reset_metrics()
        xs, ys, sws = standardize_arrays(self, x, y, sample_weight)
        xs, ys, sws = self._prepare_batch(xs, ys, sws)
        logs = self.test_step(xs, ys, sws)
        return self._on_batch_result(logs, reset_metrics, return_dict)

    def _on_batch_result(self, logs, reset_metrics, return_dict):
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict_on_batch(self, x):
        """Outputs for one batch ``x``."""
        xs, _, _ = standardize_arrays(self, x, None, None)
        xs = self._to_device(xs, [t.dtype for t in self.inputs])
        self._check_inputs(xs)
        outs, _, _ = self.run_graph(xs, training=False, need_backprop=False)
        self._collect_activity_losses()
        return self._pack_outputs([backend.to_numpy(o) for o in outs])

    # ------------------------------------------------------- Keras 2 generators
    @keras1_arguments
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        """Keras 2's ``fit_generator``: ``fit`` on a generator or Sequence."""
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, max_queue_size=max_queue_size,
                        workers=workers, use_multiprocessing=use_multiprocessing, shuffle=shuffle,
                        initial_epoch=initial_epoch)

    @keras1_arguments
    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        """Keras 2's ``evaluate_generator``."""
        return self.evaluate(generator, steps=steps, callbacks=callbacks, max_queue_size=max_queue_size,
                             workers=workers, use_multiprocessing=use_multiprocessing, verbose=verbose)

    @keras1_arguments
    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """Keras 2's ``predict_generator``."""
        return self.predict(generator, steps=steps, callbacks=callbacks, max_queue_size=max_queue_size,
                            workers=workers, use_multiprocessing=use_multiprocessing, verbose=verbose)


def _is_batchlike(validation_data):
    """A (x, y) tuple whose first item is itself a generator/Sequence is not an array tuple."""
    return is_stream(validation_data[0])
