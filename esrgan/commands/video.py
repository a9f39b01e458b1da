"""``esrgan video``: upscale a video frame by frame, keeping its audio, subtitles, timing and rotation.

The work is done by :func:`esrgan.video.upscale_video`; this module turns arguments into that call, builds the
model and the inference engine, and shows the progress bar.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esrgan.commands.common import add_engine_args, engine_options
from esrgan.commands.workers import add_worker_args, check_worker_args, log_summary, scheduler_from, wants_workers
from esrgan.defaults import (
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_MODEL,
    DEFAULT_PIX_FMT,
    DEFAULT_PRESET,
    DEFAULT_SEGMENT_FRAMES,
    FAST_MODEL,
)
from esrgan.errors import LimitError
from esrgan.options import Range, arg_type, field_arg_type

# Imported when a value is parsed (esrgan.video imports PyAV and torch).
_SETTINGS, _ENCODE = "esrgan.video.settings:VideoSettings", "esrgan.video.settings:EncodeSettings"

if TYPE_CHECKING:
    from torch import nn

    from esrgan.commands.progress import Estimate, WorkBar
    from esrgan.inference import EngineOptions, Upscaler
    from esrgan.video import VideoResult, VideoSettings

log = logging.getLogger(__name__)

# Library messages name arguments as a Python call does (``crf=80``); on this command line these flags set them.
FLAGS = {
    "codec": "--codec",
    "crf": "--crf",
    "preset": "--preset",
    "pix_fmt": "--pix-fmt",
    "outscale": "--outscale",
    "start": "--start",
    "duration": "--duration",
    "segment_frames": "--segment-frames",
    "batch_size": "--batch",
}

_EPILOG = f"""\
The output plays everywhere by default: H.264 ({DEFAULT_CODEC}), {DEFAULT_PIX_FMT}, even sizes, MP4 index up front.
Frame timestamps (variable frame rate too), duration, rotation and the pixel aspect ratio are kept; audio streams are
copied bit for bit when the output container takes their codec (otherwise re-encoded to AAC) and subtitles are
kept where the container can hold them. Work goes into OUTPUT.parts/ in segments and OUTPUT appears only at the
end; after an interruption, run the same command with --resume to continue.

For speed on a CPU use -m {FAST_MODEL} (about 30x cheaper per pixel than the default {DEFAULT_MODEL}).

examples:
  esrgan video clip.mp4 -o clip_x4.mp4 -m {FAST_MODEL}
  esrgan video film.mkv -o film_2x.mkv -s 2 --crf 16 --preset slow
  esrgan video clip.mov -o preview.mp4 --start 1:30 --duration 10
"""

_TIME = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)$")


def parse_time(text: str) -> float:
    """Seconds from "90", "90.5", "1:30" or "1:02:03.5" (argparse type; errors are argparse errors)."""
    m = _TIME.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use seconds, M:SS or H:MM:SS)")
    a, b, sec = m.groups()
    hours, minutes = (int(a), int(b)) if b is not None else (0, int(a or 0))
    if (b is not None and int(b) >= 60) or (a is not None and float(sec) >= 60):
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (minutes and seconds must be < 60)")
    return hours * 3600 + minutes * 60 + float(sec)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "video",
        help="upscale a video (keeps audio, subtitles, timestamps, rotation)",
        description="Upscale every frame of a video with an ESRGAN-family model, streaming (flat memory).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input video (mp4, mov, mkv, webm, avi, ... anything FFmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="output file; the extension picks the container")
    p.add_argument(
        "-m",
        "--model",
        default=None,
        help=f"built-in model name or checkpoint file (default {DEFAULT_MODEL}; {FAST_MODEL} is the fast one)",
    )
    p.add_argument(
        "-s",
        "--outscale",
        type=field_arg_type(_SETTINGS, "outscale"),
        default=None,
        help="final scale relative to the input (the model's output is resized; sizes are made even)",
    )
    p.add_argument(
        "--max-output-pixels",
        type=arg_type(int, Range(0, None)),
        default=DEFAULT_MAX_OUTPUT_PIXELS,
        help=f"refuse a video whose frames the model would make larger than this many pixels (default "
        f"{DEFAULT_MAX_OUTPUT_PIXELS}; 0 = no limit)",
    )
    enc = p.add_argument_group("encoding")
    enc.add_argument(
        "--codec",
        default=None,
        help="video encoder of the bundled FFmpeg: libx264 (default; VP9 for .webm), libx265, libvpx-vp9, "
        "libsvtav1, ...",
    )
    enc.add_argument(
        "--crf",
        type=field_arg_type(_ENCODE, "crf"),
        default=None,
        help=f"constant quality, lower is better (default {DEFAULT_CRF[DEFAULT_CODEC]:g} for {DEFAULT_CODEC}; "
        "0..51 for x264/x265, 0..63 for VP9/AV1)",
    )
    enc.add_argument(
        "--preset",
        default=None,
        help=f"encoder speed preset, ultrafast ... veryslow for x264/x265 (default {DEFAULT_PRESET[DEFAULT_CODEC]} for "
        "x264; medium/slow make ~10%% smaller files at the same quality, 3x slower)",
    )
    enc.add_argument(
        "--pix-fmt", default=DEFAULT_PIX_FMT, help=f"output pixel format (default {DEFAULT_PIX_FMT}, plays everywhere)"
    )
    rng = p.add_argument_group("range and resuming")
    rng.add_argument("--start", type=parse_time, default=None, help="start time (seconds, M:SS or H:MM:SS)")
    rng.add_argument("--duration", type=parse_time, default=None, help="length to process (same formats)")
    rng.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from the segments in OUTPUT.parts/"
    )
    rng.add_argument(
        "--segment-frames",
        type=field_arg_type(_SETTINGS, "segment_frames"),
        default=DEFAULT_SEGMENT_FRAMES,
        help=f"frames per resumable segment (default {DEFAULT_SEGMENT_FRAMES})",
    )
    eng = p.add_argument_group("inference")
    eng.add_argument(
        "--batch", type=field_arg_type(_SETTINGS, "batch_size"), default=1, help="frames per network call (default 1)"
    )
    add_engine_args(eng)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    add_worker_args(p.add_argument_group("several workers: segments spread over GPUs, or Ray actors on a cluster"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from esrgan import video
    from esrgan.commands.progress import Status
    from esrgan.models import load_model

    with _as_flags(video.VideoError):
        # Cheap checks first: a typo in a path or an encoder setting should not wait for a model to load.
        src, dst = video.check_paths(args.input, args.output)
        encode = video.resolve_encode_settings(
            video.EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt), dst
        )
        options = engine_options(args)
        check_worker_args(args)
        info = video.probe_video(src)
        with Status(f"loading {args.model or DEFAULT_MODEL}", args.quiet):
            net, model = load_model(args.model or DEFAULT_MODEL, device="cpu")
        _check_output_size(src, info.width, info.height, max(float(model.scale), args.outscale or 0.0), args)
        settings = video.VideoSettings(
            scale=model.scale,
            outscale=args.outscale,
            channels=model.in_channels,
            encode=encode,
            start=args.start,
            duration=args.duration,
            segment_frames=args.segment_frames,
            batch_size=args.batch,
            resume=args.resume,
        )
        about = (
            f"{src}: {info.width}x{info.height} {info.codec}, {float(info.frame_rate):.3g} fps"
            f"{f', {info.num_frames} frames' if info.num_frames else ''} → {dst} with {model.name or model.path} "
            f"(x{model.scale})"
        )
        frame_pixels = info.width * info.height
        with _ProgressBar(dst.name, quiet=args.quiet, batch=args.batch, frame_pixels=frame_pixels) as bar:
            if wants_workers(args):
                result, workers = _run_on_workers(args, net, options, model.sha256, src, dst, settings, bar, about)
            else:
                name = model.name or Path(str(model.path)).name
                result, workers = _run_here(net, options, (model.sha256, name), src, dst, settings, bar, about), 1
    fps = (result.frames - result.resumed_frames) / max(result.seconds, 1e-9)
    share = 100 * result.network_seconds / max(result.seconds * workers, 1e-9)
    log.info(
        "wrote %s: %d frames %dx%d in %.1f s (%.2f frames/s; network %.0f%% of %s)",
        result.output,
        result.frames,
        result.width,
        result.height,
        result.seconds,
        fps,
        share,
        f"{workers} workers' time" if workers > 1 else "the time",
    )
    return 0


def _check_output_size(src: Path, width: int, height: int, factor: float, args: argparse.Namespace) -> None:
    """LimitError when the frames the network makes (or the -s resize, whichever is larger) would have more than
    --max-output-pixels pixels: a model may declare any scale (checked before the engine is prepared)."""
    out_w, out_h = round(width * factor), round(height * factor)
    if args.max_output_pixels and out_w * out_h > args.max_output_pixels:
        raise LimitError(
            f"{src}: the output frames would be {out_w}x{out_h} ({out_w * out_h / 1e6:.1f} MP), above "
            f"--max-output-pixels {args.max_output_pixels}; lower -s/--outscale, or pass --max-output-pixels 0 to "
            "allow it"
        )


def _run_here(
    net: nn.Module,
    options: EngineOptions,
    model: tuple[str, str],
    src: Path,
    dst: Path,
    settings: VideoSettings,
    bar: _ProgressBar,
    about: str,
) -> VideoResult:
    """The whole video in this process, on its one device; ``model``: its hash and name. The frame bar moves with
    the engine's progress inside each frame, and a long job gets its estimate."""
    from esrgan.commands.progress import Status
    from esrgan.inference import Upscaler
    from esrgan.video import upscale_video

    with Status("preparing the engine", bar.quiet):  # a compiled backend exports and compiles here (once)
        upscaler = Upscaler.from_options(net, options, on_tile=bar.on_tile)
    bar.estimate = _estimate(upscaler, model[1], bar.frame_pixels)
    log.info("%s on %s", about, upscaler.device)
    # What the built engine really runs with (auto resolved), so a resumed run never mixes engines.
    engine = {"model": model[0], **upscaler.resolved_settings()}
    return upscale_video(src, dst, upscaler, settings, engine=engine, progress=bar.update)


def _run_on_workers(
    args: argparse.Namespace,
    net: nn.Module,
    options: EngineOptions,
    model: str,
    src: Path,
    dst: Path,
    settings: VideoSettings,
    bar: _ProgressBar,
    about: str,
) -> tuple[VideoResult, int]:
    """The video's segments over several workers (--ray, or a device list), joined here
    (:mod:`esrgan.cluster.video`); returns the result and the number of workers."""
    from esrgan.cluster.engine import EngineSpec, NetworkRecipe
    from esrgan.cluster.video import SegmentJob, upscale_video_on

    with scheduler_from(args, SegmentJob(EngineSpec(NetworkRecipe.of(net), options))) as scheduler:
        log.info("%s on %d workers", about, len(scheduler.stats))
        result = upscale_video_on(scheduler, src, dst, settings, model=model, progress=bar.update)
        log_summary(scheduler, "segments")
    return result, len(scheduler.stats)


def as_flags(message: str) -> str:
    """A library message in this command's words: ``crf=80`` → ``--crf 80``, ``with resume=True`` → ``with
    --resume``, ``with resume=False`` → ``without --resume``."""
    message = message.replace("with resume=True", "with --resume").replace("with resume=False", "without --resume")
    return re.sub(rf"\b({'|'.join(FLAGS)})=", lambda m: f"{FLAGS[m.group(1)]} ", message)


@contextmanager
def _as_flags(error: type[Exception]) -> Iterator[None]:
    """Re-raise ``error`` (the library's user-facing kind) with its message in flags (:func:`as_flags`)."""
    try:
        yield
    except error as exc:
        raise error(as_flags(str(exc))) from exc


class _ProgressBar:
    """The frames bar: created at the first report, so that frames done before a resume count as the start, not as
    speed; moved in fractions of the batch being upscaled (the engine's ``on_tile``), so a 30-second frame shows
    progress too. The total is unknown (None) for containers that do not state it. The speed of the first
    network call is the job's measured speed (:class:`esrgan.commands.progress.Estimate`).

    Args:
        name: the output's name.
        quiet: show nothing.
        batch: frames per network call.
        frame_pixels: pixels of an input frame.
    """

    def __init__(self, name: str, *, quiet: bool, batch: int, frame_pixels: int) -> None:
        self.name, self.quiet, self.batch, self.frame_pixels = name, quiet, batch, frame_pixels
        self.bar: WorkBar | None = None
        self.estimate: Estimate | None = None
        self.frames = 0  # frames done
        self.total: int | None = None
        self.calls = 0
        self.call_started = 0.0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, done: int, total: int | None) -> None:
        from esrgan.commands.progress import WorkBar

        if self.bar is None:
            self.bar = WorkBar(self.name, total, "frame", quiet=self.quiet, initial=done)
            if self.estimate is not None:
                self.estimate.total_flops *= max((total or 0) - done, 0)  # the work of one frame until now
        self.frames, self.total = done, total
        self.bar.update(done, total)

    def on_tile(self, done: float, total: int) -> None:
        if done == 0:
            self.calls += 1
            self.call_started = time.perf_counter()
        if self.bar is None:
            return
        frames = min(self.batch, self.total - self.frames) if self.total else self.batch
        self.bar.update(self.frames + frames * done / total)
        if self.estimate is not None and self.calls == 1 and done > 0:
            flops = self.estimate.flops_per_pixel * self.frame_pixels * frames * done / total
            self.estimate.measured(flops, time.perf_counter() - self.call_started, first_tile_done=done >= 1)


def _estimate(upscaler: Upscaler, name: str, frame_pixels: int) -> Estimate:
    """The work of one frame, multiplied by the frames left at the first report (:meth:`_ProgressBar.update`)."""
    from esrgan.commands.progress import Estimate

    faster = "" if name == FAST_MODEL else f"-m {FAST_MODEL} is made for video and costs ~30x less per pixel"
    on_cpu = upscaler.device.type == "cpu"
    return Estimate(frame_pixels * upscaler.flops_per_pixel, name, upscaler.flops_per_pixel, on_cpu, faster)
