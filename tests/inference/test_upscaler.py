"""The Upscaler: padding, tiling, ensemble, precision, clamping, OOM retry (esrgan/inference/upscaler.py)."""

from __future__ import annotations

import itertools
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.inference import upscaler as upscaler_module
from esrgan.inference.upscaler import (
    CPU_TILE_CAP,
    MIN_TILE,
    PEAK_FACTOR,
    Upscaler,
    broken_outputs,
    pad_to_multiple,
)


class Nearest(nn.Module):
    """A pointwise 'network': nearest upscaling times ``gain`` plus ``offset``, with a size multiple (it carries
    the SRNetwork contract)."""

    arch_name = "Nearest"
    supports_fp16 = supports_bf16 = True

    def __init__(self, scale: int = 2, size_multiple: int = 1, gain: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.scale = scale
        self.size_multiple = self.min_size = size_multiple
        self.num_in_ch = self.num_out_ch = 3
        self.gain = gain
        self.offset = offset
        self.calls: list[tuple[int, ...]] = []
        self.conv = nn.Conv2d(3, 3, 1)  # a 4-D weight, to observe the memory format

    def hparams(self) -> dict[str, float]:
        return {"scale": self.scale, "size_multiple": self.size_multiple, "gain": self.gain, "offset": self.offset}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % self.size_multiple == 0 and x.shape[-1] % self.size_multiple == 0
        if not x.is_meta:  # the engine's shape-only trace is not a call
            self.calls.append(tuple(x.shape))
        return F.interpolate(x, scale_factor=self.scale, mode="nearest") * self.gain + self.offset


class OutOfMemoryAbove(Nearest):
    """Raises CUDA's out-of-memory error for inputs with a side above ``limit``, like a GPU would."""

    def __init__(self, limit: int) -> None:
        super().__init__(scale=2)
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (test: side {max(x.shape[-2:])})")
        return super().forward(x)


def tiny_rrdbnet(scale: int) -> RRDBNet:
    return RRDBNet(3, 3, scale=scale, num_feat=8, num_block=1, num_grow_ch=4).eval()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


# --- shapes, padding, clamping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "multiple"), [(4, 1), (2, 2), (1, 4)])
def test_odd_sizes_are_padded_and_cropped(scale: int, multiple: int) -> None:
    net = tiny_rrdbnet(scale)
    assert net.size_multiple == multiple
    x = torch.rand(1, 3, 13, 17)
    y = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    assert y.shape == (1, 3, 13 * scale, 17 * scale) and y.dtype == torch.float32 and y.device.type == "cpu"
    with torch.inference_mode():
        reference = net(pad_to_multiple(x, multiple))[..., : 13 * scale, : 17 * scale].clamp(0, 1)
    torch.testing.assert_close(y, reference, rtol=0, atol=1e-5)


def test_pad_to_multiple_reflects_and_handles_tiny_images() -> None:
    x = torch.arange(5.0).reshape(1, 1, 1, 5)
    assert pad_to_multiple(x, 1) is x
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 8)
    assert padded[0, 0, 0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]  # reflected along the width
    assert bool((padded == padded[:, :, :1]).all())  # replicated along the 1-pixel height
    assert pad_to_multiple(torch.rand(1, 3, 1, 1), 4).shape == (1, 3, 4, 4)


def test_tiled_with_size_multiple_equals_pointwise_result() -> None:
    net = Nearest(scale=2, size_multiple=4)
    x = torch.rand(2, 3, 45, 31)
    y = Upscaler(net, tile=8, tile_pad=3, precision="fp32", device="cpu")(x)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest"), rtol=0, atol=1e-6)
    assert len(net.calls) > 4  # it really was tiled


def test_output_is_clamped() -> None:
    x = torch.rand(1, 3, 10, 10)
    y = Upscaler(Nearest(gain=3.0, offset=-1.0), tile=0, device="cpu")(x)
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0
    expected = (F.interpolate(x, scale_factor=2, mode="nearest") * 3 - 1).clamp(0, 1)
    torch.testing.assert_close(y, expected)


def test_batch_equals_images_one_by_one() -> None:
    up = Upscaler(tiny_rrdbnet(2), tile=8, tile_pad=4, precision="fp32", device="cpu")
    x = torch.rand(3, 3, 18, 14)
    y = up(x)
    for b in range(3):
        torch.testing.assert_close(y[b : b + 1], up(x[b : b + 1]), rtol=0, atol=1e-5)


def test_tiled_network_is_close_to_untiled() -> None:
    """A network with a receptive field of radius 6 input pixels, tiles padded by 16: only pixels within 6 of
    a window edge are wrong, and the blend gives them almost no weight."""
    net = SRVGGNetCompact(3, 3, num_feat=8, num_conv=4, upscale=4).eval()
    x = torch.rand(1, 3, 40, 36)
    whole = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    parts = Upscaler(net, tile=16, tile_pad=16, precision="fp32", device="cpu")(x)
    assert psnr(parts, whole) > 60
    hard = Upscaler(net, tile=16, tile_pad=2, precision="fp32", device="cpu")(x)
    assert psnr(hard, whole) < psnr(parts, whole) - 10  # too little context: visibly worse


def test_input_is_validated() -> None:
    up = Upscaler(Nearest(), tile=0, device="cpu")
    with pytest.raises(ValueError, match="3 channels, the input has 4"):
        up(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match="float"):
        up(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        up(torch.rand(3, 8, 8))


@pytest.mark.parametrize(
    "kwargs", [{"tile": -1}, {"tile": "big"}, {"tile_pad": -2}, {"tile_batch": 0}, {"precision": "fp8"}]
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Upscaler(Nearest(), device="cpu", **kwargs)  # type: ignore[arg-type]


def test_fp16_on_cpu_is_refused_with_the_alternative() -> None:
    with pytest.raises(ValueError, match="bf16 or fp32"):
        Upscaler(Nearest(), precision="fp16", device="cpu")


def test_runs_in_inference_mode_with_channels_last_weights() -> None:
    modes: list[bool] = []

    class Spy(Nearest):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            modes.append(torch.is_inference_mode_enabled() and x.is_contiguous(memory_format=torch.channels_last))
            return super().forward(x)

    net = Spy()
    up = Upscaler(net, tile=0, device="cpu")
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert up.scale == 2 and up.device == torch.device("cpu") and up.dtype in (torch.float32, torch.bfloat16)
    up(torch.rand(1, 3, 6, 6))
    assert modes == [True]


def test_bf16_matches_fp32_closely() -> None:
    torch.manual_seed(0)
    net = SRVGGNetCompact(3, 3, num_feat=8, num_conv=2, upscale=2).eval()
    x = torch.rand(1, 3, 24, 24)
    fp32 = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    bf16 = Upscaler(net, tile=0, precision="bf16", device="cpu")
    assert bf16.dtype == torch.bfloat16
    assert psnr(bf16(x), fp32) > 40


# --- ensemble and progress ----------------------------------------------------------------------------------------


def test_ensemble_of_equivariant_net_is_unchanged_and_progress_counts_all_passes() -> None:
    calls: list[tuple[int, int]] = []
    net = Nearest(scale=2)
    x = torch.rand(1, 3, 20, 12)
    y = Upscaler(net, tile=8, tile_pad=2, ensemble=True, device="cpu", on_tile=lambda d, t: calls.append((d, t)))(x)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest"), rtol=0, atol=1e-6)
    tiles_per_pass = 3 * 2  # 20 -> 3 cores of <= 8, 12 -> 2 cores
    assert len(net.calls) == 8 * tiles_per_pass
    assert calls == [(i, 8 * tiles_per_pass) for i in range(8 * tiles_per_pass + 1)]  # from (0, total)


def test_progress_inside_one_call_comes_from_the_work_of_its_layers() -> None:
    """An image that fits one tile reports fractions while it runs, rising with the convolutions done."""
    from esrgan.models.flops import flops_per_input_pixel

    calls: list[tuple[float, int]] = []
    net = tiny_rrdbnet(2)
    up = Upscaler(net, tile=0, precision="fp32", device="cpu", on_tile=lambda d, t: calls.append((d, t)))
    assert up.flops_per_pixel == pytest.approx(flops_per_input_pixel(net, 3, size=16))
    up._meter.interval = 0.0  # report after every layer (the engine waits 0.5 s between reports)
    up(torch.rand(1, 3, 12, 16))
    fractions = [done for done, _ in calls[1:-1]]
    assert calls[0] == (0, 1) and calls[-1] == (1, 1) and len(fractions) > 10
    assert all(0 < a < b < 1 for a, b in itertools.pairwise(fractions))
    assert fractions[-1] > 0.9  # the counted layers are (nearly) all the work


def test_ensemble_changes_a_real_network_output() -> None:
    net = tiny_rrdbnet(2)
    x = torch.rand(1, 3, 12, 16)
    plain = Upscaler(net, tile=0, precision="fp32", device="cpu")(x)
    ens = Upscaler(net, tile=0, precision="fp32", ensemble=True, device="cpu")(x)
    assert ens.shape == plain.shape and not torch.allclose(ens, plain)


# --- automatic tile size ------------------------------------------------------------------------------------------


def test_activation_estimate_for_esrgan_x4() -> None:
    """The largest layer of RRDBNet x4 is a 64-channel 3x3 conv at 4x: 2 * 64 * 16 values per input pixel."""
    up = Upscaler(RRDBNet(num_block=1), precision="fp32", device="cpu")  # the trunk depth does not matter
    assert up.activation_bytes_per_pixel() == PEAK_FACTOR * 2 * 64 * 16 * 4


def test_auto_tile_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    up = Upscaler(RRDBNet(num_block=1), precision="fp32", device="cpu")
    meta = torch.empty(1, 3, 2048, 2048, device="meta")
    assert up.tile_for(torch.empty(1, 3, 64, 64, device="meta")) == 0  # small: one piece
    assert 0 < up.tile_for(meta) <= CPU_TILE_CAP
    # Less free memory: the tile shrinks so that it fits in 40% of 4 GiB minus the 0.8 GB output image.
    free = 4 * 2**30
    monkeypatch.setattr(upscaler_module, "free_memory_bytes", lambda _d: free)
    small = up.tile_for(meta)
    assert MIN_TILE < small < CPU_TILE_CAP
    budget = 0.4 * free - 4 * 3 * (2048 * 4) ** 2
    assert (small + 2 * up.tile_pad) ** 2 * up.activation_bytes_per_pixel() <= budget
    assert (small + 8 + 2 * up.tile_pad) ** 2 * up.activation_bytes_per_pixel() > budget  # and not smaller
    # Almost no memory: the minimum tile.
    monkeypatch.setattr(upscaler_module, "free_memory_bytes", lambda _d: 2**20)
    assert up.tile_for(meta) == MIN_TILE
    monkeypatch.setattr(upscaler_module, "free_memory_bytes", lambda _d: None)
    assert up.tile_for(meta) == upscaler_module.FALLBACK_TILE


def test_auto_tile_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upscaler_module, "CPU_TILE_CAP", 16)
    net = Nearest(scale=2)
    x = torch.rand(1, 3, 40, 40)
    y = Upscaler(net, tile_pad=4, device="cpu")(x)
    assert max(max(shape[-2:]) for shape in net.calls) <= 16 + 2 * 4
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest"), rtol=0, atol=1e-6)


# --- failures -----------------------------------------------------------------------------------------------------


def test_out_of_memory_halves_the_tile_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    net = OutOfMemoryAbove(limit=40)
    x = torch.rand(1, 3, 128, 96)
    up = Upscaler(net, tile=0, tile_pad=4, device="cpu")
    with caplog.at_level(logging.WARNING, logger="esrgan.inference.upscaler"):
        y = up(x)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest"), rtol=0, atol=1e-6)
    assert "retrying with tile 64" in caplog.text and "retrying with tile 32" in caplog.text
    # The smaller tile is remembered: the next image goes straight to tiles that fit.
    net.calls.clear()
    caplog.clear()
    up(x)
    assert "out of memory" not in caplog.text and net.calls


def test_out_of_memory_below_the_minimum_tile_raises_clearly() -> None:
    up = Upscaler(OutOfMemoryAbove(limit=8), tile=64, tile_pad=4, device="cpu")
    with pytest.raises(RuntimeError, match=r"out of memory on cpu even with tile 32") as info:
        up(torch.rand(1, 3, 100, 100))
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)


def test_other_errors_inside_a_tile_propagate() -> None:
    class Fails(Nearest):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if len(self.calls) == 2:
                raise ValueError("bad tile")
            return super().forward(x)

    with pytest.raises(ValueError, match="bad tile"):
        Upscaler(Fails(), tile=8, tile_pad=2, device="cpu")(torch.rand(1, 3, 30, 30))


def test_broken_outputs_flags_nan_and_black() -> None:
    x = torch.full((4, 3, 2, 2), 0.5)
    x[3] = 0.0
    y = torch.full((4, 3, 4, 4), 0.5)
    y[1, 0, 0, 0] = math.nan
    y[2] = 0.0  # black output of a grey input
    y[3] = 0.0  # black output of a black input is fine
    assert broken_outputs(x, y).tolist() == [False, True, True, False]


def test_broken_fp16_images_are_recomputed_in_fp32(caplog: pytest.LogCaptureFixture) -> None:
    """Simulates fp16 overflow on the CPU: the net returns NaN for bright images while fp16 autocast is on."""
    precisions: list[bool] = []

    class Overflows(Nearest):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            half = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.float16
            precisions.append(half)
            y = super().forward(x)
            if half:
                y[y.flatten(1).mean(1) > 0.5] = math.nan
            return y

    up = Upscaler(Overflows(), tile=0, precision="fp32", device="cpu")
    up.dtype = torch.float16  # CPU autocast runs fp16 too; resolve_precision refuses it only because it is slow
    x = torch.rand(3, 3, 8, 8) * 0.5
    x[1] += 0.5
    with caplog.at_level(logging.WARNING, logger="esrgan.inference.upscaler"):
        y = up(x)
    assert precisions == [True, False]
    assert "1 image(s)" in caplog.text
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2, mode="nearest"), rtol=0, atol=1e-6)


# --- GPU ----------------------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_fp16_matches_fp32() -> None:
    net = tiny_rrdbnet(4)
    x = torch.rand(2, 3, 33, 21)
    fp32 = Upscaler(net, tile=16, precision="fp32", device="cuda")(x)
    auto = Upscaler(net, tile=16, precision="auto", device="cuda")
    assert auto.dtype == torch.float16
    y = auto(x)
    assert y.device.type == "cpu" and y.dtype == torch.float32
    assert psnr(y, fp32) > 40


@pytest.mark.gpu
def test_cuda_auto_tile_fits_free_memory() -> None:
    up = Upscaler(RRDBNet(), device="cuda")
    tile = up.tile_for(torch.empty(1, 3, 4096, 4096, device="meta"))
    free, _ = torch.cuda.mem_get_info()
    assert tile == 0 or (tile + 2 * up.tile_pad) ** 2 * up.activation_bytes_per_pixel() <= free


def test_resolved_settings_say_what_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a video's resume identity records: "auto" resolved, compile as asked, JSON values.
    net = SRVGGNetCompact(num_feat=4, num_conv=1)
    up = Upscaler(net, tile=0, tile_pad=4, precision="auto", device="cpu", backend="auto")
    auto = {torch.float32: "fp32", torch.bfloat16: "bf16"}[upscaler_module.resolve_precision("auto", up.device)]
    assert up.resolved_settings() == {
        "backend": "torch", "precision": auto, "compile": False, "tile": 0, "tile_pad": 4, "ensemble": False,
    }  # fmt: skip
    monkeypatch.setattr(torch, "compile", lambda net, **kwargs: net)
    compiled = Upscaler(net, tile="auto", precision="fp32", device="cpu", ensemble=True, compile=True)
    assert compiled.resolved_settings() == {
        "backend": "torch", "precision": "fp32", "compile": True, "tile": "auto", "tile_pad": 16, "ensemble": True,
    }  # fmt: skip
