from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import pytest

from esrgan.train.logger import PLOT_FILE, TrainLogger, draw_curves


def test_records_console_jsonl_and_plot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = TrainLogger(tmp_path, tensorboard=False, title="run")
    with caplog.at_level(logging.INFO, logger="esrgan.train.logger"):
        logger.log_train(10, 100, {"l_pix": 0.5, "lr_g": 1e-4, "time_per_iter": 0.2, "data_wait": 0.25})
        logger.log_val(10, {"psnr_y": 27.5, "ssim_y": 0.8})
    assert "iter 10/100 | l_pix 0.5 | lr_g 1.00e-04 | 0.200 s/it, data wait 25% | eta 0:00:18" in caplog.text
    assert "validation at iter 10: psnr_y 27.5000, ssim_y 0.8000" in caplog.text
    lines = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert lines == [
        {"kind": "train", "iter": 10, "l_pix": 0.5, "lr_g": 1e-4, "time_per_iter": 0.2, "data_wait": 0.25},
        {"kind": "val", "iter": 10, "psnr_y": 27.5, "ssim_y": 0.8},
    ]
    img = cv2.imread(str(tmp_path / PLOT_FILE))
    assert img is not None and img.shape[0] > 500 and (img < 250).any()


def test_resume_drops_records_after_the_checkpoint(tmp_path: Path) -> None:
    logger = TrainLogger(tmp_path, tensorboard=False, plot=False)
    for it in (1, 2, 3, 4):
        logger.log_train(it, 4, {"l_pix": float(it)})
    resumed = TrainLogger(tmp_path, start_iter=2, tensorboard=False, plot=False)
    resumed.log_train(3, 4, {"l_pix": 30.0})
    lines = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [(r["iter"], r["l_pix"]) for r in lines] == [(1, 1.0), (2, 2.0), (3, 30.0)]
    assert [r["iter"] for r in resumed.records] == [1, 2, 3]


def test_other_ranks_write_nothing(tmp_path: Path) -> None:
    logger = TrainLogger(None)
    logger.log_train(1, 2, {"l_pix": 1.0})
    logger.log_val(1, {"psnr_y": 1.0})
    logger.close()
    assert list(tmp_path.iterdir()) == []


def test_plot_handles_empty_constant_and_nonpositive_series(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    draw_curves([], path)
    assert cv2.imread(str(path)) is not None
    records = [
        {"kind": "train", "iter": 1, "l_pix": 0.0, "d_real": -1.0, "lr_g": 1e-4},
        {"kind": "train", "iter": 2, "l_pix": 0.1, "d_real": 1.0, "lr_g": 1e-4},
        {"kind": "val", "iter": 2, "psnr_y": float("nan")},
    ]
    draw_curves(records, path)  # zero on a log axis, a constant lr and a NaN score are skipped, not fatal
    assert cv2.imread(str(path)) is not None


def test_tensorboard_events_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    logger = TrainLogger(tmp_path, tensorboard=True, plot=False)
    logger.log_train(1, 2, {"l_pix": 1.0})
    logger.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
