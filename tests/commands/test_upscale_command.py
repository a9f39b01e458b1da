"""`esrgan upscale` end to end, in-process, with a tiny random model (fast) and once with the built-in default."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.cli import main
from esrgan.models import save_model
from tests.commands.images import photo, save_rgb


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random x2 SRVGGNetCompact: fast, and its output depends on the input (not an identity)."""
    path = tmp_path_factory.mktemp("model") / "tiny_x2.pth"
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), path)
    return path


def test_folder_with_bad_files_goes_on_and_reports(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    save_rgb(src / "a.png", photo())
    save_rgb(src / "b.jpg", photo())
    (src / "empty.png").write_bytes(b"")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        status = main(["upscale", str(src), "-o", str(out), "-m", str(tiny_model), "-q"])
    assert status == 1  # something failed
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.jpg"]
    assert cv2.imread(str(out / "a_x2.png")).shape == (48, 64, 3)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("empty.png" in m for m in errors) and any("corrupt.png" in m for m in errors)
    assert "upscaled 2, skipped 0, failed 2" in caplog.text


def test_single_file_output_and_outscale(tmp_path: Path, tiny_model: Path) -> None:
    src = save_rgb(tmp_path / "a.png", photo(20, 30))
    out = tmp_path / "res" / "big.webp"
    assert main(["upscale", str(src), "-o", str(out), "-m", str(tiny_model), "-s", "3.5", "-q"]) == 0
    assert cv2.imread(str(out)).shape == (70, 105, 3)
    # several inputs cannot go to one file
    src2 = save_rgb(tmp_path / "b.png", photo())
    assert main(["upscale", str(src), str(src2), "-o", str(out), "-m", str(tiny_model), "-q"]) == 2


def test_keeps_16bit_alpha_and_gray(tmp_path: Path, tiny_model: Path) -> None:
    rgb16 = (photo().astype(np.uint16) * 257)[..., ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), np.ascontiguousarray(rgb16))
    rgba = np.dstack([photo(), np.tile(np.linspace(0, 255, 32), (24, 1)).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "gray.png"), photo()[..., 0])
    Image.fromarray(rgba).save(tmp_path / "alpha_jpgsource.webp", lossless=True)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path), "-o", str(out), "-m", str(tiny_model), "-q"]) == 0
    deep = cv2.imread(str(out / "deep_x2.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (48, 64, 3)
    alpha = np.asarray(Image.open(out / "alpha_x2.png"))
    assert alpha.shape == (48, 64, 4)
    # the alpha ramp survives the network: left columns transparent-ish, right opaque-ish
    assert alpha[:, :4, 3].mean() < 80 and alpha[:, -4:, 3].mean() > 175
    gray = cv2.imread(str(out / "gray_x2.png"), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 2 and gray.shape == (48, 64)
    assert np.asarray(Image.open(out / "alpha_jpgsource_x2.webp")).shape[2] == 4


def test_never_overwrites_an_input(tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    before = src.read_bytes()
    status = main(["upscale", str(src), "-o", str(tmp_path), "--suffix", "", "-m", str(tiny_model), "-q"])
    assert status == 1
    assert src.read_bytes() == before
    assert f"{src}: output {src} would overwrite an input; change -o or --suffix" in caplog.text


def test_skip_existing_recursive_and_max_pixels(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    save_rgb(tmp_path / "in" / "a.png", photo())
    save_rgb(tmp_path / "in" / "sub" / "b.png", photo())
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "in"), "-r", "-o", str(out), "-m", str(tiny_model), "-q"]) == 0
    assert (out / "sub" / "b_x2.png").is_file()
    mtime = (out / "a_x2.png").stat().st_mtime_ns
    args = ["upscale", str(tmp_path / "in"), "-r", "-o", str(out), "-m", str(tiny_model), "-q", "--skip-existing"]
    assert main(args) == 0
    assert (out / "a_x2.png").stat().st_mtime_ns == mtime
    big = ["upscale", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "o2"), "-m", str(tiny_model), "-q"]
    assert main([*big, "--max-pixels", "100"]) == 1
    message = f"{tmp_path / 'in' / 'a.png'}: 32x24 is 0.0 MP, above --max-pixels 100; pass --max-pixels 0 to allow"
    assert message in caplog.text
    assert main([*big, "--max-pixels", "0"]) == 0


def test_glob_and_missing_pattern(tmp_path: Path, tiny_model: Path) -> None:
    save_rgb(tmp_path / "x1.png", photo())
    save_rgb(tmp_path / "x2.png", photo())
    out = tmp_path / "out"
    status = main(["upscale", str(tmp_path / "x*.png"), str(tmp_path / "nope.png"), "-o", str(out), "-m",
                   str(tiny_model), "-q"])  # fmt: skip
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["x1_x2.png", "x2_x2.png"]


def test_unknown_model_name_suggests_closest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "-m", "realesrgan-x4plu", "-q"]) == 2
    assert "realesrgan-x4plus" in caplog.text


def test_output_matches_library_call(tmp_path: Path) -> None:
    """The command's PNG equals the engine's output quantised: no colour swap, shift or rescale on the way."""
    import torch

    from esrgan.image import read_image, to_tensor
    from esrgan.inference import Upscaler
    from esrgan.models import load_model

    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    save_model(net, tmp_path / "r.pth")
    src = save_rgb(tmp_path / "a.png", photo(16, 20))
    out = tmp_path / "o.png"
    assert main(["upscale", str(src), "-o", str(out), "-m", str(tmp_path / "r.pth"), "--precision", "fp32",
                 "--tile", "0", "-q"]) == 0  # fmt: skip
    loaded, _ = load_model(tmp_path / "r.pth")
    expected = Upscaler(loaded, tile=0, precision="fp32")(to_tensor(read_image(src).pixels))
    expected_u8 = (expected[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    got = cv2.imread(str(out))[..., ::-1]
    assert np.abs(got.astype(int) - expected_u8.astype(int)).max() <= 1
    assert torch.is_tensor(expected)


def test_default_builtin_model_on_a_real_photo(tmp_path: Path) -> None:
    """The built-in realesrgan-x4plus upscales a real photo: the result, shrunk back, resembles the input."""
    rgb = photo(32, 32)
    src = save_rgb(tmp_path / "p.png", rgb)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "-q"]) == 0
    sr = cv2.imread(str(tmp_path / "o.png"))[..., ::-1]
    assert sr.shape == (128, 128, 3)
    back = cv2.resize(sr, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    mse = np.mean((back - rgb.astype(np.float64)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 25


def test_upscale_with_interp_equals_interpolated_file(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module], tmp_path: Path
) -> None:
    pa, pb, _, _ = model_pair
    img = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "i.png"), img)
    assert main(["interp", str(pa), str(pb), "--alpha", "0.4", "-o", str(tmp_path / "m.pth")]) == 0
    common = ["--precision", "fp32", "--tile", "0", "-q"]
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "x.png"), "-m", str(tmp_path / "m.pth"),
                 *common]) == 0  # fmt: skip
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "y.png"), "--interp",
                 f"{pa}:{pb}:0.4", *common]) == 0  # fmt: skip
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "x.png")), cv2.imread(str(tmp_path / "y.png")))


def test_bad_interp_spec_names_the_flag(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--interp", "a.pth:0.5", "-q"]) == 2
    assert "--interp: interpolation spec 'a.pth:0.5' must look like A:B:ALPHA" in caplog.text


def test_upscale_file_is_what_the_command_does_per_file(tmp_path: Path, tiny_model: Path) -> None:
    """The library function gives the command's file, byte for byte, from Python."""
    from esrgan.inference import EngineOptions, Upscaler, upscale_file
    from esrgan.models import load_model

    rgba = np.dstack([photo(), np.full((24, 32), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.webp", lossless=True)
    assert main(["upscale", str(tmp_path / "a.webp"), "-o", str(tmp_path / "cli"), "-m", str(tiny_model), "-q"]) == 0
    net, _ = load_model(tiny_model)
    result = upscale_file(tmp_path / "a.webp", tmp_path / "lib" / "a_x2", Upscaler.from_options(net, EngineOptions()),
                          ext="auto")  # fmt: skip
    assert result.target == tmp_path / "lib" / "a_x2.webp" and (result.width, result.height) == (64, 48)
    assert result.target.read_bytes() == (tmp_path / "cli" / "a_x2.webp").read_bytes()
