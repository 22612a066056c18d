"""Images to and from arrays with Pillow (Keras's ``load_img``, ``img_to_array``, ``array_to_img``,
``save_img``). Arrays are ``(height, width, channels)`` (``channels_last``) or
``(channels, height, width)`` (``channels_first``)."""
from __future__ import annotations

import io
import pathlib

import numpy as np
from PIL import Image

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
COLOR_MODES = ("grayscale", "rgb", "rgba")


def _check_data_format(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f'`data_format` should be "channels_last" or "channels_first". Received: {data_format!r}')
    return data_format


def array_to_img(x, data_format="channels_last", scale=True, dtype="float32"):
    """A PIL image from a 3D array; ``scale`` maps the array's [min, max] to [0, 255]."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if _check_data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def img_to_array(img, data_format="channels_last", dtype="float32"):
    """A 3D array from a PIL image (a grayscale image gets a channel axis of 1)."""
    x = np.asarray(img, dtype=dtype)
    channels_first = _check_data_format(data_format) == "channels_first"
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if channels_first else x
    if x.ndim == 2:
        return x.reshape((1,) + x.shape) if channels_first else x.reshape(x.shape + (1,))
    raise ValueError(f"Unsupported image shape: {x.shape}")


def save_img(path, x, data_format="channels_last", file_format=None, scale=True, **kwargs):
    """Writes the array ``x`` as an image file (format from the suffix unless ``file_format``)."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """A PIL image read from ``path`` in ``color_mode``, resized to ``target_size`` ``(height, width)``."""
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba", got {color_mode!r}')
    if target_size is None:
        return img
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Invalid interpolation method {interpolation!r} specified. Supported methods are "
                         f"{', '.join(INTERPOLATIONS)}")
    resample = INTERPOLATIONS[interpolation]
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return img.resize(width_height, resample, box=[left, top, left + crop_width, top + crop_height])
