"""``esrgan video``: upscale a video frame by frame, keeping its audio, subtitles, timing and rotation.

The work is done by :func:`esrgan.video.upscale_video`; this module turns arguments into that call, builds the
model and the inference engine, and shows the progress bar.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from esrgan.commands.common import add_engine_args, engine_options
from esrgan.defaults import (
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_MODEL,
    DEFAULT_PIX_FMT,
    DEFAULT_PRESET,
    DEFAULT_SEGMENT_FRAMES,
    FAST_MODEL,
)
from esrgan.options import field_arg_type

# Imported when a value is parsed (esrgan.video imports PyAV and torch).
_SETTINGS, _ENCODE = "esrgan.video.settings:VideoSettings", "esrgan.video.settings:EncodeSettings"

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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from esrgan import video
    from esrgan.inference import Upscaler
    from esrgan.models import load_model

    with _as_flags(video.VideoError):
        # Cheap checks first: a typo in a path or an encoder setting should not wait for a model to load.
        src, dst = video.check_paths(args.input, args.output)
        encode = video.resolve_encode_settings(
            video.EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt), dst
        )
        options = engine_options(args)
        info = video.probe_video(src)
        net, model = load_model(args.model or DEFAULT_MODEL, device="cpu")
        upscaler = Upscaler.from_options(net, options)
        log.info(
            "%s: %dx%d %s, %s fps%s → %s with %s (x%d) on %s",
            src,
            info.width,
            info.height,
            info.codec,
            f"{float(info.frame_rate):.3g}",
            f", {info.num_frames} frames" if info.num_frames else "",
            dst,
            model.name or model.path,
            model.scale,
            upscaler.device,
        )
        settings = video.VideoSettings(
            scale=int(upscaler.scale),
            outscale=args.outscale,
            channels=upscaler.in_channels or 3,
            encode=encode,
            start=args.start,
            duration=args.duration,
            segment_frames=args.segment_frames,
            batch_size=args.batch,
            resume=args.resume,
        )
        # What the built engine really runs with (auto resolved), so a resumed run never mixes engines.
        engine = {"model": model.sha256, **upscaler.resolved_settings()}
        with _ProgressBar(dst.name, quiet=args.quiet) as bar:
            result = video.upscale_video(src, dst, upscaler, settings, engine=engine, progress=bar.update)
    fps = (result.frames - result.resumed_frames) / max(result.seconds, 1e-9)
    log.info(
        "wrote %s: %d frames %dx%d in %.1f s (%.2f frames/s; network %.0f%% of the time)",
        result.output,
        result.frames,
        result.width,
        result.height,
        result.seconds,
        fps,
        100 * result.network_seconds / max(result.seconds, 1e-9),
    )
    return 0


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
    """tqdm bar in frames, created at the first report so that frames done before a resume count as the start,
    not as speed; the total is unknown (None) for containers that do not state it."""

    def __init__(self, name: str, *, quiet: bool) -> None:
        self.name = name
        self.quiet = quiet
        self.bar: Any = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, done: int, total: int | None) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="frame", disable=self.quiet, desc=self.name)
        self.bar.update(done - self.bar.n)
