"""Generic model-file containers, without architecture names: PyTorch files (:mod:`esrgan.formats.torch_file`),
safetensors (:mod:`esrgan.formats.safetensors_file`) and ncnn ``.param`` + ``.bin`` (:mod:`esrgan.formats.ncnn`,
its graph walker and interpreter :mod:`esrgan.formats.ncnn_graph`).

They read files into tensors or layers and write layers into files; what the tensors mean (which network, which
layout) is decided by the architecture rooms of :mod:`esrgan.archs` and the loader of :mod:`esrgan.models`.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """``"<ExceptionType>: <first line of its message, at most 120 characters>"``, for one-line errors."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__
