"""``esrgan.upscale``: upscale an image array or file from Python in one call.

    >>> import numpy as np
    >>> import esrgan
    >>> photo = np.zeros((24, 32, 3), np.uint8)  # (H, W, 3) RGB uint8, as Pillow and skimage give images
    >>> big = esrgan.upscale(photo, model="realesr-animevideov3")
    >>> big.shape, big.dtype
    ((96, 128, 3), dtype('uint8'))

It runs what ``esrgan upscale`` runs for each file (:func:`esrgan.inference.files.upscale_image_data`: channels
onto the network's, alpha, the ``outscale`` resize) with an engine built once per model and settings and kept for
the next call, so a loop over many images loads the model once.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import OptionsError
from esrgan.inference.options import EngineOptions

if TYPE_CHECKING:
    from torch import nn

    from esrgan.image import ImageData
    from esrgan.inference import Upscaler

__all__ = ["upscale"]

_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_LAYOUTS = "(H, W) gray, (H, W, 1) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA"


def upscale(
    image: np.ndarray | str | os.PathLike[str],
    model: str | os.PathLike[str] | nn.Module | Upscaler = DEFAULT_MODEL,
    *,
    outscale: float | None = None,
    alpha: str = "model",
    **engine: Any,
) -> np.ndarray:
    """Upscale one image.

    Args:
        image: an array of shape (H, W), (H, W, 1), (H, W, 2) (gray + alpha), (H, W, 3) (RGB) or (H, W, 4)
            (RGBA), colour in RGB order, of dtype uint8, uint16, or float32 / float64 in [0, 1]; or the path of an
            image file (PNG, JPEG, WebP, BMP, TIFF; its EXIF orientation applied).
        model: a built-in name (``esrgan models``), a model file, a loaded network, or an
            :class:`~esrgan.inference.Upscaler` (then no engine options).
        outscale: final size relative to the input (default: the model's scale).
        alpha: "model" upscales transparency with the network, "bicubic" resizes it.
        **engine: :class:`~esrgan.inference.EngineOptions` (``tile``, ``tile_pad``, ``ensemble``, ``precision``,
            ``device``, ``backend``, ``compile``, ``tile_batch``).

    Returns:
        The upscaled image with the input's dtype and layout (a file gives its own: uint8 for 8-bit files, uint16
        for 16-bit, float32 for float; (H, W) gray, (H, W, 2), (H, W, 3) or (H, W, 4)). Floats are in [0, 1].

    Raises:
        ValueError: an array of another dtype or layout (one message naming what is accepted), non-finite values,
            an unknown engine option, or a model or file that cannot be used.
    """
    from esrgan.inference.files import upscale_image_data

    upscaler = _upscaler(model, engine)
    data, like = _image_data(image)
    result = upscale_image_data(upscaler, data, outscale=outscale, alpha_mode=alpha)  # type: ignore[arg-type]
    return _to_array(result, like)


def _upscaler(model: Any, engine: dict[str, Any]) -> Upscaler:
    from torch import nn

    from esrgan.inference import Upscaler

    if isinstance(model, Upscaler):
        if engine:
            raise OptionsError(f"engine options {sorted(engine)} cannot change an Upscaler: build it with them instead")
        return model
    options = _options(engine)
    if isinstance(model, nn.Module):
        return Upscaler.from_options(model, options)
    return _cached_engine(os.fspath(model), options)


@functools.lru_cache(maxsize=4)
def _cached_engine(model: str, options: EngineOptions) -> Upscaler:
    """The engine for a model name or file and settings, built once (loading realesrgan-x4plus takes ~0.5 s, a
    compiled backend seconds); the four most recent are kept."""
    from esrgan.inference import Upscaler
    from esrgan.models import load_model

    net, _ = load_model(model)
    return Upscaler.from_options(net, options)


def _options(engine: dict[str, Any]) -> EngineOptions:
    names = [f.name for f in dataclasses.fields(EngineOptions)]
    for key in engine:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise OptionsError(f"unknown engine option {key!r}: {hint}use {', '.join(names)}")
    return EngineOptions(**engine)


@dataclasses.dataclass(frozen=True)
class _Like:
    """What the output must look like: the input's dtype and number of dimensions."""

    dtype: np.dtype[Any]
    ndim: int


def _image_data(image: Any) -> tuple[ImageData, _Like]:
    """The image as the package's :class:`ImageData` (RGB or gray float [0, 1] + alpha), and its look."""
    from esrgan.image import ImageData, read_image, to_unit

    if isinstance(image, str | os.PathLike):
        data = read_image(image)
        dtype = {8: np.uint8, 16: np.uint16}.get(data.bit_depth, np.float32)
        channels = data.pixels.shape[2] + (data.alpha is not None)
        return dataclasses.replace(data, metadata=None), _Like(np.dtype(dtype), 2 if channels == 1 else 3)
    if not isinstance(image, np.ndarray):
        raise OptionsError(f"image must be a numpy array or a file path, not {type(image).__name__}")
    arr = image[:, :, None] if image.ndim == 2 else image
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise OptionsError(f"image of shape {image.shape} is not an image: use {_LAYOUTS}")
    if arr.dtype not in _DTYPES:
        raise OptionsError(
            f"image of dtype {arr.dtype} is not supported: use uint8, uint16, or float32/float64 in [0, 1]"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise OptionsError("image has NaN or infinite values: floats must be in [0, 1]")
    unit, depth = to_unit(arr)
    colour = 1 if unit.shape[2] <= 2 else 3
    alpha = unit[:, :, colour] if unit.shape[2] in (2, 4) else None
    data = ImageData(pixels=np.ascontiguousarray(unit[:, :, :colour]), alpha=alpha, bit_depth=depth)
    return data, _Like(arr.dtype, image.ndim)


def _to_array(result: ImageData, like: _Like) -> np.ndarray:
    """``result`` (float [0, 1] pixels and alpha) in the input's dtype and layout."""
    from esrgan.image import to_uint8

    planes = result.pixels if result.alpha is None else np.dstack([result.pixels, result.alpha])
    planes = np.clip(planes, 0.0, 1.0)
    if like.dtype == np.uint8:
        out = to_uint8(planes)
    elif like.dtype == np.uint16:
        out = np.floor(planes.astype(np.float64) * 65535.0 + 0.5).astype(np.uint16)
    else:
        out = planes.astype(like.dtype)
    return out[:, :, 0] if like.ndim == 2 else out
