"""What ``--ray`` costs on one machine: local runs against Ray with one and with two workers (issue 17).

Two jobs, each run three ways through the ``esrgan`` command, every run in a fresh process:

- images: a folder of small images (default 200, 96x72 crops of skimage photos) upscaled x4 with
  realesr-animevideov3 (the fast model, where per-file overhead shows most);
- video: a clip (default 300 frames, 160x90, AAC audio) upscaled x4 with the same model in segments of 50 frames
  (six segments, so that two workers have work to share).

Ways: ``local`` (the command as is, all cores), ``ray1`` (``--ray --workers 1``: one actor with every core) and
``ray2`` (``--ray --workers 2``: two actors with one core each). Reported per run: wall time (Ray's start-up
included), the time of the work itself as the command logs it (start-up excluded), throughput, and peak memory of
the whole process tree (the driver, Ray's own processes and its workers, sampled every 0.1 s). Every Ray output
is checked against the local output (images byte for byte, the video's frames). Other processes may share the
machine: the load average is printed; compare ratios within one run.

    python -m benchmarks.bench_ray                   # the full comparison, ~10-20 min on 2 busy cores
    python -m benchmarks.bench_ray --images 8 --frames 24 --segment-frames 8   # a quick check (~1 min)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MODEL = "realesr-animevideov3"
WAYS = {"local": [], "ray1": ["--ray", "--workers", "1"], "ray2": ["--ray", "--workers", "2"]}


@dataclass
class Run:
    job: str
    way: str
    items: int
    unit: str
    wall_s: float
    work_s: float
    peak_mb: float
    same_as_local: bool | None

    @property
    def rate(self) -> float:
        return self.items / self.work_s if self.work_s else 0.0


def make_images(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """``count`` PNG crops of skimage's photos, each ``size`` (width, height), all different."""
    import cv2
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(0)
    for i in range(count):
        img = photos[i % len(photos)]
        y, x = rng.integers(0, img.shape[0] - h), rng.integers(0, img.shape[1] - w)
        cv2.imwrite(str(folder / f"img{i:04d}.png"), np.ascontiguousarray(img[y : y + h, x : x + w, ::-1]))
    return folder


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total / 2**20


def run_command(cmd: list[str], log_path: Path) -> tuple[float, float, str]:
    """Run ``cmd``; returns (wall seconds, peak tree RSS in MB, its stderr)."""
    peak = 0.0
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, tree_rss_mb(proc.pid))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    text = log_path.read_text()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{text[-3000:]}")
    return wall, peak, text


def work_seconds(log: str) -> float:
    """The command's own timing of the work: the ``... in N s`` of its final line (start-up excluded)."""
    found = re.findall(r" in ([0-9.]+) s \(", log)
    if not found:
        raise RuntimeError(f"no timing line in the log:\n{log[-2000:]}")
    return float(found[-1])


def bench_images(tmp: Path, args: argparse.Namespace) -> list[Run]:
    src = make_images(tmp / "images", args.images, tuple(args.image_size))
    runs: list[Run] = []
    local_out = None
    for way, extra in WAYS.items():
        out = tmp / f"images-{way}"
        cmd = [sys.executable, "-m", "esrgan", "upscale", str(src), "-o", str(out), "-m", args.model, *extra]
        wall, peak, log = run_command(cmd, tmp / f"images-{way}.log")
        same = None
        if local_out is None:
            local_out = out
        else:
            same = all((out / f.name).read_bytes() == f.read_bytes() for f in local_out.iterdir())
        runs.append(Run("images", way, args.images, "img", wall, work_seconds(log), peak, same))
        print(f"images {way}: {wall:.1f} s wall, {peak:.0f} MB", flush=True)
    return runs


def bench_video(tmp: Path, args: argparse.Namespace) -> list[Run]:
    from benchmarks.bench_video import make_clip

    src = make_clip(tmp / "clip.mp4", args.frames, 160, 90)
    runs: list[Run] = []
    local_frames = None
    for way, extra in WAYS.items():
        out = tmp / f"video-{way}.mp4"
        cmd = [sys.executable, "-m", "esrgan", "video", str(src), "-o", str(out), "-m", args.model]
        cmd += ["--segment-frames", str(args.segment_frames), *extra]
        wall, peak, log = run_command(cmd, tmp / f"video-{way}.log")
        frames = _decode(out)
        same = None
        if local_frames is None:
            local_frames = frames
        else:
            same = len(frames) == len(local_frames) and all(
                (a == b).all() for a, b in zip(frames, local_frames, strict=True)
            )
        runs.append(Run("video", way, args.frames, "frame", wall, work_seconds(log), peak, same))
        print(f"video {way}: {wall:.1f} s wall, {peak:.0f} MB", flush=True)
    return runs


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def table(runs: list[Run]) -> str:
    lines = [
        "| job | way | wall s | work s | throughput | vs local | peak MB | output = local |",
        "|---|---|---|---|---|---|---|---|",
    ]
    local = {r.job: r for r in runs if r.way == "local"}
    for r in runs:
        ratio = r.work_s / local[r.job].work_s if r.job in local else float("nan")
        same = "—" if r.same_as_local is None else ("yes" if r.same_as_local else "NO")
        lines.append(
            f"| {r.job} | {r.way} | {r.wall_s:.1f} | {r.work_s:.1f} | {r.rate:.2f} {r.unit}/s | "
            f"{ratio:.2f}x time | {r.peak_mb:.0f} | {same} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ray", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200, help="images in the folder (default 200)")
    p.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(96, 72),
        metavar=("W", "H"),
        help="image size (default 96 72; < 400x300)",
    )
    p.add_argument("--model", default=MODEL, help=f"the model (default {MODEL}, where per-item overhead shows most)")
    p.add_argument("--frames", type=int, default=300, help="frames of the clip (default 300)")
    p.add_argument("--segment-frames", type=int, default=50, help="frames per segment (default 50)")
    p.add_argument("--only", choices=("images", "video"), default=None, help="run one job only")
    p.add_argument("--json", type=Path, default=None, help="also write the runs here")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        import ray  # noqa: F401
    except ImportError:
        print('bench_ray skipped: Ray is not installed (pip install -e ".[ray]")', file=sys.stderr)
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        if args.only in (None, "images"):
            runs += bench_images(Path(tmp), args)
        if args.only in (None, "video"):
            runs += bench_video(Path(tmp), args)
    print(table(runs))
    if args.json is not None:
        args.json.write_text(json.dumps([{**asdict(r), "rate": r.rate} for r in runs], indent=1))
    return 0 if all(r.same_as_local in (None, True) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
