"""FLOP counts per input pixel, checked by hand."""

from __future__ import annotations

import pytest

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.models.flops import flops_per_input_pixel


def test_flops_per_pixel_matches_hand_count() -> None:
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    # convs: 3->8, 8->8, 8->8, 8->12, all 3x3 at input resolution
    per_pixel = 2 * 9 * (3 * 8 + 8 * 8 + 8 * 8 + 8 * 12)
    assert flops_per_input_pixel(net, 3, size=8) == per_pixel
    # RRDBNet x4 with the published shape: ~35.85 MFLOP per input pixel
    assert flops_per_input_pixel(RRDBNet(), 3, size=8) == pytest.approx(35.85e6, rel=1e-3)
