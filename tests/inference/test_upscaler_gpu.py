"""The engine on a real CUDA device: fp16 auto with its NaN/black fallback, out-of-memory halving, tile batches.

Every test here is marked ``gpu`` (skipped without CUDA, run by ``make gpu-check``). On the CPU these paths are
covered with fakes (tests/inference/test_upscaler.py); here they meet real kernels, a real caching allocator and
real half-precision overflow.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.inference import Upscaler

pytestmark = pytest.mark.gpu


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


class _PoisonFirstHalfCall(nn.Module):
    """Wraps a network; its first call that computes in fp16 returns NaN in one corner (an injected bad tile)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        for name in ("arch_name", "scale", "size_multiple", "min_size", "num_in_ch", "num_out_ch"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))
        self.supports_fp16 = True
        self.supports_bf16 = True
        self.poisoned = 0

    def hparams(self) -> dict[str, object]:
        return dict(self.net.hparams())  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        half = torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16
        if half and self.poisoned == 0:
            self.poisoned += 1
            y = y.clone()
            y[..., :8, :8] = float("nan")
        return y


@pytest.fixture
def photo(photo_rgb: np.ndarray) -> torch.Tensor:
    crop = photo_rgb[64:160, 96:224].astype(np.float32) / 255.0  # 96x128
    return torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0).contiguous()


def test_auto_precision_is_fp16_on_cuda() -> None:
    up = Upscaler(SRVGGNetCompact(num_feat=8, num_conv=2), device="cuda", precision="auto")
    assert up.device.type == "cuda" and up.dtype == torch.float16


def test_fp16_fallback_recomputes_an_injected_bad_tile_in_fp32(
    photo: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    base = SRVGGNetCompact(num_feat=16, num_conv=4, upscale=4)
    reference = Upscaler(base, device="cuda", precision="fp32", tile=48)(photo)
    poisoned = _PoisonFirstHalfCall(base)
    with caplog.at_level(logging.WARNING):
        out = Upscaler(poisoned, device="cuda", precision="auto", tile=48)(photo)
    assert poisoned.poisoned == 1
    assert torch.isfinite(out).all()
    assert "recomputing them in fp32" in caplog.text
    # The recomputed image is the fp32 result, not a patched fp16 one.
    assert float((out - reference).abs().max()) <= 1e-5


def test_fp16_is_close_to_fp32_on_a_photo(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = RRDBNet(num_feat=32, num_block=3, num_grow_ch=16)
    fp32 = Upscaler(net, device="cuda", precision="fp32", tile=0)(photo)
    fp16 = Upscaler(net, device="cuda", precision="fp16", tile=0)(photo)
    assert _psnr(fp16, fp32) >= 45.0


def test_out_of_memory_halves_the_tile_under_a_capped_memory_fraction(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = RRDBNet(num_feat=64, num_block=2, num_grow_ch=32)
    x = torch.nn.functional.interpolate(photo, size=(768, 1024), mode="bilinear", align_corners=False).clamp(0, 1)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    # 3 GiB: a whole 768x1024 x4 fp32 pass needs several 3072x4096x64 activations (3 GiB each) and cannot fit.
    fraction = min(1.0, 3 * 2**30 / total)
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    try:
        up = Upscaler(net, device="cuda", precision="fp32", tile=0, tile_pad=16)
        out = up(x)
        assert up._tile_limit is not None and up._tile_limit < max(x.shape[-2:])
        assert torch.cuda.max_memory_reserved(0) <= fraction * total * 1.01
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
    reference = Upscaler(net, device="cuda", precision="fp32", tile=up._tile_limit, tile_pad=16)(x)
    assert out.shape == (1, 3, 768 * 4, 1024 * 4)
    assert float((out - reference).abs().max()) <= 1e-4


def test_tile_batch_gives_the_same_pixels(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=16, num_conv=4, upscale=4)
    one = Upscaler(net, device="cuda", precision="fp32", tile=32, tile_batch=1)(photo)
    many = Upscaler(net, device="cuda", precision="fp32", tile=32, tile_batch=6)(photo)
    assert float((one - many).abs().max()) <= 1e-5


def test_cuda_output_matches_cpu(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = RRDBNet(num_feat=16, num_block=2, num_grow_ch=8)
    cpu = Upscaler(net, device="cpu", precision="fp32", tile=48)(photo)
    cuda = Upscaler(net, device="cuda", precision="fp32", tile=48)(photo)
    # TF32 convolutions may be on by default in cuDNN: 10 mantissa bits, so allow a few 1/255 steps at most.
    assert _psnr(cuda, cpu) >= 50.0


def test_bf16_on_cuda(photo: torch.Tensor) -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    torch.manual_seed(0)
    net = RRDBNet(num_feat=32, num_block=3, num_grow_ch=16)
    fp32 = Upscaler(net, device="cuda", precision="fp32", tile=0)(photo)
    bf16 = Upscaler(net, device="cuda", precision="bf16", tile=0)(photo)
    assert _psnr(bf16, fp32) >= 40.0


def test_compile_on_cuda_matches_eager(photo: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=16, num_conv=4, upscale=4)
    eager = Upscaler(net, device="cuda", precision="fp32", tile=0)(photo)
    up = Upscaler(net, device="cuda", precision="fp32", tile=0, compile=True)
    out = up(photo)
    assert up.compiled is True
    assert float((out - eager).abs().max()) <= 1e-3
