"""The commands with models of architectures esrgan has no network for (loaded through spandrel) and with SPAN
(its own network): `esrgan info`, `models`, `upscale` (16-bit, alpha, ensemble, tiles), `video`, `test` and
`export` (issue 14)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from esrgan.cli import main
from tests.spandrel_models import save, state_dict_of


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """DAT x2 (minimum side 16, no fp16), SAFMN x2 (sides multiples of 8), SPAN x2 (built by spandrel)."""
    root = tmp_path_factory.mktemp("foreign")
    return {name: save(state_dict_of(name), root / f"{name}.safetensors") for name in ("DAT", "SAFMN", "SPAN")}


def test_info_names_the_loader_and_why(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(models["DAT"]), str(models["SPAN"])]) == 0
    text = capsys.readouterr().out
    assert "loader      spandrel: spandrel 0.4.2 detected DAT from its keys" in text
    assert "loader      native: SPAN: basicsr layout recognised from its keys" in text
    assert "input       sides at least 16 (padded to fit); precisions fp32, bf16\n" in text
    assert main(["info", "--json", str(models["SAFMN"])]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["loader"], d["arch"], d["scale"]) == ("spandrel", "SAFMN", 2)
    assert d["size_rule"] == {"multiple": 8, "minimum": 1}
    assert d["parameters"] > 0 and d["gflop_per_input_megapixel"] > 0 and d["hparams"]["dim"] == 8


def test_info_counts_the_cost_of_functional_convolutions(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # SPAN runs its folded 3x3 convolutions as F.conv2d: 20 of them at 8 -> 8 channels (18 * 64 * 2 FLOP per
    # pixel each), the first from 3 channels, the 1x1 merge (32 -> 8) and the upsampler (8 -> 12, 3x3).
    assert main(["info", "--json", str(models["SPAN"])]) == 0
    d = json.loads(capsys.readouterr().out)
    per_pixel = 2 * (9 * 3 * 8 + 19 * 9 * 8 * 8 + 32 * 8 + 9 * 8 * 12)
    assert d["gflop_per_input_megapixel"] == pytest.approx(per_pixel * 1e6 / 1e9, abs=0.1)


def test_models_lists_the_loaders(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["models"]) == 0
    assert "Loaders: esrgan's own networks (RRDBNet/ESRGAN, SRVGGNetCompact, SPAN) first" in capsys.readouterr().out
    monkeypatch.setattr("esrgan.models.signatures.spandrel_version", lambda: None)
    assert main(["models"]) == 0
    assert "with the spandrel extra (not installed: pip install 'esrgan[spandrel]')" in capsys.readouterr().out


def photo(h: int = 20, w: int = 27) -> np.ndarray:
    return skimage.data.coffee()[100 : 100 + h, 200 : 200 + w]


@pytest.mark.parametrize("name", ["DAT", "SAFMN"])
def test_upscale_16bit_alpha_ensemble_and_tiles(name: str, models: dict[str, Path], tmp_path: Path) -> None:
    rgb16 = (photo().astype(np.uint16) * 257)[..., ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), np.ascontiguousarray(rgb16))
    rgba = np.dstack([photo(), np.tile(np.linspace(0, 255, 27), (20, 1)).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = tmp_path / "out"
    argv = ["upscale", str(tmp_path), "-o", str(out), "-m", str(models[name]), "-q", "--ensemble", "--tile", "16"]
    assert main([*argv, "--tile-pad", "4"]) == 0  # 2 tiles across, below the minimum side 16 of DAT at the edge
    deep = cv2.imread(str(out / "deep_x2.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (40, 54, 3)
    assert np.asarray(Image.open(out / "alpha_x2.png")).shape == (40, 54, 4)


def test_bf16_where_spandrel_allows_it(models: dict[str, Path], tmp_path: Path) -> None:
    # DAT: no fp16, bf16 fine (spandrel's word); the refusal of an unsupported one: tests/inference/test_sizing.py
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), photo())
    argv = ["upscale", str(src), "-o", str(tmp_path / "o.png"), "-m", str(models["DAT"]), "--precision", "bf16"]
    assert main([*argv, "-q"]) == 0 and cv2.imread(str(tmp_path / "o.png")).shape == (40, 54, 3)


def test_video(models: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    img = skimage.data.chelsea()
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=8)
        vs.width, vs.height, vs.pix_fmt = 24, 18, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[40 + i : 58 + i, 60:84]), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    dst = tmp_path / "out.mp4"
    assert main(["video", str(src), "-o", str(dst), "-m", str(models["DAT"]), "-q", "--tile", "0"]) == 0
    with av.open(str(dst)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (48, 36)


def test_test_command_scores_a_spandrel_model(models: dict[str, Path], tmp_path: Path) -> None:
    hr = tmp_path / "HR"
    hr.mkdir()
    cv2.imwrite(str(hr / "cat.png"), skimage.data.chelsea()[60:100, 100:150, ::-1])
    out = tmp_path / "scores.json"
    argv = ["test", "-m", str(models["SAFMN"]), "--hr", str(hr), "--device", "cpu", "-q", "--json", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["scale"] == 2 and doc["model_info"]["arch"] == "SAFMN"


def test_export_writes_what_exports_and_says_what_does_not(
    models: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("onnxruntime")
    assert main(["export", "-m", str(models["SPAN"]), "-o", str(tmp_path / "span.onnx")]) == 0
    with caplog.at_level(logging.ERROR):
        status = main(["export", "-m", str(models["SAFMN"]), "-o", str(tmp_path / "safmn.onnx")])
    assert status == 2 and "SAFMN does not export to ONNX with the torchscript exporter" in caplog.text
    assert not (tmp_path / "safmn.onnx").exists()
