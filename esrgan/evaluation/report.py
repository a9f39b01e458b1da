"""Scores as text: the per-dataset table, the summary of several datasets, CSV and JSON (written atomically)."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from esrgan.evaluation.options import BICUBIC, TestOptions
from esrgan.evaluation.protocol import DatasetScore
from esrgan.fileio import write_text_atomic
from esrgan.options import to_dict

log = logging.getLogger(__name__)

MEAN_ROW = "(mean)"
BICUBIC_LR = "matlab bicubic of the mod-cropped HR"
DEGRADED_LR = "made from the HR by the degradation below"

__all__ = [
    "BICUBIC_LR",
    "DEGRADED_LR",
    "MEAN_ROW",
    "format_summary",
    "format_table",
    "lr_source",
    "results_csv",
    "results_json",
    "write_results",
]


def _fmt(x: float, digits: int) -> str:
    return "inf" if math.isinf(x) else "-" if math.isnan(x) else f"{x:.{digits}f}"


def lr_source(result: DatasetScore) -> str:
    """Where the LR images came from, for titles: the folder, the degradation block and seed, or bicubic."""
    if result.degradation is not None:
        return f"LR degraded by {result.degradation.describe()}"
    return f"LR from {result.lr}" if result.lr is not None else "LR by MATLAB bicubic"


def format_table(result: DatasetScore) -> str:
    """Per-image and mean table of one dataset (PSNR in dB with 4 decimals, SSIM with 4)."""
    width = max([len(MEAN_ROW)] + [len(s.image) for s in result.images])
    lines = [f"{'image':<{width}}  {'WxH':>9}  {'PSNR':>8}  {'SSIM':>6}  {'time':>6}"]
    for s in result.images:
        size = f"{s.width}x{s.height}"
        row = f"{s.image:<{width}}  {size:>9}  {_fmt(s.psnr, 4):>8}  {_fmt(s.ssim, 4):>6}  {s.seconds:>5.2f}s"
        lines.append(row)
    total = sum(s.seconds for s in result.images)
    lines.append(f"{MEAN_ROW:<{width}}  {'':>9}  {_fmt(result.psnr, 4):>8}  {_fmt(result.ssim, 4):>6}  {total:>5.1f}s")
    if result.failed:
        names = ", ".join(f.image for f in result.failed)
        lines.append(f"not scored: {len(result.failed)} image(s) ({names}; the reasons are logged above)")
    return "\n".join(lines)


def format_summary(results: list[DatasetScore]) -> str:
    """One line per dataset: name, number of images, mean PSNR and SSIM."""
    width = max(len(r.name) for r in results)
    lines = [f"{'dataset':<{width}}  {'images':>6}  {'PSNR':>8}  {'SSIM':>6}"]
    for r in results:
        lines.append(f"{r.name:<{width}}  {len(r.images):>6}  {_fmt(r.psnr, 4):>8}  {_fmt(r.ssim, 4):>6}")
    return "\n".join(lines)


def results_csv(results: list[DatasetScore]) -> str:
    """CSV text: one row per image and one ``(mean)`` row per dataset (height/width/seconds empty there); the
    degradation block and seed that made the LR images on every row (empty for LR files or bicubic)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "image", "height", "width", "psnr", "ssim", "seconds", "degradation", "seed"])
    for r in results:
        made = [r.degradation.name, r.degradation.seed] if r.degradation is not None else ["", ""]
        for s in r.images:
            row = [r.name, s.image, s.height, s.width, f"{s.psnr:.6f}", f"{s.ssim:.6f}", f"{s.seconds:.3f}"]
            writer.writerow(row + made)
        writer.writerow([r.name, MEAN_ROW, "", "", f"{r.psnr:.6f}", f"{r.ssim:.6f}", "", *made])
    return buf.getvalue()


def results_json(results: list[DatasetScore], opts: TestOptions, scale: int, model: dict[str, Any] | None) -> str:
    """JSON text with the protocol, the model description and every score (an infinite PSNR is ``"inf"``)."""

    def num(x: float) -> float | str | None:
        return "inf" if math.isinf(x) else None if math.isnan(x) else x

    doc = {
        "model": opts.model,
        "model_info": model,
        "scale": scale,
        "protocol": {
            "channel": "y" if opts.test_y_channel else "rgb",
            "crop_border": opts.crop_border if opts.crop_border is not None else scale,
            "ssim_window": "gaussian 11x11, sigma 1.5",
            "sr_rounded_to_uint8": True,
            "precision": opts.engine.precision if opts.model != BICUBIC else None,
            "ensemble": opts.engine.ensemble if opts.model != BICUBIC else None,
        },
        "datasets": [
            {
                "name": r.name,
                "hr": r.hr,
                "lr": r.lr if r.lr is not None else DEGRADED_LR if r.degradation is not None else BICUBIC_LR,
                "degradation": _degradation_json(r),
                "num_images": len(r.images),
                "psnr": num(r.psnr),
                "ssim": num(r.ssim),
                "failed": [{"image": f.image, "error": f.error} for f in r.failed],
                "images": [
                    {
                        "image": s.image,
                        "height": s.height,
                        "width": s.width,
                        "psnr": num(s.psnr),
                        "ssim": s.ssim,
                        "seconds": round(s.seconds, 4),
                    }
                    for s in r.images
                ],
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _degradation_json(result: DatasetScore) -> dict[str, Any] | None:
    """The block (name, file, every option) and seed that made the LR images: enough to make them again."""
    d = result.degradation
    if d is None:
        return None
    return {"name": d.name, "file": str(d.path), "seed": d.seed, "options": to_dict(d.options)}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    log.info("wrote %s", path)


def write_results(results: list[DatasetScore], opts: TestOptions, scale: int, model: dict[str, Any] | None) -> None:
    """Write ``opts.csv`` and ``opts.json`` (those that are set), atomically, creating their folders."""
    if opts.csv is not None:
        _write(opts.csv, results_csv(results))
    if opts.json is not None:
        _write(opts.json, results_json(results, opts, scale, model))
