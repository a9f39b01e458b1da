"""``esrgan video``: upscale a video frame by frame, keeping its audio, subtitles, timing and rotation.

The work is done by :func:`esrgan.video.upscale_video`; this module turns arguments into that call, builds the
model and the inference engine, and shows the progress bar.
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

from esrgan.commands.common import OUTSCALE, add_engine_args, upscaler_from
from esrgan.errors import OptionsError
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

# Names only (esrgan.models imports torch, which `esrgan --help` must not wait for); a test checks they exist.
DEFAULT_MODEL = "realesrgan-x4plus"
FAST_MODEL = "realesr-animevideov3"
SEGMENT_FRAMES = 300  # = esrgan.video.SEGMENT_FRAMES (not imported here: it brings in av and torch)

_EPILOG = f"""\
The output plays everywhere by default: H.264 (libx264), yuv420p, even sizes, MP4 index up front. Frame
timestamps (variable frame rate too), duration, rotation and the pixel aspect ratio are kept; audio streams are
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
        type=arg_type(float, OUTSCALE),
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
        type=arg_type(float, Range(0, 63)),  # the widest range of the bundled encoders (VP9, AV1); x264/x265: 0..51
        default=None,
        help="constant quality, lower is better (default 18 for libx264; 0..51 for x264/x265, 0..63 VP9/AV1)",
    )
    enc.add_argument(
        "--preset",
        default=None,
        help="encoder speed preset, ultrafast ... veryslow for x264/x265 (default veryfast for x264; "
        "medium/slow make ~10%% smaller files at the same quality, 3x slower)",
    )
    enc.add_argument("--pix-fmt", default="yuv420p", help="output pixel format (default yuv420p, plays everywhere)")
    rng = p.add_argument_group("range and resuming")
    rng.add_argument("--start", type=parse_time, default=None, help="start time (seconds, M:SS or H:MM:SS)")
    rng.add_argument("--duration", type=parse_time, default=None, help="length to process (same formats)")
    rng.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from the segments in OUTPUT.parts/"
    )
    rng.add_argument(
        "--segment-frames",
        type=arg_type(int, Range(1, 1_000_000)),
        default=SEGMENT_FRAMES,
        help=f"frames per resumable segment (default {SEGMENT_FRAMES})",
    )
    eng = p.add_argument_group("inference")
    eng.add_argument(
        "--batch", type=arg_type(int, Range(1, 256)), default=1, help="frames per network call (default 1)"
    )
    add_engine_args(eng)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from esrgan import video
    from esrgan.models import load_model

    # Cheap checks first: a typo in a path should not wait for a model to load.
    src, dst = video.check_paths(args.input, args.output)
    if args.tile_pad < 0:
        raise OptionsError(f"--tile-pad must be >= 0, got {args.tile_pad}")
    encode = video.resolve_encode_settings(
        video.EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt), dst
    )
    info = video.probe_video(src)
    net, model = load_model(args.model or DEFAULT_MODEL, device="cpu")
    upscaler = upscaler_from(net, args)
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
    identity = {
        "model": model.sha256,
        "tile": args.tile,
        "tile_pad": args.tile_pad,
        "ensemble": args.ensemble,
        "precision": args.precision,
    }
    bars: list[tqdm[Any]] = []

    def progress(done: int, total: int | None) -> None:
        if not bars:
            # Created at the first report so that resumed frames count as the start, not as speed.
            bars.append(tqdm(total=total, initial=done, unit="frame", disable=args.quiet, desc=dst.name))
        bar = bars[0]
        bar.update(done - bar.n)

    try:
        result = video.upscale_video(
            src,
            dst,
            upscaler,
            scale=int(upscaler.scale),
            outscale=args.outscale,
            encode=encode,
            start=args.start,
            duration=args.duration,
            batch_size=args.batch,
            resume=args.resume,
            segment_frames=args.segment_frames,
            identity=identity,
            progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
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
