"""Training records: a console line, a JSON-lines file, TensorBoard (if installed) and a PNG of the curves.

Only rank 0 makes a :class:`TrainLogger` with a folder; other ranks get one with ``folder=None``, which does
nothing. Files in the experiment folder:

- ``train_log.jsonl``: one JSON object per line, ``{"kind": "train" | "val", "iter": N, ...scalars}``. A resumed
  run first drops the records after the iteration it resumes from, so the file tells one continuous story.
- ``curves.png``: losses (log scale), validation PSNR-Y, discriminator logits and learning rates against the
  iteration, redrawn with OpenCV at every record.
- ``tb/``: TensorBoard events when the ``tensorboard`` package is installed and ``logging.tensorboard`` is on.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from esrgan.fileio import write_bytes_atomic, write_text_atomic

log = logging.getLogger(__name__)

LOG_FILE = "train_log.jsonl"
PLOT_FILE = "curves.png"
# BGR colours for successive curves of a panel.
PALETTE = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140))


class TrainLogger:
    """Writes training and validation records.

    Args:
        folder: the experiment folder, or None for a logger that does nothing (ranks other than 0).
        start_iter: the iteration the run starts from; records after it in an existing log are dropped.
        tensorboard: write TensorBoard events if the package is installed.
        plot: redraw ``curves.png`` at every record.
        title: shown at the top of the plot.
    """

    def __init__(
        self, folder: Path | None, *, start_iter: int = 0, tensorboard: bool = True, plot: bool = True, title: str = ""
    ) -> None:
        self.folder = folder
        self.plot = plot
        self.title = title
        self.records: list[dict[str, Any]] = []
        self._tb: Any = None
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOG_FILE
        if self.path.exists():
            kept = [r for r in _read_jsonl(self.path) if int(r.get("iter", 0)) <= start_iter]
            self.records = kept
            write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.info("TensorBoard logging off: the tensorboard package is not installed (pip install tensorboard)")
            else:
                # purge_step hides events a crashed run wrote after the checkpoint we resume from.
                self._tb = SummaryWriter(str(folder / "tb"), purge_step=start_iter + 1 if start_iter else None)

    def log_train(self, iteration: int, total: int, scalars: dict[str, float]) -> None:
        """Record training scalars (losses ``l_*``, ``lr_*``, ``d_*``, ``time_per_iter``, ``data_wait``...)."""
        if self.folder is None:
            return
        self._record("train", iteration, scalars)
        losses = " ".join(f"{k} {v:.4g}" for k, v in scalars.items() if k.startswith(("l_", "d_", "p_")))
        lrs = " ".join(f"{k} {v:.2e}" for k, v in scalars.items() if k.startswith("lr_"))
        spi = scalars.get("time_per_iter", float("nan"))
        eta = _duration((total - iteration) * spi) if math.isfinite(spi) else "?"
        log.info(
            "iter %d/%d | %s | %s | %.3f s/it, data wait %.0f%% | eta %s",
            iteration,
            total,
            losses,
            lrs,
            spi,
            100.0 * scalars.get("data_wait", 0.0),
            eta,
        )

    def log_val(self, iteration: int, scalars: dict[str, float]) -> None:
        """Record validation scores (``psnr_y``, ``ssim_y``)."""
        if self.folder is None:
            return
        self._record("val", iteration, scalars)
        log.info("validation at iter %d: %s", iteration, ", ".join(f"{k} {v:.4f}" for k, v in scalars.items()))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def _record(self, kind: str, iteration: int, scalars: dict[str, float]) -> None:
        record = {"kind": kind, "iter": iteration, **{k: float(v) for k, v in scalars.items()}}
        self.records.append(record)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(f"{kind}/{k}", v, iteration)
            self._tb.flush()
        if self.plot:
            assert self.folder is not None
            draw_curves(self.records, self.folder / PLOT_FILE, title=self.title)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d: not JSON (a write cut short?); dropped", path, n)
    return records


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# ---------------------------------------------------------------------------------------------------------------
# The plot: four panels drawn with OpenCV (matplotlib is not a dependency).

PANEL_W, PANEL_H = 600, 380
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 78, 16, 34, 40
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_curves(records: list[dict[str, Any]], path: Path, *, title: str = "") -> None:
    """Draw the curves of ``records`` (as written to ``train_log.jsonl``) into the PNG ``path``, atomically.

    Panels: training losses (keys ``l_*``, log scale), validation PSNR-Y, discriminator logits (``d_*``) and
    learning rates (``lr_*``, log scale).
    """
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]

    def series(rows: list[dict[str, Any]], prefix: str) -> dict[str, tuple[list[float], list[float]]]:
        keys = sorted({k for r in rows for k in r if k.startswith(prefix)})
        return {k: ([r["iter"] for r in rows if k in r], [r[k] for r in rows if k in r]) for k in keys}

    canvas = np.full((2 * PANEL_H + 30, 2 * PANEL_W, 3), 255, np.uint8)
    cv2.putText(canvas, title, (10, 21), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    panels = [
        ("training losses (log)", series(train, "l_"), True),
        ("validation PSNR-Y (dB)", series(val, "psnr_y"), False),
        ("discriminator mean logits", series(train, "d_"), False),
        ("learning rate (log)", series(train, "lr_"), True),
    ]
    for i, (name, data, log_y) in enumerate(panels):
        x0, y0 = (i % 2) * PANEL_W, 30 + (i // 2) * PANEL_H
        _panel(canvas[y0 : y0 + PANEL_H, x0 : x0 + PANEL_W], name, data, log_y)
    ok, buf = cv2.imencode(".png", canvas)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the plot")
    write_bytes_atomic(path, buf.tobytes())


def _fmt(v: float) -> str:
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e4 or v == 0 else f"{v:.1e}"


def _panel(img: np.ndarray, name: str, data: dict[str, tuple[list[float], list[float]]], log_y: bool) -> None:
    """Draw one panel (axes, ticks, curves, legend) into the view ``img`` (H, W, 3) uint8 BGR."""
    h, w = img.shape[:2]
    left, right, top, bottom = MARGIN_L, w - MARGIN_R, MARGIN_T, h - MARGIN_B
    cv2.putText(img, name, (left, 22), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (right, bottom), (0, 0, 0), 1)

    def tr(v: float) -> float:
        return math.log10(v) if log_y else v

    pts = {k: [(x, tr(y)) for x, y in zip(xs, ys, strict=True) if math.isfinite(y) and (y > 0 or not log_y)]
           for k, (xs, ys) in data.items()}  # fmt: skip
    pts = {k: p for k, p in pts.items() if p}
    if not pts:
        cv2.putText(img, "no data yet", (left + 10, top + 30), FONT, 0.5, (128, 128, 128), 1, cv2.LINE_AA)
        return
    xs = [x for p in pts.values() for x, _ in p]
    ys = [y for p in pts.values() for _, y in p]
    xmin, xmax = min(xs), max(xs)
    ymin, ymax = min(ys), max(ys)
    if xmax == xmin:
        xmax = xmin + 1
    if ymax - ymin < 1e-9:
        ymin, ymax = ymin - 0.5, ymax + 0.5
    pad = 0.05 * (ymax - ymin)
    ymin, ymax = ymin - pad, ymax + pad

    def px(x: float, y: float) -> tuple[int, int]:
        return (
            round(left + (x - xmin) / (xmax - xmin) * (right - left)),
            round(bottom - (y - ymin) / (ymax - ymin) * (bottom - top)),
        )

    for t in np.linspace(0.0, 1.0, 5):
        yv = ymin + t * (ymax - ymin)
        _, yp = px(xmin, yv)
        cv2.line(img, (left, yp), (right, yp), (225, 225, 225), 1)
        label = _fmt(10**yv if log_y else yv)
        cv2.putText(img, label, (4, yp + 4), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        xv = xmin + t * (xmax - xmin)
        xp, _ = px(xv, ymin)
        xlabel = f"{xv:.0f}" if xmax - xmin >= 8 else f"{xv:.1f}"
        cv2.putText(img, xlabel, (max(0, xp - 18), bottom + 16), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, "iteration", (right - 70, h - 6), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for n, (key, p) in enumerate(sorted(pts.items())):
        colour = PALETTE[n % len(PALETTE)]
        poly = np.array([px(x, y) for x, y in p], np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [poly], False, colour, 1, cv2.LINE_AA)
        if len(p) <= 50:
            for q in poly[:, 0]:
                cv2.circle(img, (int(q[0]), int(q[1])), 2, colour, -1, cv2.LINE_AA)
        ly = top + 16 + 16 * n
        cv2.line(img, (right - 130, ly - 4), (right - 110, ly - 4), colour, 2)
        last = 10 ** p[-1][1] if log_y else p[-1][1]
        cv2.putText(img, f"{key} {_fmt(last)}", (right - 105, ly), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
