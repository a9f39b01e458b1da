"""Throughput of ``esrgan video`` and the share of time spent outside the network.

A 320x180 clip (a pan over skimage's astronaut, 24 fps, AAC audio) is upscaled x4 to 1280x720 with
realesr-animevideov3 (the fast model) and realesrgan-x4plus, through :func:`esrgan.video.upscale_video` exactly as
the command runs it. Reported per configuration: frames/s, the network's share of the wall time, and what is left
(decode, colour conversion, encode, remux) that the three-thread pipeline does not hide behind the network.

Also measured: the pipeline without a network (nearest-neighbour x4) as the I/O ceiling, the flatness of memory
(peak RSS for a clip 10x longer), and frames/s at 854x480 to say what a minute of 480p video costs on this CPU.
Other processes may share the machine: the load average is printed; compare ratios within one run.

    python -m benchmarks.bench_video                        # ~5-15 min on 2 busy cores
    python -m benchmarks.bench_video --frames 24 --x4plus-frames 2 --json video.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from esrgan.inference import Upscaler
from esrgan.models import load_model
from esrgan.video import EncodeSettings, VideoResult, VideoSettings, upscale_video

FPS = 24


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    """A pan over skimage's astronaut (tiled to cover the window's path) with a 440 Hz AAC track."""
    import skimage.data

    img = skimage.data.astronaut()
    need_h, need_w = height + frames, width + 2 * frames
    img = np.tile(img, (-(-need_h // img.shape[0]), -(-need_w // img.shape[1]), 1))
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=FPS, options={"crf": "12", "preset": "veryfast"})
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    a = out.add_stream("aac", rate=48000)
    for i in range(frames):
        crop = np.ascontiguousarray(img[i : i + height, 2 * i : 2 * i + width])
        frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
        frame.pts = i
        out.mux(vs.encode(frame))
    out.mux(vs.encode())
    n = 48000 * frames // FPS
    wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
    for i in range(0, n, 1024):
        af = av.AudioFrame.from_ndarray(np.stack([wave[i : i + 1024]] * 2), format="fltp", layout="stereo")
        af.sample_rate, af.pts = 48000, i
        out.mux(a.encode(af))
    out.mux(a.encode())
    out.close()
    return path


def nearest_x4(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=4, mode="nearest")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """Current resident memory (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def run(
    name: str,
    src: Path,
    work: Path,
    upscale: Callable[[torch.Tensor], torch.Tensor],
    rows: list[dict[str, Any]],
    *,
    frames: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    **settings: Any,
) -> VideoResult:
    duration = frames / FPS if frames is not None else None
    dst = work / f"{len(rows)}.mp4"
    before = load()
    r = upscale_video(src, dst, upscale, VideoSettings(scale=4, duration=duration, **settings), progress=progress)
    dst.unlink()
    done = r.frames - r.resumed_frames
    row = {
        "config": name,
        "frames": done,
        "size": f"{r.width}x{r.height}",
        "fps": done / r.seconds,
        "wall_s": r.seconds,
        "network_s": r.network_seconds,
        "outside_share": 1 - r.network_seconds / r.seconds,
        "decode_busy_s": r.decode_seconds,
        "encode_busy_s": r.encode_seconds,
        "remux_s": r.assemble_seconds,
        "load_before": before,
    }
    rows.append(row)
    print(
        f"{name:<44} {done:>4} fr  {done / r.seconds:7.2f} fps  network {r.network_seconds:7.1f} s of "
        f"{r.seconds:7.1f} s  outside {100 * (1 - r.network_seconds / r.seconds):5.1f}%  "
        f"(decode {r.decode_seconds:.1f} s, "
        f"encode {r.encode_seconds:.1f} s, remux {r.assemble_seconds:.2f} s; {before})",
        flush=True,
    )
    return r


def interleaved_batch_ratio(upscaler: Upscaler, h: int, w: int, rounds: int = 3) -> float:
    """Time of one batch of 4 / time of 4 batches of 1, best of ``rounds`` alternating runs (load-robust)."""
    x = torch.rand(4, 3, h, w)
    single, batched = float("inf"), float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(4):
            upscaler(x[i : i + 1])
        t1 = time.perf_counter()
        upscaler(x)
        t2 = time.perf_counter()
        single, batched = min(single, t1 - t0), min(batched, t2 - t1)
    return batched / single


def warm(upscaler: Upscaler, h: int, w: int) -> None:
    # The first call of a process pays one-off costs (kernel selection, tile planning): keep them out.
    upscaler(torch.rand(1, 3, h, w))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_video", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames of the 320x180 clip (default 48)")
    parser.add_argument("--x4plus-frames", type=int, default=4, help="frames for realesrgan-x4plus (default 4)")
    parser.add_argument("--sd-frames", type=int, default=6, help="frames of the 854x480 run (default 6)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(list(argv) if argv is not None else None)
    torch.manual_seed(0)
    rows: list[dict[str, Any]] = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = make_clip(work / "clip_180p.mp4", args.frames, 320, 180)
        long_clip = make_clip(work / "clip_180p_long.mp4", 10 * args.frames, 320, 180)
        sd_clip = make_clip(work / "clip_480p.mp4", max(args.sd_frames, 2), 854, 480)

        print("\n-- pipeline without a network (nearest x4): decode + colour conversion + encode + remux")
        run("nearest x4, 180p→720p", clip, work, nearest_x4, rows)
        samples: list[tuple[int, float]] = []

        def sample(done: int, total: int | None) -> None:
            mb = rss_mb()
            if mb is not None and done % max(1, args.frames // 2) == 0:
                samples.append((done, mb))

        run(f"nearest x4, {10 * args.frames} frames (memory)", long_clip, work, nearest_x4, rows, progress=sample)
        print("resident memory (frames done: MB): " + ", ".join(f"{d}: {mb:.0f}" for d, mb in samples))
        steady = [mb for d, mb in samples if d >= args.frames]
        memory: dict[str, Any] = {
            "samples": samples,
            "steady_min": min(steady, default=0),
            "steady_max": max(steady, default=0),
        }
        memory["peak"] = peak_rss_mb()
        run("nearest x4, x264 preset medium", clip, work, nearest_x4, rows, encode=EncodeSettings(preset="medium"))

        print("\n-- realesr-animevideov3 (SRVGGNetCompact), 320x180 → 1280x720")
        net, _ = load_model("realesr-animevideov3")
        compact = Upscaler(net, device="cpu")  # the command's defaults: backend auto, tile auto
        print(f"engine: {compact.backend}, {compact.dtype}, tile auto")
        warm(compact, 180, 320)
        run("animevideov3, defaults (batch 1, x264 veryfast)", clip, work, compact, rows)
        run("animevideov3, batch 4", clip, work, compact, rows, batch_size=4)
        run("animevideov3, x264 medium", clip, work, compact, rows, encode=EncodeSettings(preset="medium"))
        batch_ratio = interleaved_batch_ratio(compact, 180, 320)
        print(f"engine alone, interleaved best of 3: batch 4 takes {batch_ratio:.2f}x the time of 4 single frames")
        warm(compact, 480, 854)
        sd = run("animevideov3, 854x480 → 3416x1920", sd_clip, work, compact, rows, frames=args.sd_frames)
        del compact, net

        print("\n-- realesrgan-x4plus (RRDBNet 23 blocks), 320x180 → 1280x720")
        net, _ = load_model("realesrgan-x4plus")
        rrdb = Upscaler(net, device="cpu")
        print(f"engine: {rrdb.backend}, {rrdb.dtype}, tile auto")
        warm(rrdb, 180, 320)
        big = run("x4plus, defaults", clip, work, rrdb, rows, frames=args.x4plus_frames)

    minute = 30 * 60  # frames in one minute of 30 fps video
    sd_s = sd.seconds / (sd.frames - sd.resumed_frames)
    pixel_ratio = (854 * 480) / (320 * 180)
    big_sd_s = big.seconds / (big.frames - big.resumed_frames) * pixel_ratio
    print(
        f"\none minute of 480p (854x480, 30 fps = {minute} frames) on this CPU:\n"
        f"  realesr-animevideov3: {sd_s:.2f} s/frame measured → {minute * sd_s / 3600:.1f} h\n"
        f"  realesrgan-x4plus:    {big_sd_s:.1f} s/frame (from 180p x{pixel_ratio:.1f} pixels) → "
        f"{minute * big_sd_s / 3600:.1f} h"
    )
    if args.json is not None:
        summary = {
            "rows": rows,
            "memory_mb": memory,
            "batch4_vs_4x_batch1": batch_ratio,
            "minute_480p_hours": {
                "realesr-animevideov3": minute * sd_s / 3600,
                "realesrgan-x4plus_extrapolated": minute * big_sd_s / 3600,
            },
            "torch_threads": torch.get_num_threads(),
        }
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
