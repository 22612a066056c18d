"""BatchNormalization and LayerNormalization, with Keras 3's formulas.

Both compute ``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)``;
variances are biased (divided by the count).
"""
from __future__ import annotations

from engine import backend, constraints, initializers, regularizers
from engine.layers.base import Layer
from engine.saving.layer_registry import register


def _axes_list(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else [int(axis)]


def _normalize_backprop(dy, xhat, inv_std, gamma_b, reduce_axes, count):
    """Gradient of ``xhat * gamma`` w.r.t. x where xhat = (x - mean) * inv_std over ``reduce_axes``."""
    g = dy * gamma_b if gamma_b is not None else dy
    mean_g = g.sum(axis=reduce_axes, keepdims=True) / count
    mean_gx = (g * xhat).sum(axis=reduce_axes, keepdims=True) / count
    return inv_std * (g - mean_g - xhat * mean_gx)


@register
class BatchNormalization(Layer):
    """Normalizes ``axis`` features with batch statistics in training, moving statistics at inference.

    Weights (Keras's order): gamma, beta (trainable, when ``scale`` / ``center``),
    moving_mean, moving_variance (non-trainable), each shaped ``(features,)``.
    Training updates ``moving = moving * momentum + batch * (1 - momentum)`` in
    the forward pass; a mask ``(batch, steps)`` restricts the statistics to
    unmasked steps.

    ``unbiased_fused_variance`` (set for models read from Keras 2 files): on 4-D inputs
    normalized over axis 1 or 3, the moving variance takes the unbiased batch variance
    ``var * n / (n - 1)``, as Keras 2's fused kernel did; the output still uses the biased one.
    """

    supports_masking = True
    unbiased_fused_variance = False

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise ValueError(f"BatchNormalization layer {self.name!r}: renorm=True is not supported by fitq")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization expects a single integer axis. Received: axis={axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = bool(synchronized)

    def build(self, input_shape):
        ndim = len(input_shape)
        axis = self.axis if self.axis >= 0 else ndim + self.axis
        if not 0 < axis < ndim:
            raise ValueError(f"Invalid axis: {self.axis} for input shape {tuple(input_shape)}")
        self._axis = axis
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {tuple(input_shape)}.")
        shape = (int(dim),)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                     self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                    self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _bshape(self, x):
        shape = [1] * x.ndim
        shape[self._axis] = x.shape[self._axis]
        return tuple(shape)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        bshape = self._bshape(inputs)
        reduce_axes = tuple(i for i in range(inputs.ndim) if i != self._axis)
        gamma = self.gamma.value.reshape(bshape) if self.scale else None
        beta = self.beta.value.reshape(bshape) if self.center else None
        if not (training and self.trainable):
            mean = self.moving_mean.value.reshape(bshape)
            inv = 1.0 / xp.sqrt(self.moving_variance.value.reshape(bshape) + self.epsilon)
            scale = inv * gamma if gamma is not None else inv
            shift = -mean * scale + (beta if beta is not None else 0.0)
            y = inputs * scale + shift

            def backprop_inference(dy):
                if self.scale:
                    self.gamma.add_grad((dy * (inputs - mean) * inv).sum(axis=reduce_axes))
                if self.center:
                    self.beta.add_grad(dy.sum(axis=reduce_axes))
                return dy * scale

            return y.astype(inputs.dtype), backprop_inference

        if mask is not None:
            w = xp.broadcast_to(xp.asarray(mask)[..., None], inputs.shape).astype(inputs.dtype)
            count = w.sum(axis=reduce_axes, keepdims=True) + backend.epsilon()
            mean = (inputs * w).sum(axis=reduce_axes, keepdims=True) / count
            var = (((inputs - mean) * w) ** 2).sum(axis=reduce_axes, keepdims=True) / count
        else:
            w = None
            mean = inputs.mean(axis=reduce_axes, keepdims=True)
            var = inputs.var(axis=reduce_axes, keepdims=True)
            count = inputs.size // inputs.shape[self._axis]
        m = self.momentum
        moving_var = var
        if self.unbiased_fused_variance and w is None and inputs.ndim == 4 and self._axis in (1, 3) and count > 1:
            moving_var = var * (count / (count - 1))
        self.moving_mean.assign(self.moving_mean.value * m + mean.reshape(-1) * (1.0 - m))
        self.moving_variance.assign(self.moving_variance.value * m + moving_var.reshape(-1) * (1.0 - m))
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        scale = inv_std * gamma if gamma is not None else inv_std
        shift = -mean * scale + (beta if beta is not None else 0.0)
        y = (inputs * scale + shift).astype(inputs.dtype)
        xhat = (inputs - mean) * inv_std

        def backprop(dy):
            if self.scale:
                self.gamma.add_grad((dy * xhat).sum(axis=reduce_axes))
            if self.center:
                self.beta.add_grad(dy.sum(axis=reduce_axes))
            if w is None:
                return _normalize_backprop(dy, xhat, inv_std, gamma, reduce_axes, count)
            g = dy * gamma if gamma is not None else dy
            mean_g = g.sum(axis=reduce_axes, keepdims=True) / count
            mean_gx = (g * xhat).sum(axis=reduce_axes, keepdims=True) / count
            return inv_std * (g - w * mean_g - w * xhat * mean_gx)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint),
                "synchronized": self.synchronized, "renorm": False, "renorm_clipping": None,
                "renorm_momentum": 0.99}


@register
class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (default the last); gamma and beta shaped like those axes."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        ndim = len(input_shape)
        self._axes = sorted(a if a >= 0 else ndim + a for a in _axes_list(self.axis))
        shape = tuple(int(input_shape[a]) for a in self._axes)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                     self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                    self.beta_constraint) if (self.center and not self.rms_scaling) else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, inputs, training=False, mask=None):
        xp = backend.array_module(inputs)
        axes = tuple(self._axes)
        bshape = [1] * inputs.ndim
        for a in axes:
            bshape[a] = inputs.shape[a]
        bshape = tuple(bshape)
        other = tuple(i for i in range(inputs.ndim) if i not in axes)
        count = 1
        for a in axes:
            count *= inputs.shape[a]
        gamma = self.gamma.value.reshape(bshape) if self.gamma is not None else None
        beta = self.beta.value.reshape(bshape) if self.beta is not None else None
        mean = inputs.mean(axis=axes, keepdims=True)
        var = inputs.var(axis=axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        if self.rms_scaling:
            xhat = inputs * inv_std
            y = xhat * gamma if gamma is not None else xhat
        else:
            scale = inv_std * gamma if gamma is not None else inv_std
            y = inputs * scale + (-mean * scale + (beta if beta is not None else 0.0))
            xhat = (inputs - mean) * inv_std
        y = y.astype(inputs.dtype)

        def backprop(dy):
            if self.gamma is not None:
                self.gamma.add_grad((dy * xhat).sum(axis=other).reshape(self.gamma.shape))
            if self.beta is not None:
                self.beta.add_grad(dy.sum(axis=other).reshape(self.beta.shape))
            if self.rms_scaling:
                g = dy * gamma if gamma is not None else dy
                xc = inputs - mean
                dvar = (g * inputs).sum(axis=axes, keepdims=True) * -0.5 * inv_std ** 3
                return g * inv_std + dvar * 2.0 * xc / count
            return _normalize_backprop(dy, xhat, inv_std, gamma, axes, count)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": _axes_list(self.axis), "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}
