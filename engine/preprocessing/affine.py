"""Per-image transforms of Keras's legacy image preprocessing, on one 3D image array.

``apply_affine_transform`` composes rotation, shift, shear and zoom into one matrix about the
image centre and resamples each channel with ``scipy.ndimage.affine_transform`` (``fill_mode``:
constant, nearest, reflect or wrap, with ``cval``), exactly as Keras does. The ``random_*``
helpers draw their parameter from ``rng`` (a NumPy Generator; the global one when None).
"""
from __future__ import annotations

import numpy as np
from PIL import ImageEnhance
from scipy import ndimage

from engine import random as engine_random
from engine.preprocessing.image_io import array_to_img, img_to_array

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def flip_axis(x, axis):
    """``x`` reversed along ``axis``."""
    return np.flip(np.asarray(x), axis)


def transform_matrix_offset_center(matrix, x, y):
    """``matrix`` (3x3, homogeneous) moved to act about the centre of an ``x`` by ``y`` image."""
    o_x = float(x) / 2 - 0.5
    o_y = float(y) / 2 - 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(offset_matrix, matrix), reset_matrix)


def _compose(theta, tx, ty, shear, zx, zy):
    """The 3x3 matrix of rotation (degrees), shift, shear (degrees) and zoom, or None for identity."""
    matrices = []
    if theta != 0:
        theta = np.deg2rad(theta)
        matrices.append(np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]))
    if tx != 0 or ty != 0:
        matrices.append(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]))
    if shear != 0:
        shear = np.deg2rad(shear)
        matrices.append(np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        matrices.append(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    if not matrices:
        return None
    transform = matrices[0]
    for m in matrices[1:]:
        transform = np.dot(transform, m)
    return transform


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """The 3D image ``x`` rotated by ``theta`` degrees, shifted by ``tx`` rows / ``ty`` columns,
    sheared by ``shear`` degrees and zoomed by ``zx`` / ``zy``; same shape as ``x``."""
    if np.unique([row_axis, col_axis, channel_axis]).size != 3:
        raise ValueError("'row_axis', 'col_axis', and 'channel_axis' must be distinct")
    actual = {row_axis, col_axis, channel_axis}
    if actual != {0, 1, 2}:
        raise ValueError(f"Invalid axis' indices: {actual - {0, 1, 2}}")
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if channel_axis not in (0, 2):
        raise ValueError("Channels are allowed and the first and last dimensions.")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    transform = _compose(theta, tx, ty, shear, zx, zy)
    if transform is None:
        return x
    h, w = x.shape[row_axis], x.shape[col_axis]
    transform = transform_matrix_offset_center(transform, h, w)
    x = np.rollaxis(x, channel_axis, 0)
    if col_axis > row_axis:
        # The matrix is built for (x, y) coordinates; arrays index (row, col): swap both.
        transform[:, [0, 1]] = transform[:, [1, 0]]
        transform[[0, 1]] = transform[[1, 0]]
    channels = [ndimage.affine_transform(c, transform[:2, :2], transform[:2, 2], order=order, mode=fill_mode,
                                         cval=cval) for c in x]
    return np.rollaxis(np.stack(channels, axis=0), 0, channel_axis + 1)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Adds ``intensity`` to every channel, clipped to the image's original [min, max]."""
    x = np.rollaxis(x, channel_axis, 0)
    min_x, max_x = np.min(x), np.max(x)
    x = np.stack([np.clip(c + intensity, min_x, max_x) for c in x], axis=0)
    return np.rollaxis(x, 0, channel_axis + 1)


def apply_brightness_shift(x, brightness, scale=True):
    """Pillow's ``ImageEnhance.Brightness(brightness)`` on the image (through 8-bit, as Keras does)."""
    x_min, x_max = np.min(x), np.max(x)
    local_scale = (x_min < 0) or (x_max > 255)
    img = array_to_img(x, scale=local_scale or scale)
    x = img_to_array(ImageEnhance.Brightness(img).enhance(brightness))
    if not scale and local_scale:
        x = x / 255 * (x_max - x_min) + x_min
    return x


def _rng(rng):
    return engine_random.global_generator() if rng is None else rng


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                    interpolation_order=1, rng=None):
    """Rotation by a uniform angle in ``[-rg, rg]`` degrees."""
    theta = _rng(rng).uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1, rng=None):
    """Shift by uniform fractions ``[-hrg, hrg]`` of the height and ``[-wrg, wrg]`` of the width."""
    rng = _rng(rng)
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = rng.uniform(-hrg, hrg) * h
    ty = rng.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1, rng=None):
    """Shear by a uniform angle in ``[-intensity, intensity]`` degrees."""
    shear = _rng(rng).uniform(-intensity, intensity)
    return apply_affine_transform(x, shear=shear, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                interpolation_order=1, rng=None):
    """Zoom by ``zx, zy`` drawn uniformly from ``zoom_range`` (two floats)."""
    if len(zoom_range) != 2:
        raise ValueError(f"`zoom_range` should be a tuple or list of two floats. Received: {zoom_range}")
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = _rng(rng).uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_channel_shift(x, intensity_range, channel_axis=0, rng=None):
    """Channel shift by a uniform intensity in ``[-intensity_range, intensity_range]``."""
    return apply_channel_shift(x, _rng(rng).uniform(-intensity_range, intensity_range), channel_axis=channel_axis)


def random_brightness(x, brightness_range, scale=True, rng=None):
    """Brightness shift by a factor drawn uniformly from ``brightness_range`` (two floats)."""
    if len(brightness_range) != 2:
        raise ValueError(f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}")
    return apply_brightness_shift(x, _rng(rng).uniform(brightness_range[0], brightness_range[1]), scale)
