"""What ``compile`` resolves: one loss (and weight) per output, the metrics per output,
and the weighted reduction Keras applies (sample weights, output masks).

Keras 2 rules where Keras 3 differs (the product follows Keras 2's documents):
one loss for a multi-output model applies to every output, and a flat metrics
list applies to every output.
"""
from __future__ import annotations

from engine import backend
from engine import losses as losses_module
from engine import metrics as metrics_module
from engine.structure import by_name


def match_rank(values, weights):
    """Keras's squeeze_or_expand_to_same_rank, then trailing axes added so ``weights`` broadcast."""
    if weights is None:
        return None
    xp = backend.array_module(values)
    weights = xp.asarray(weights, dtype=values.dtype)
    vr, wr = values.ndim, weights.ndim
    if vr == wr + 1 and values.shape[-1] == 1 and wr != 1:
        weights = weights[..., None]
    elif wr == vr + 1 and weights.shape[-1] == 1:
        weights = weights.reshape(weights.shape[:-1])
    while weights.ndim < values.ndim:
        weights = weights[..., None]
    return weights


class CompiledLoss:
    """The model's losses: per output a Loss and weight; computes the total and d(total)/d(y_pred)."""

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        specs = by_name(loss, self.output_names, "loss", allow_missing=True, one_for_all=True)
        weights = [1.0] * len(specs) if loss_weights is None else [
            1.0 if w is None else float(w)
            for w in by_name(loss_weights, self.output_names, "loss_weights", allow_missing=True, one_for_all=True)]
        self._specs = specs
        self.weights = weights
        self.losses = None
        self.trackers = []

    @property
    def built(self) -> bool:
        return self.losses is not None

    def build(self, y_trues, y_preds):
        """Resolves names that depend on shapes ("crossentropy") and creates per-output loss trackers."""
        self.losses = []
        for spec, yt, yp in zip(self._specs, y_trues, y_preds):
            if spec is None:
                self.losses.append(None)
                continue
            if isinstance(spec, str) and spec.lower() in ("crossentropy", "ce"):
                binary = yp.shape[-1] == 1
                sparse = yt is not None and (yt.ndim < yp.ndim or (yt.shape[-1] == 1 and yp.shape[-1] > 1))
                spec = "binary_crossentropy" if binary else (
                    "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy")
            self.losses.append(losses_module.get(spec))
        active = [n for n, l in zip(self.output_names, self.losses) if l is not None]
        self.trackers = [metrics_module.Mean(name=f"{n}_loss") for n in active] if len(active) > 1 else []

    def compute(self, y_trues, y_preds, sample_weights, masks, need_grad=True):
        """Returns (total weighted loss, per-output unweighted losses, per-output d_loss/d_pred)."""
        if not self.built:
            self.build(y_trues, y_preds)
        total, parts, grads = 0.0, [], []
        batch = int(y_preds[0].shape[0])
        tracker = iter(self.trackers)
        for i, (loss, weight) in enumerate(zip(self.losses, self.weights)):
            if loss is None:
                grads.append(None)
                continue
            yt, yp = y_trues[i], y_preds[i]
            if yt is None:
                raise ValueError(f"No target data was given for output {self.output_names[i]!r}, which has a loss")
            sw = sample_weights[i] if sample_weights is not None else None
            mask = masks[i] if masks is not None else None
            # The loss applies its own reduction, sample weights and masks (output masks and its own).
            if need_grad:
                value, d_pred = loss.loss_and_grad(yt, yp, sample_weight=sw, mask=mask)
                grads.append(d_pred * d_pred.dtype.type(weight))
            else:
                value = loss(yt, yp, sample_weight=sw, mask=mask)
                grads.append(None)
            value = float(value)
            parts.append(value)
            if self.trackers:
                next(tracker).update_state(value, sample_weight=batch)
            total += weight * value
        return total, parts, grads


class CompiledMetrics:
    """The model's metrics per output, named as Keras names them in History."""

    def __init__(self, metrics, weighted_metrics, output_names, keras2_names=False):
        self.output_names = list(output_names)
        self._user = (metrics, weighted_metrics)
        self._keras2_names = keras2_names
        self.entries = None

    def _spread(self, metrics, what):
        if not metrics:
            return [[] for _ in self.output_names]
        if isinstance(metrics, dict):
            per = by_name(metrics, self.output_names, what, allow_missing=True)
        elif isinstance(metrics, (list, tuple)) and len(self.output_names) > 1 and any(
            isinstance(m, (list, tuple)) or m is None for m in metrics
        ):
            per = by_name(list(metrics), self.output_names, what, allow_missing=True)
        elif isinstance(metrics, (list, tuple)):
            per = [list(metrics)] * len(self.output_names)
        else:
            raise ValueError(
                f"Expected `{what}` argument to be a list, tuple, or dict. Received instead: {what}={metrics!r} "
                f"of type {type(metrics)}"
            )
        return [[] if p is None else (list(p) if isinstance(p, (list, tuple)) else [p]) for p in per]

    def build(self, y_trues, y_preds):
        metrics, weighted = self._user
        multi = len(self.output_names) > 1
        self.entries = []
        used = {}
        for kind, spread in (("plain", self._spread(metrics, "metrics")),
                             ("weighted", self._spread(weighted, "weighted_metrics"))):
            for i, ids in enumerate(spread):
                yt, yp = y_trues[i], y_preds[i]
                for ident in ids:
                    m = metrics_module.get(ident, y_true_shape=None if yt is None else tuple(yt.shape),
                                           y_pred_shape=tuple(yp.shape), keras2_names=self._keras2_names)
                    name = f"{self.output_names[i]}_{m.name}" if multi else m.name
                    if name in used:
                        if kind == "weighted":
                            name = f"{self.output_names[i]}_weighted_{m.name}" if multi else f"weighted_{m.name}"
                        if name in used:
                            used[name] += 1
                            name = f"{name}_{used[name] - 1}"
                    used.setdefault(name, 1)
                    self.entries.append((name, i, m, kind == "weighted"))

    def update(self, y_trues, y_preds, sample_weights, masks):
        if self.entries is None:
            self.build(y_trues, y_preds)
        for _, i, m, weighted in self.entries:
            sw = sample_weights[i] if (weighted and sample_weights is not None) else None
            mask = masks[i] if masks is not None else None
            if mask is not None:
                sw = mask.astype("float32") if sw is None else match_rank(mask.astype("float32"), sw) * mask
            m.update_state(y_trues[i], y_preds[i], sample_weight=sw)

    def results(self) -> dict:
        return {name: float(m.result()) for name, _, m, _ in (self.entries or [])}

    def reset(self):
        for _, _, m, _ in self.entries or []:
            m.reset_state()
