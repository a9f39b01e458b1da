"""Inference engine: tiling, self-ensemble and the :class:`Upscaler` that combines them with a network."""

from esrgan.inference.ensemble import dihedral, dihedral_inverse, self_ensemble
from esrgan.inference.tiling import plan_tiles, split_axis, tiled
from esrgan.inference.upscaler import Upscaler, pad_to_multiple

__all__ = [
    "Upscaler",
    "dihedral",
    "dihedral_inverse",
    "pad_to_multiple",
    "plan_tiles",
    "self_ensemble",
    "split_axis",
    "tiled",
]
