"""Tables, CSV and JSON of the scores."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from esrgan.degradations import DegradationOptions
from esrgan.evaluation import (
    DatasetScore,
    ImageScore,
    format_summary,
    format_table,
    load_degradation,
    lr_source,
    results_csv,
    results_json,
    write_results,
)
from esrgan.evaluation import TestDatasetOptions as DatasetOptions  # not Test*: pytest would collect them
from esrgan.evaluation import TestOptions as Options
from esrgan.evaluation.report import DEGRADED_LR
from esrgan.options import from_dict


def _results() -> list[DatasetScore]:
    a = DatasetScore("Set5", "/d/Set5/HR", None, [ImageScore("baby", 510, 510, 30.0, 0.9, 1.25),
                                                ImageScore("bird", 288, 288, 32.0, 0.8, 0.5)])  # fmt: skip
    b = DatasetScore("Tiny", "/d/Tiny", "/d/Tiny_LR", [ImageScore("flat", 12, 16, math.inf, 1.0, 0.01)])
    return [a, b]


def _opts(tmp_path: Path, **changes: object) -> Options:
    args: dict[str, object] = {"model": "bicubic", "scale": 2, "datasets": [DatasetOptions("Set5", Path("x"))]}
    return Options(**{**args, **changes})  # type: ignore[arg-type]


def test_table_has_a_row_per_image_and_the_mean() -> None:
    lines = format_table(_results()[0]).splitlines()
    assert lines[0].split() == ["image", "WxH", "PSNR", "SSIM", "time"]
    assert lines[1].split() == ["baby", "510x510", "30.0000", "0.9000", "1.25s"]
    assert lines[3].split() == ["(mean)", "31.0000", "0.8500", "1.8s"]
    assert format_table(_results()[1]).splitlines()[1].split()[2] == "inf"


def test_summary_has_a_line_per_dataset() -> None:
    lines = format_summary(_results()).splitlines()
    assert [line.split() for line in lines] == [
        ["dataset", "images", "PSNR", "SSIM"],
        ["Set5", "2", "31.0000", "0.8500"],
        ["Tiny", "1", "inf", "1.0000"],
    ]


def test_csv_rows_and_means() -> None:
    rows = list(csv.DictReader(io.StringIO(results_csv(_results()))))
    assert [(r["dataset"], r["image"]) for r in rows] == [
        ("Set5", "baby"), ("Set5", "bird"), ("Set5", "(mean)"), ("Tiny", "flat"), ("Tiny", "(mean)")
    ]  # fmt: skip
    assert rows[0]["psnr"] == "30.000000" and rows[0]["seconds"] == "1.250" and rows[2]["height"] == ""
    assert rows[3]["psnr"] == "inf"


def test_json_protocol_and_infinite_psnr(tmp_path: Path) -> None:
    doc = json.loads(results_json(_results(), _opts(tmp_path, crop_border=0, test_y_channel=False), 2, None))
    assert doc["protocol"]["channel"] == "rgb" and doc["protocol"]["crop_border"] == 0
    assert doc["protocol"]["precision"] is None  # bicubic runs no engine
    assert doc["datasets"][0]["lr"] == "matlab bicubic of the mod-cropped HR" and doc["datasets"][0]["psnr"] == 31.0
    assert doc["datasets"][1]["psnr"] == "inf" and doc["datasets"][1]["images"][0]["psnr"] == "inf"
    model = {"name": "m", "arch": "RRDBNet"}
    doc = json.loads(results_json(_results(), _opts(tmp_path, model="m.pth", scale=None), 4, model))
    assert doc["model_info"] == model and doc["protocol"]["crop_border"] == 4 and doc["protocol"]["precision"] == "fp32"


def test_write_results_writes_what_is_set(tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "a" / "s.csv", tmp_path / "b" / "s.json"
    write_results(_results(), _opts(tmp_path, csv=out_csv), 2, None)
    assert out_csv.read_text() == results_csv(_results()) and not out_json.exists()
    write_results(_results(), _opts(tmp_path, json=out_json), 2, None)
    assert json.loads(out_json.read_text())["scale"] == 2


def test_degraded_sets_name_their_block_and_seed() -> None:
    degradation = load_degradation("degrade_test_x4", 7)
    made = DatasetScore(
        "Set14", "/d/Set14/HR", None, [ImageScore("comic", 360, 248, 20.0, 0.5, 0.1)], degradation=degradation
    )
    results = [*_results(), made]
    assert lr_source(made) == "LR degraded by degrade_test_x4, seed 7"
    assert lr_source(results[0]) == "LR by MATLAB bicubic" and lr_source(results[1]) == "LR from /d/Tiny_LR"
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert [(r["image"], r["degradation"], r["seed"]) for r in rows[-3:]] == [
        ("(mean)", "", ""), ("comic", "degrade_test_x4", "7"), ("(mean)", "degrade_test_x4", "7")
    ]  # fmt: skip
    doc = json.loads(results_json(results, _opts(Path()), 4, None))
    assert [d["degradation"] for d in doc["datasets"][:2]] == [None, None]
    entry = doc["datasets"][2]
    assert entry["lr"] == DEGRADED_LR and entry["degradation"]["seed"] == 7
    assert entry["degradation"]["name"] == "degrade_test_x4" and entry["degradation"]["file"] == str(degradation.path)
    # Every option of the block is recorded: the JSON alone makes the same LR again.
    assert from_dict(DegradationOptions, entry["degradation"]["options"]) == degradation.options
