"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose, SeparableConv1D/2D, DepthwiseConv1D/2D,
and the Keras 1 constructors ``Convolution1D`` / ``Convolution2D``.

Inputs are ``(batch, steps, channels)`` / ``(batch, rows, cols, channels)``
(channels first with ``data_format="channels_first"``). Kernels are Keras's:
``(*kernel_size, in_channels // groups, filters)``; transposed kernels
``(*kernel_size, filters, in_channels)``; depthwise kernels
``(*kernel_size, in_channels, depth_multiplier)``; pointwise kernels
``(*ones, in_channels * depth_multiplier, filters)``.
"""
from __future__ import annotations

from engine import activations, backend, constraints, initializers, legacy, regularizers
from engine.layers import conv_ops as ops
from engine.layers.base import Layer
from engine.saving.layer_registry import register


def _ser(module, value):
    return module.serialize(value)


class _BaseConv(Layer):
    """Shared arguments, shape logic and the activation/bias tail of every convolution.

    Subclasses define ``_conv_forward(x4, need_input_grad, need_backprop) -> (z, backprop)``:
    channels-last 4-D input (N, H, W, C) to pre-activation outputs (N, oh, ow, F); ``backprop(dz)
    -> dx4`` (None without ``need_input_grad``) adds the kernel gradients. Without ``need_backprop``
    (inference) backprop may be None. Subclasses with ``_conv_adds_bias`` add the bias and its
    gradient there (ops.conv folds it into the GEMM); for the others z is before the bias.
    """

    _conv_adds_bias = False

    rank = 2
    _paddings = ("valid", "same")

    def _init_common(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                     bias_initializer, bias_regularizer, bias_constraint):
        self.kernel_size = ops.normalize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = ops.normalize_tuple(strides, self.rank, "strides")
        self.padding = ops.normalize_padding(padding, self._paddings)
        self.data_format = ops.normalize_data_format(data_format)
        self.dilation_rate = ops.normalize_tuple(dilation_rate, self.rank, "dilation_rate")
        if any(k <= 0 for k in self.kernel_size):
            raise ValueError(f"The argument `kernel_size` cannot contain 0. Received kernel_size={kernel_size}")
        if any(s <= 0 for s in self.strides):
            raise ValueError(f"The argument `strides` cannot contains 0. Received strides={strides}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    # ---------------------------------------------------------------- shapes
    def _channels(self, input_shape):
        c = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if c is None:
            raise ValueError(f"Layer {self.name!r}: the channel dimension of the inputs should be defined, "
                             f"got input shape {tuple(input_shape)}")
        return int(c)

    def _spatial(self, input_shape):
        return tuple(input_shape[2:]) if self.data_format == "channels_first" else tuple(input_shape[1:-1])

    def _out_spatial(self, spatial):
        return tuple(ops.output_length(s, k, st, d, self.padding)
                     for s, k, st, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def _out_channels(self, input_shape):
        return self.filters

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                             f"ndim={self.rank + 2}, found ndim={len(input_shape)}. Full shape received: {input_shape}")
        spatial = self._out_spatial(self._spatial(input_shape))
        if any(s is not None and s <= 0 for s in spatial):
            raise ValueError(f"Computed output size would be negative or zero for layer {self.name!r}: input shape "
                             f"{input_shape}, kernel_size={self.kernel_size}, strides={self.strides}, "
                             f"padding={self.padding!r}")
        c = self._out_channels(input_shape)
        if self.data_format == "channels_first":
            return (input_shape[0], c) + spatial
        return (input_shape[0],) + spatial + (c,)

    # ------------------------------------------------------- 4-D plumbing
    def _to4(self, x):
        """Input -> channels-last 4-D (N, H, W, C); 1-D layers get H = 1."""
        x = ops.to_last(x, self.data_format)
        return x[:, None] if self.rank == 1 else x

    def _from4(self, y):
        y = y[:, 0] if self.rank == 1 else y
        return ops.from_last(y, self.data_format)

    def _pair(self, t):
        return (1,) + t if self.rank == 1 else t

    def _pads(self, x4):
        pads = [ops.pad_pair(size, k, s, d, self.padding) for size, k, s, d in
                zip(x4.shape[1:3], self._pair(self.kernel_size), self._pair(self.strides),
                    self._pair(self.dilation_rate))]
        return tuple(pads)

    def _check_input(self, x):
        if x.ndim != self.rank + 2:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                             f"ndim={self.rank + 2}, found ndim={x.ndim}. Full shape received: {tuple(x.shape)}")

    skips_input_grad = True

    def call(self, inputs, training=False, mask=None):
        self._check_input(inputs)
        z, _ = self._conv_forward(self._to4(inputs), need_input_grad=False, need_backprop=False)
        return self._from4(self._bias_activation(z)[0])

    def forward(self, inputs, training=False, mask=None, need_input_grad=True):
        self._check_input(inputs)
        z, conv_bp = self._conv_forward(self._to4(inputs), need_input_grad)
        y, act_bp = self._bias_activation(z)

        def backprop(dy):
            dz = act_bp(self._to4(dy))
            if self.use_bias and not self._conv_adds_bias:
                self.bias.add_grad(ops.channel_sums(dz))
            dx4 = conv_bp(dz)
            return None if dx4 is None else self._from4(dx4)

        return self._from4(y), backprop

    def _bias_activation(self, z):
        """``(y, activation backprop)`` of the convolution's pre-bias output ``z`` (N, oh, ow, F).

        z is the convolution's own new array (maybe a transposed view): the bias and a relu go into it in place.
        """
        z = backend.array_module(z).ascontiguousarray(z)
        if self.use_bias and not self._conv_adds_bias:
            ops.add_bias(z, self.bias.value)
        return self.activation.forward_owned(z)

    def _bias_value(self):
        return self.bias.value if self.use_bias else None

    def _add_bias_grad(self, db):
        if db is not None:
            self.bias.add_grad(db)

    def _bias_config(self):
        return {"activity_regularizer": _ser(regularizers, self.activity_regularizer), "use_bias": self.use_bias,
                "bias_initializer": _ser(initializers, self.bias_initializer),
                "bias_regularizer": _ser(regularizers, self.bias_regularizer),
                "bias_constraint": _ser(constraints, self.bias_constraint)}

    def _geometry_config(self):
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate)}


class _Conv(_BaseConv):
    """``activation(conv(inputs, kernel) + bias)``."""

    _conv_adds_bias = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if lora_rank:
            raise ValueError(f"{type(self).__name__}: lora_rank is not supported")
        self.filters = int(filters)
        if self.filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters}.")
        self.groups = int(groups)
        if self.groups <= 0 or self.filters % self.groups:
            raise ValueError(f"The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, bias_constraint)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        c = self._channels(input_shape)
        if c % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {c} channels "
                             f"(full input shape is {tuple(input_shape)}).")
        self.kernel = self.add_weight("kernel", self.kernel_size + (c // self.groups, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def _conv_forward(self, x4, need_input_grad=True, need_backprop=True):
        pads = self._pads(x4)
        xpad = ops.pad4(x4, pads)
        kshape = self.kernel.shape
        k4 = self.kernel.value.reshape(self._pair(self.kernel_size) + kshape[-2:])
        z, bp = ops.conv(xpad, k4, self._pair(self.strides), self._pair(self.dilation_rate), self.groups,
                         self._bias_value(), need_backprop)
        if bp is None:
            return z, None

        def backprop(dz):
            dxpad, dk, db = bp(dz, need_input_grad)
            self.kernel.add_grad(dk.reshape(kshape))
            self._add_bias_grad(db)
            return None if dxpad is None else ops.unpad4(dxpad, pads)

        return z, backprop

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._geometry_config(), "groups": self.groups,
                "activation": activations.serialize(self.activation), **self._bias_config(),
                "kernel_initializer": _ser(initializers, self.kernel_initializer),
                "kernel_regularizer": _ser(regularizers, self.kernel_regularizer),
                "kernel_constraint": _ser(constraints, self.kernel_constraint)}


@register
class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; padding "valid", "same" or "causal"."""

    rank = 1
    _paddings = ("valid", "same", "causal")


@register
class Conv2D(_Conv):
    """2-D convolution over ``(batch, rows, cols, channels)``."""

    rank = 2


class _ConvTranspose(_BaseConv):
    """Transposed convolution: the adjoint of a strided convolution, kernel ``(*k, filters, in)``."""

    _conv_adds_bias = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = int(filters)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, bias_constraint)
        self.output_padding = (None if output_padding is None
                               else ops.normalize_tuple(output_padding, self.rank, "output_padding"))
        if self.output_padding is not None:
            for op, s in zip(self.output_padding, self.strides):
                if op >= s:
                    raise ValueError(f"Strides {self.strides} must be greater than output padding "
                                     f"{self.output_padding}.")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, c), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def _out_spatial(self, spatial):
        ops_ = self.output_padding or (None,) * self.rank
        return tuple(ops.transpose_output_length(s, k, st, d, self.padding, op) for s, k, st, d, op in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate, ops_))

    def _conv_forward(self, x4, need_input_grad=True, need_backprop=True):
        xp = backend.array_module(x4)
        strides, dil = self._pair(self.strides), self._pair(self.dilation_rate)
        ksize = self._pair(self.kernel_size)
        op = self.output_padding
        out_pad = (None, None) if op is None else ((0,) + op if self.rank == 1 else op)
        pads = tuple(ops.transpose_pad_pair(k, s, d, self.padding, o)
                     for k, s, d, o in zip(ksize, strides, dil, out_pad))
        xd = ops.crop_or_pad4(ops.dilate4(x4, strides), pads)
        kshape = self.kernel.shape
        k4 = self.kernel.value.reshape(ksize + kshape[-2:])
        kf = xp.ascontiguousarray(k4[::-1, ::-1].transpose(0, 1, 3, 2))
        z, bp = ops.conv(xd, kf, (1, 1), dil, bias=self._bias_value(), need_backprop=need_backprop)
        if bp is None:
            return z, None

        def backprop(dz):
            dxd, dkf, db = bp(dz, need_input_grad)
            self.kernel.add_grad(dkf.transpose(0, 1, 3, 2)[::-1, ::-1].reshape(kshape))
            self._add_bias_grad(db)
            if dxd is None:
                return None
            dxd = ops.crop_or_pad4(dxd, tuple((-a, -b) for a, b in pads))
            return dxd[:, ::strides[0], ::strides[1], :]

        return z, backprop

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation), **self._bias_config(),
                "kernel_initializer": _ser(initializers, self.kernel_initializer),
                "kernel_regularizer": _ser(regularizers, self.kernel_regularizer),
                "kernel_constraint": _ser(constraints, self.kernel_constraint)}


@register(aliases=("Deconvolution1D",))
class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution."""

    rank = 1


@register(aliases=("Deconvolution2D", "Deconv2D"))
class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution."""

    rank = 2


class _DepthwiseMixin:
    """Per-channel convolution with ``depth_multiplier`` kernels per input channel."""

    def _depthwise(self, x4, pads, need_input_grad=True):
        xpad = ops.pad4(x4, pads)
        dshape = self.depthwise_kernel.shape
        c, dm = dshape[-2], dshape[-1]
        k4 = self.depthwise_kernel.value.reshape(self._pair(self.kernel_size) + (1, c * dm))
        z, bp = ops.conv(xpad, k4, self._pair(self.strides), self._pair(self.dilation_rate), groups=c)

        def backprop(dz):
            dxpad, dk, _ = bp(dz, need_input_grad)
            self.depthwise_kernel.add_grad(dk.reshape(dshape))
            return None if dxpad is None else ops.unpad4(dxpad, pads)

        return z, backprop


class _DepthwiseConv(_DepthwiseMixin, _BaseConv):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = int(depth_multiplier)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, bias_constraint)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _out_channels(self, input_shape):
        return self._channels(input_shape) * self.depth_multiplier

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight("kernel", self.kernel_size + (c, self.depth_multiplier),
                                                self.depthwise_initializer, self.depthwise_regularizer,
                                                self.depthwise_constraint)
        self.bias = (self.add_weight("bias", (c * self.depth_multiplier,), self.bias_initializer,
                                     self.bias_regularizer, self.bias_constraint) if self.use_bias else None)
        self.built = True

    def _conv_forward(self, x4, need_input_grad=True, need_backprop=True):
        return self._depthwise(x4, self._pads(x4), need_input_grad)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier, **self._geometry_config(),
                "activation": activations.serialize(self.activation), **self._bias_config(),
                "depthwise_initializer": _ser(initializers, self.depthwise_initializer),
                "depthwise_regularizer": _ser(regularizers, self.depthwise_regularizer),
                "depthwise_constraint": _ser(constraints, self.depthwise_constraint)}


@register
class DepthwiseConv1D(_DepthwiseConv):
    rank = 1


@register
class DepthwiseConv2D(_DepthwiseConv):
    rank = 2


class _SeparableConv(_DepthwiseMixin, _BaseConv):
    """Depthwise convolution followed by a 1x1 (pointwise) convolution to ``filters`` channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, bias_constraint)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight("depthwise_kernel", self.kernel_size + (c, self.depth_multiplier),
                                                self.depthwise_initializer, self.depthwise_regularizer,
                                                self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel",
                                                (1,) * self.rank + (c * self.depth_multiplier, self.filters),
                                                self.pointwise_initializer, self.pointwise_regularizer,
                                                self.pointwise_constraint)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def _conv_forward(self, x4, need_input_grad=True, need_backprop=True):
        d, d_bp = self._depthwise(x4, self._pads(x4), need_input_grad)
        n, oh, ow, cd = d.shape
        pw = self.pointwise_kernel.value.reshape(cd, self.filters)
        d2 = d.reshape(-1, cd)
        z = (d2 @ pw).reshape(n, oh, ow, self.filters)

        def backprop(dz):
            dz2 = dz.reshape(-1, self.filters)
            self.pointwise_kernel.add_grad((d2.T @ dz2).reshape(self.pointwise_kernel.shape))
            return d_bp((dz2 @ pw.T).reshape(d.shape))

        return z, backprop

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier, "filters": self.filters,
                **self._geometry_config(), "activation": activations.serialize(self.activation),
                **self._bias_config(),
                "depthwise_initializer": _ser(initializers, self.depthwise_initializer),
                "pointwise_initializer": _ser(initializers, self.pointwise_initializer),
                "depthwise_regularizer": _ser(regularizers, self.depthwise_regularizer),
                "pointwise_regularizer": _ser(regularizers, self.pointwise_regularizer),
                "depthwise_constraint": _ser(constraints, self.depthwise_constraint),
                "pointwise_constraint": _ser(constraints, self.pointwise_constraint)}


@register(aliases=("SeparableConvolution1D",))
class SeparableConv1D(_SeparableConv):
    rank = 1


@register(aliases=("SeparableConvolution2D",))
class SeparableConv2D(_SeparableConv):
    rank = 2


_KERAS1_CONV_KEYS = {"nb_filter": "filters", "border_mode": "padding", "subsample": "strides",
                     "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
                     "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
                     "b_constraint": "bias_constraint", "bias": "use_bias", "dim_ordering": "data_format",
                     "filter_length": "kernel_size", "subsample_length": "strides"}
_DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}


def _keras1_kwargs(kwargs):
    out = {}
    for key, value in kwargs.items():
        new = _KERAS1_CONV_KEYS.get(key, key)
        if key == "dim_ordering":
            value = _DIM_ORDERING.get(value, value)
        out[new] = value
    return out


def Convolution2D(nb_filter=None, nb_row=None, nb_col=None, **kwargs):
    """Keras 1's ``Convolution2D(nb_filter, nb_row, nb_col, border_mode=, subsample=, ...)``: a Conv2D.

    Keras 2/3 keywords (``filters=``, ``kernel_size=``, ``padding=``, ``strides=``) work too;
    Keras 1's positional kernel size and keywords warn (``UserWarning``), as Keras 2 did.
    """
    keras1 = sorted(set(kwargs) & set(_KERAS1_CONV_KEYS))
    kwargs = _keras1_kwargs(kwargs)
    if nb_filter is not None:
        kwargs["filters"] = nb_filter
    if nb_row is not None:
        if isinstance(nb_row, (tuple, list)):
            kwargs["kernel_size"] = tuple(nb_row)
            if nb_col is not None:
                kwargs["strides"] = nb_col
        else:
            keras1.append("nb_row, nb_col")
            kwargs["kernel_size"] = (nb_row, nb_col if nb_col is not None else nb_row)
    if keras1:
        legacy.warn_keras1_call("Conv2D", f"Conv2D({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})")
    return Conv2D(**kwargs)


def Convolution1D(nb_filter=None, filter_length=None, **kwargs):
    """Keras 1's ``Convolution1D(nb_filter, filter_length, border_mode=, subsample_length=, ...)``: a Conv1D."""
    keras1 = set(kwargs) & set(_KERAS1_CONV_KEYS)
    kwargs = _keras1_kwargs(kwargs)
    if nb_filter is not None:
        kwargs["filters"] = nb_filter
    if filter_length is not None:
        kwargs["kernel_size"] = filter_length
    if keras1:
        legacy.warn_keras1_call("Conv1D", f"Conv1D({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})")
    return Conv1D(**kwargs)


register(Conv2D, aliases=("Convolution2D", "Conv2d"))
register(Conv1D, aliases=("Convolution1D",))

# Keras 2's other names for these classes.
Deconvolution1D = Conv1DTranspose
Deconvolution2D = Deconv2D = Conv2DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D

# Keras 2's ``keras.layers.convolutional`` also exported the pooling, padding, cropping and
# upsampling layers; programs import them from here.
from engine.layers.pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,  # noqa: E402,F401
                                   MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from engine.layers.reshaping import (Cropping1D, Cropping2D, UpSampling1D, UpSampling2D,  # noqa: E402,F401
                                     ZeroPadding1D, ZeroPadding2D)
