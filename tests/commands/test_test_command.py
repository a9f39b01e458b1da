"""``esrgan test``: tables, CSV and JSON on tiny made-up sets, the bicubic baseline, a tiny saved model, errors."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan import shipped_options
from esrgan.cli import main
from esrgan.datasets.make_degraded_lr import main as make_degraded_lr
from esrgan.evaluation import TestOptions as Options  # not "Test*": pytest would collect it
from esrgan.evaluation.protocol import SHIPPED_OPTIONS
from esrgan.image import bicubic_degrade, imresize, mod_crop
from esrgan.metrics import calculate_psnr, calculate_ssim
from esrgan.options import load_options


def _hr_set(root: Path) -> dict[str, np.ndarray]:
    """Three small HR images (RGB), sizes not multiples of 2 or 3, one gray; written as PNG."""
    images = {
        "cat": skimage.data.chelsea()[60:125, 100:171],
        "coffee": skimage.data.coffee()[100:163, 200:258],
        "gray": skimage.data.camera()[200:261, 180:237],
    }
    root.mkdir(parents=True)
    for name, img in images.items():
        cv2.imwrite(str(root / f"{name}.png"), img[:, :, ::-1] if img.ndim == 3 else img)
    return images


def _expected_bicubic(images: dict[str, np.ndarray], s: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, img in images.items():
        hr = mod_crop(img, s)
        sr = imresize(bicubic_degrade(img, s), s)
        out[name] = (calculate_psnr(sr, hr, s), calculate_ssim(sr, hr, s))
    return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_bicubic_table_csv_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = _hr_set(tmp_path / "Tiny" / "HR")
    expected = _expected_bicubic(images, 3)
    out_csv, out_json = tmp_path / "r" / "scores.csv", tmp_path / "r" / "scores.json"
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "Tiny" / "HR"), "-s", "3", "-q"]
    assert main([*argv, "--csv", str(out_csv), "--json", str(out_json)]) == 0

    table = capsys.readouterr().out
    assert "Tiny: bicubic x3, Y, crop border 3, 3 images" in table  # name from the folder above HR/
    mean_psnr = np.mean([p for p, _ in expected.values()])
    mean_ssim = np.mean([s for _, s in expected.values()])
    for name, (psnr, ssim) in expected.items():
        assert any(
            line.startswith(name) and f"{psnr:.4f}" in line and f"{ssim:.4f}" in line for line in table.splitlines()
        )
    assert any(line.startswith("(mean)") and f"{mean_psnr:.4f}" in line for line in table.splitlines())

    rows = _read_csv(out_csv)
    assert [r["image"] for r in rows] == ["cat", "coffee", "gray", "(mean)"]
    for r in rows[:3]:
        assert float(r["psnr"]) == pytest.approx(expected[r["image"]][0], abs=1e-6)
        assert float(r["ssim"]) == pytest.approx(expected[r["image"]][1], abs=1e-6)
        assert (int(r["height"]), int(r["width"])) == mod_crop(images[r["image"]], 3).shape[:2]
    assert float(rows[3]["psnr"]) == pytest.approx(mean_psnr, abs=1e-6)

    doc = json.loads(out_json.read_text())
    assert doc["model"] == "bicubic" and doc["scale"] == 3 and doc["model_info"] is None
    assert doc["protocol"]["channel"] == "y" and doc["protocol"]["crop_border"] == 3
    (ds,) = doc["datasets"]
    assert ds["name"] == "Tiny" and ds["num_images"] == 3
    assert ds["psnr"] == pytest.approx(mean_psnr, abs=1e-9) and ds["ssim"] == pytest.approx(mean_ssim, abs=1e-9)
    assert {i["image"]: i["psnr"] for i in ds["images"]} == pytest.approx({k: v[0] for k, v in expected.items()})

    # Existing outputs are not replaced without --overwrite.
    assert main([*argv, "--csv", str(out_csv)]) == 2
    assert main([*argv, "--csv", str(out_csv), "--overwrite"]) == 0


def test_lr_folder_pairs_by_stem_and_rgb_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = _hr_set(tmp_path / "HR")
    lr_dir = tmp_path / "LR"
    lr_dir.mkdir()
    for name, img in images.items():
        lr = bicubic_degrade(img, 2)
        stem = f"{name}x2" if name == "cat" else name  # DIV2K-style names pair too
        cv2.imwrite(str(lr_dir / f"{stem}.png"), lr[:, :, ::-1] if lr.ndim == 3 else lr)
    out = tmp_path / "given.csv"
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "--lr", str(lr_dir), "-s", "2", "-q"]
    assert main([*argv, "--csv", str(out)]) == 0
    made = tmp_path / "made.csv"
    assert main(["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "-s", "2", "-q", "--csv", str(made)]) == 0
    assert [r["psnr"] for r in _read_csv(out)] == [r["psnr"] for r in _read_csv(made)]

    rgb = tmp_path / "rgb.csv"
    assert main([*argv, "--rgb", "--crop-border", "0", "--csv", str(rgb)]) == 0
    hr, sr = mod_crop(images["coffee"], 2), imresize(bicubic_degrade(images["coffee"], 2), 2)
    row = next(r for r in _read_csv(rgb) if r["image"] == "coffee")
    assert float(row["psnr"]) == pytest.approx(calculate_psnr(sr, hr, 0, test_y_channel=False), abs=1e-6)


def test_pairing_and_size_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    images = _hr_set(tmp_path / "HR")
    lr_dir = tmp_path / "LR"
    lr_dir.mkdir()
    for name in ("cat", "coffee"):
        cv2.imwrite(str(lr_dir / f"{name}.png"), bicubic_degrade(images[name], 4))
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "--lr", str(lr_dir), "-s", "4", "-q"]
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    assert "no LR image for HR 'gray'" in caplog.text

    cv2.imwrite(str(lr_dir / "gray.png"), bicubic_degrade(images["gray"], 4)[:-1])
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1  # one image is not scored; the others are
    assert "gray.png: LR is 14x14 (WxH); x4 gives 56x56" in caplog.text and "is 56x60" in caplog.text

    cv2.imwrite(str(lr_dir / "extra.png"), bicubic_degrade(images["gray"], 4))
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    assert "extra.png has no HR image" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(["test", "-m", "bicubic", "--hr", str(tmp_path / "missing"), "-s", "4"]) == 2
        assert main(["test", "--hr", str(tmp_path / "HR"), "-s", "4"]) == 2
        assert main(["test", "-m", "bicubic", "--hr", str(tmp_path / "HR")]) == 2
    assert "HR folder not found" in caplog.text and "no model" in caplog.text and "'scale' is required" in caplog.text


def test_yaml_with_several_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _hr_set(tmp_path / "A" / "HR")
    _hr_set(tmp_path / "B")
    opt = tmp_path / "test.yml"
    opt.write_text(
        f"model: bicubic\nscale: 2\ndatasets:\n  - {{name: A, hr: {tmp_path / 'A' / 'HR'}}}\n"
        f"  - {{name: B, hr: {tmp_path / 'B'}}}\njson: {tmp_path / 'out.json'}\n"
    )
    assert main(["test", "-opt", str(opt), "-q"]) == 0
    out = capsys.readouterr().out
    assert "dataset  images" in out and "\nA   " in out and "\nB   " in out
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [d["name"] for d in doc["datasets"]] == ["A", "B"]
    assert doc["datasets"][0]["psnr"] == doc["datasets"][1]["psnr"]  # the same images
    # --set overrides the file; a misspelled key names the closest one.
    assert main(["test", "-opt", str(opt), "--set", "scale=3", "--set", "overwrite=true", "-q"]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["scale"] == 3
    hr_a = str(tmp_path / "A" / "HR")
    assert (
        main(["test", "-m", "bicubic", "--hr", hr_a, "--set", "scale=2", "--json", str(tmp_path / "b.json"), "-q"]) == 0
    )
    assert json.loads((tmp_path / "b.json").read_text())["scale"] == 2
    opt.write_text(opt.read_text() + "crop_boder: 2\n")
    assert main(["test", "-opt", str(opt), "-q"]) == 2


def test_tiny_saved_model_gray_and_saved_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from esrgan.models import build_network, save_model

    images = _hr_set(tmp_path / "HR")
    torch.manual_seed(0)
    net = build_network(
        "SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "upscale": 2}
    )
    weights = tmp_path / "tiny.pth"
    save_model(net, weights)
    save, out_json = tmp_path / "sr", tmp_path / "tiny.json"
    argv = ["test", "-m", str(weights), "--hr", str(tmp_path / "HR"), "--name", "tiny", "--device", "cpu", "-q"]
    assert main([*argv, "--save", str(save), "--json", str(out_json), "--tile", "0"]) == 0
    doc = json.loads(out_json.read_text())
    assert doc["scale"] == 2 and doc["model_info"]["arch"] == "SRVGGNetCompact"
    scores = {i["image"]: i for i in doc["datasets"][0]["images"]}
    for name, img in images.items():
        sr = cv2.imread(str(save / "tiny" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        hr = mod_crop(img, 2)
        assert sr.shape == hr.shape  # the gray image's SR is saved gray
        sr = sr[:, :, ::-1] if sr.ndim == 3 else sr
        # What is saved is what was scored.
        assert scores[name]["psnr"] == pytest.approx(calculate_psnr(sr, hr, 2), abs=1e-9)
        assert scores[name]["ssim"] == pytest.approx(calculate_ssim(sr, hr, 2), abs=1e-9)
    assert main([*argv, "--save", str(save)]) == 2  # SR files exist
    assert main([*argv, "-s", "4"]) == 2  # the model is x2


def test_options_files_validate() -> None:
    files = sorted(shipped_options.FOLDER.glob("test_*.yml"))
    assert files
    for path in files:
        opts = load_options(Options, path)
        assert opts.datasets and opts.model


def test_a_bad_image_is_reported_and_the_others_are_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """One damaged HR file stopped the whole run; now it is named once and the means are over the others."""
    images = _hr_set(tmp_path / "HR")
    (tmp_path / "HR" / "broken.png").write_bytes((tmp_path / "HR" / "cat.png").read_bytes()[:100])
    (tmp_path / "HR" / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4) + b"IHDR" + bytes(13))
    out_json = tmp_path / "s.json"
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "-s", "2", "-q", "--json", str(out_json)]
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1  # some images were not scored
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("broken.png" in m for m in errors) == 1 and sum("bomb.png" in m for m in errors) == 1
    assert not any(r.exc_info for r in caplog.records)
    table = capsys.readouterr().out
    assert "not scored: 2 image(s) (bomb, broken; the reasons are logged above)" in table
    doc = json.loads(out_json.read_text())["datasets"][0]
    assert doc["num_images"] == len(images) and [f["image"] for f in doc["failed"]] == ["bomb", "broken"]
    expected = _expected_bicubic(images, 2)
    assert doc["psnr"] == pytest.approx(np.mean([p for p, _ in expected.values()]), abs=1e-9)


def test_a_bug_on_one_image_is_shown_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import esrgan.evaluation.run as run

    _hr_set(tmp_path / "HR")
    real = run.score_image

    def buggy(stem: str, *args: object, **kwargs: object) -> object:
        if stem == "coffee":
            raise IndexError("a bug in scoring")
        return real(stem, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "score_image", buggy)
    assert main(["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "-s", "2", "-q"]) == 3
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "coffee.png" in tracebacks[0].getMessage()
    assert "this is a bug in esrgan" in caplog.text


@pytest.mark.parametrize("name", ["../up", "a/b", ".", ".."])
def test_saved_images_stay_in_their_dataset_folder(tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each dataset's SR images go to SAVE/<name>/<stem>.png: a name that is not a plain folder name is refused
    (names are unique and stems are unique per folder, so no two outputs share a file)."""
    _hr_set(tmp_path / "HR")
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "--name", name, "-s", "2", "-q"]
    assert main([*argv, "--save", str(tmp_path / "sr")]) == 2
    assert "must be a plain folder name" in caplog.text and not (tmp_path / "sr").exists()


def test_the_images_bar_moves_within_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dataset's bar counts images and the engine's fractions of the one being upscaled."""
    from esrgan.commands import progress
    from esrgan.commands.test import _ImagesBar

    updates: list[float] = []

    class Recorded(progress.WorkBar):
        def update(self, done: float, total: float | None = None) -> None:
            updates.append(done)
            super().update(done, total)

    monkeypatch.setattr(progress, "WorkBar", Recorded)
    bars = _ImagesBar(quiet=True)
    for _ in bars.over(["a", "b"], "Set5"):  # type: ignore[list-item]
        bars.on_tile(0, 4)
        bars.on_tile(2.5, 4)
    assert updates == [0, 0.0, 0.625, 1, 1.0, 1.625, 2]


DEGRADE = SHIPPED_OPTIONS / "degrade_test_x4.yml"


def test_degraded_lr_with_a_fixed_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--degradation NAME --seed N scores the LR make_degraded_lr writes; tables, CSV and JSON say which."""
    _hr_set(tmp_path / "HR")
    folder = tmp_path / "LR"
    argv = ["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "--name", "Tiny", "-s", "4", "-q"]
    made, given = tmp_path / "made.csv", tmp_path / "given.csv"
    assert main([*argv, "--degradation", "degrade_test_x4", "--seed", "3", "--csv", str(made),
                 "--json", str(tmp_path / "made.json")]) == 0  # fmt: skip
    title = "Tiny: bicubic x4, Y, crop border 4, 3 images, LR degraded by degrade_test_x4, seed 3"
    assert title in capsys.readouterr().out
    assert make_degraded_lr([str(tmp_path / "HR"), str(folder), "--options", str(DEGRADE), "--seed", "3", "-q"]) == 0
    assert main([*argv, "--lr", str(folder), "--csv", str(given)]) == 0
    assert f"LR from {folder}" in capsys.readouterr().out
    rows, folder_rows = _read_csv(made), _read_csv(given)
    assert [(r["image"], r["psnr"], r["ssim"]) for r in rows] == [
        (r["image"], r["psnr"], r["ssim"]) for r in folder_rows
    ]
    assert {(r["degradation"], r["seed"]) for r in rows} == {("degrade_test_x4", "3")}
    assert {(r["degradation"], r["seed"]) for r in folder_rows} == {("", "")}
    (ds,) = json.loads((tmp_path / "made.json").read_text())["datasets"]
    assert ds["degradation"]["seed"] == 3 and ds["degradation"]["options"]["noise_range2"] == [2, 15]
    # The seed defaults to 0; another seed is another LR set.
    assert main([*argv, "--degradation", str(DEGRADE), "--csv", str(tmp_path / "s0.csv")]) == 0
    assert {r["seed"] for r in _read_csv(tmp_path / "s0.csv")} == {"0"}
    assert [r["psnr"] for r in _read_csv(tmp_path / "s0.csv")] != [r["psnr"] for r in rows]


def test_degradation_applies_to_every_set_of_an_options_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hr_set(tmp_path / "A")
    _hr_set(tmp_path / "B")
    opt = tmp_path / "test.yml"
    opt.write_text(f"model: bicubic\nscale: 2\ndatasets:\n  - {{name: A, hr: {tmp_path / 'A'}}}\n"
                   f"  - {{name: B, hr: {tmp_path / 'B'}, degradation: degrade_test_x4, seed: 5}}\n")  # fmt: skip
    assert main(["test", "-opt", str(opt), "-q", "--csv", str(tmp_path / "file.csv")]) == 0
    out = capsys.readouterr().out
    assert "A: bicubic x2, Y, crop border 2, 3 images, LR by MATLAB bicubic" in out and "seed 5" in out
    assert main(["test", "-opt", str(opt), "-q", "--degradation", "degrade_test_x4", "--seed", "5",
                 "--csv", str(tmp_path / "flags.csv")]) == 0  # fmt: skip
    rows = _read_csv(tmp_path / "flags.csv")
    assert {(r["dataset"], r["seed"]) for r in rows} == {("A", "5"), ("B", "5")}
    a = [r["psnr"] for r in rows if r["dataset"] == "A"]
    assert a == [r["psnr"] for r in rows if r["dataset"] == "B"]  # the same images, stems and seed: the same LR
    assert a == [r["psnr"] for r in _read_csv(tmp_path / "file.csv") if r["dataset"] == "B"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--degradation", "degrade_test_x4", "--lr", "LR"], "--lr and --degradation exclude each other"),
        (["--seed", "2"], "--seed needs --degradation"),
        (["--degradation", "degrade_tset_x4"], "did you mean 'degrade_test_x4'"),
        (["--degradation", "train_ESRGAN_x4"], "neither a file nor a shipped block"),
    ],
)
def test_degradation_errors_are_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, flags: list[str], message: str
) -> None:
    _hr_set(tmp_path / "HR")
    with caplog.at_level(logging.ERROR):
        assert main(["test", "-m", "bicubic", "--hr", str(tmp_path / "HR"), "-s", "4", "-q", *flags]) == 2
    (record,) = caplog.records
    assert message in record.getMessage() and "\n" not in record.getMessage() and record.exc_info is None
