"""Image primitives: files in and out, the one decoder, header probing, sample conversions, resizing, folders.

- :mod:`~esrgan.image.io`: :func:`read_image` / :func:`write_image` (atomic; :func:`encode_image` then
  :func:`write_encoded`, apart where encoding and writing happen in different processes) and :class:`ImageData`:
  RGB float pixels in [0, 1] plus alpha; :func:`read_unchanged` for tools that want the stored samples.
- :mod:`~esrgan.image.decode`: the one decoder of encoded image bytes, used by every reader; it reads the header
  first (:func:`check_encoded`).
- :mod:`~esrgan.image.probe`: image headers without decoding (size, channels, frames; the allowlist of formats).
- :mod:`~esrgan.image.convert`: stored samples <-> float [0, 1] <-> uint8, numpy (H, W, C) <-> torch (1, C, H, W).
- :mod:`~esrgan.image.resize`: MATLAB-exact bicubic ``imresize`` (the benchmark degradation), the ``--outscale``
  resize and its :func:`output_size`.
- :mod:`~esrgan.image.folders`: image files of a folder, keyed and paired by stem.
- :mod:`~esrgan.image.metadata` / :mod:`~esrgan.image.embed`: the ICC profile and EXIF kept from input to output
  (:class:`ImageMetadata`), read from file headers and written into the encoded output.

Importing the package costs no torch (numpy and OpenCV only; torch is imported by the functions that take or
return tensors): the command line screens a batch's headers, and refuses a decompression bomb, without it.
"""

from esrgan.image.convert import from_tensor, to_float, to_tensor, to_uint8, to_unit
from esrgan.image.decode import check_encoded, decode, decode_rgb, sniff_extension, split_channels
from esrgan.image.folders import images_by_stem, list_images, pair_by_stem
from esrgan.image.io import (
    ImageData,
    encode_image,
    read_image,
    read_image_bytes,
    read_unchanged,
    write_encoded,
    write_image,
)
from esrgan.image.metadata import ImageMetadata
from esrgan.image.probe import IMAGE_EXTENSIONS, ImageHeader, check_image_file, probe_image
from esrgan.image.resize import bicubic_degrade, imresize, mod_crop, output_size, resize

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageData",
    "ImageHeader",
    "ImageMetadata",
    "bicubic_degrade",
    "check_encoded",
    "check_image_file",
    "decode",
    "decode_rgb",
    "encode_image",
    "from_tensor",
    "images_by_stem",
    "imresize",
    "list_images",
    "mod_crop",
    "output_size",
    "pair_by_stem",
    "probe_image",
    "read_image",
    "read_image_bytes",
    "read_unchanged",
    "resize",
    "sniff_extension",
    "split_channels",
    "to_float",
    "to_tensor",
    "to_uint8",
    "to_unit",
    "write_encoded",
    "write_image",
]
