"""Video in and out for super-resolution, with PyAV (FFmpeg's libraries, bundled in the ``av`` wheels).

Why PyAV rather than ``ffmpeg`` command lines: its wheels bring their own FFmpeg with H.264 (libx264), H.265,
VP9, AV1, AAC and Opus encoders, so nothing else has to be installed; frames arrive as arrays in this process
(no pipes, no temporary images); and every timestamp, audio packet and side-data entry is in reach, which is
what keeping them exactly needs.

The pieces, smallest first:

- :func:`frames_to_tensor` / :func:`tensor_to_frames`: uint8 RGB frames (B, H, W, 3) <-> the package's float
  RGB tensors (B, 3, H, W) in [0, 1]. This module and :mod:`esrgan.image` are the only places that convert.
- :func:`probe_video` → :class:`VideoInfo`: what the input holds (size, rate, frame count if stated, rotation).
- :class:`VideoReader`: decodes the first video stream into :class:`Frame` (RGB uint8 + pts + display
  duration in the stream's time base), optionally inside a time window or after a timestamp (resume).
- :class:`VideoWriter`: encodes RGB uint8 frames at the given timestamps (H.264 yuv420p by default).
- :func:`upscale_video`: decode → upscale → encode in three threads with bounded queues (memory stays flat),
  video written as resumable segments into ``OUTPUT.parts/``, then remuxed (no re-encode) with the input's
  audio and subtitles into a temporary file beside OUTPUT that is renamed over it at the very end.

Timestamps: output frames keep the input pts in the input time base (variable frame rate too); packets get
their display durations back before muxing, so the stream duration is kept as well. Only a ``start`` window
shifts time (video and audio by the same amount).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import logging
import math
import os
import queue
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.container
import av.stream
import av.video.stream
import cv2
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from esrgan.errors import VideoError
from esrgan.fileio import write_text_atomic

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total)``; the total is None when the container does not state it."""

DEFAULT_CODEC = "libx264"
DEFAULT_PIX_FMT = "yuv420p"
# Constant-quality defaults per encoder (each encoder's own scale). x264 18 is close to visually lossless,
# which an upscaler's output deserves; the others are set to a similar quality.
DEFAULT_CRF = {"libx264": 18, "libx264rgb": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 24}
# x264 "veryfast" encodes ~3x faster than "medium" (40 vs 13 fps at 720p on 2 cores, realesr-animevideov3 output,
# crf 18) for 1 dB less PSNR at ~49 dB (invisible) and smaller files. The encoder shares the CPU with the network
# and can become the bottleneck behind a GPU; --preset medium/slow compress ~10% better for archival encodes.
DEFAULT_PRESET = {"libx264": "veryfast", "libx264rgb": "veryfast"}
DEFAULT_SEGMENT_FRAMES = 300
MANIFEST_VERSION = 1
# Containers that take MP4's "moov up front" flag, so playback can start before the whole file is read.
_MOV_FAMILY = {"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv"}
# ISO MP4 (unlike QuickTime .mov) takes PCM only through a recent extension that few players read and FFmpeg
# cannot write for unlabelled channel layouts: PCM audio is re-encoded for these.
_NO_PCM = {"mp4", "ipod", "3gp", "3g2", "psp", "ismv"}
# Container-level tags the muxer writes itself.
_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
# AVColorSpace → swscale's matrix name (PyAV's Colorspace enum).
_SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
_SPC_UNSPECIFIED, _SPC_BT709, _SPC_SMPTE170M = 2, 1, 6
_RANGE_UNSPECIFIED, _RANGE_MPEG, _RANGE_JPEG = 0, 1, 2
# Text subtitle codecs we can re-encode into, in order of preference, when a container cannot take the input's.
_TEXT_SUBTITLE_TARGETS = ("mov_text", "subrip", "ass", "webvtt")
_QUEUE_POLL_S = 0.1
# Listed first when an encoder name is unknown (the rest are image formats, legacy and hardware encoders).
_USUAL_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libx264rgb", "ffv1", "prores_ks", "mpeg4")


# --------------------------------------------------------------------------------------------------------------
# uint8 frames <-> float tensors


def frames_to_tensor(frames: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """Stack uint8 RGB frames into a float batch.

    Args:
        frames: (B, H, W, 3) uint8 array, or a sequence of (H, W, 3) uint8 arrays, RGB order.

    Returns:
        (B, 3, H, W) float32 contiguous tensor, RGB, values in [0, 1].
    """
    batch = np.stack(frames) if not isinstance(frames, np.ndarray) else frames
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (B, H, W, 3), got {batch.dtype} {batch.shape}")
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
    return x.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """Quantise a float batch to uint8 frames.

    Args:
        x: (B, 3, H, W) float tensor, RGB, nominally in [0, 1] (clamped), any device and memory format.

    Returns:
        (B, H, W, 3) uint8 C-contiguous array, RGB; values rounded to the nearest level (halves up).
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
    hwc = x.detach().to("cpu", torch.float32).numpy().transpose(0, 2, 3, 1)
    # NumPy, single-threaded: this runs in the encoder thread beside the network, and torch ops here would
    # compete for the network's thread pool (measured 2-3x slower than NumPy on a busy 2-core machine).
    buf = np.empty(hwc.shape, np.float32)
    np.multiply(hwc, 255.0, out=buf)
    np.add(buf, 0.5, out=buf)
    np.clip(buf, 0.0, 255.0, out=buf)
    return buf.astype(np.uint8)  # truncation after +0.5: round half up


def output_size(width: int, height: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """Output (width, height) for a model of ``scale`` and an optional final ``outscale``, both made even.

    Even sides are what 4:2:0 chroma (and so most players) need. Without ``outscale`` an odd side is rounded
    down (one pixel is cropped); with it the nearest even size is used (the frame is resized anyway).
    """
    if outscale is None:
        w, h = width * scale, height * scale
        return max(2, w - w % 2), max(2, h - h % 2)
    if outscale <= 0:
        raise ValueError(f"outscale must be positive, got {outscale}")
    return max(2, 2 * round(width * outscale / 2)), max(2, 2 * round(height * outscale / 2))


def fit_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring model outputs (B, H, W, 3) uint8 to ``size`` = (width, height).

    A one-pixel parity fix is a crop (no resampling blur); anything else is a cv2 resize: INTER_AREA when
    shrinking (no aliasing), INTER_LANCZOS4 when growing.
    """
    w, h = size
    b, fh, fw, _ = frames.shape
    if (fw, fh) == (w, h):
        return frames
    if 0 <= fw - w <= 1 and 0 <= fh - h <= 1:
        return np.ascontiguousarray(frames[:, :h, :w])
    interp = cv2.INTER_AREA if w * h < fw * fh else cv2.INTER_LANCZOS4
    out = np.empty((b, h, w, 3), np.uint8)
    for i in range(b):
        out[i] = cv2.resize(frames[i], (w, h), interpolation=interp)
    return out


# --------------------------------------------------------------------------------------------------------------
# probing


@dataclass(frozen=True)
class Colour:
    """Colour description of a stream (FFmpeg AVCOL_* integers) and the matrix used to convert it to RGB.

    ``matrix`` is swscale's name ("ITU709", "ITU601", ...) or None for RGB streams. When the input does not say
    (colorspace 2 = unspecified), the matrix players assume is used: BT.709 from 720 lines up, BT.601 below.
    """

    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int
    matrix: str | None


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a file.

    Times are in seconds. ``num_frames`` is the count the container states (None when it does not, e.g.
    Matroska/WebM); ``frame_rate`` is the average rate (guessed from the first frames when not stated);
    ``rotation`` is the display rotation in degrees counter-clockwise (display-matrix side data), with the full
    matrix in ``display_matrix`` (nine int32, or None).
    """

    path: str
    format_name: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    frame_rate: Fraction
    num_frames: int | None
    duration: float | None
    start_time: float
    container_start_time: float
    rotation: float
    display_matrix: tuple[int, ...] | None
    sample_aspect_ratio: Fraction | None
    colour: Colour
    audio_codecs: tuple[str, ...]
    subtitle_codecs: tuple[str, ...]


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise FileNotFoundError(f"input video not found: {path}")
    if path.is_dir():
        raise VideoError(f"input is a folder, not a video: {path}")
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable media file ({_ffmpeg_reason(exc)})") from exc


def _ffmpeg_reason(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(reason).split())


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    # Cover art in audio files is a "video" stream holding one picture: not a video.
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        raise VideoError(f"{path}: no video stream (streams: {_stream_kinds(container)})")
    stream = streams[0]
    if stream.codec_context is None:
        raise VideoError(
            f"{path}: the video codec ({_codec_name(stream)}) cannot be decoded by the bundled FFmpeg; "
            "convert the file first (e.g. to H.264) with a full FFmpeg"
        )
    return stream


def _codec_name(stream: Any) -> str:
    ctx = stream.codec_context
    if ctx is not None:
        return str(ctx.name)
    # No decoder: PyAV then exposes neither the codec nor its tag.
    return str(getattr(getattr(stream, "codec", None), "name", "unknown"))


def _stream_kinds(container: Any) -> str:
    kinds = [f"{s.type} {_codec_name(s)}" for s in container.streams]
    return ", ".join(kinds) if kinds else "none"


def _colour_of(stream: av.video.stream.VideoStream, height: int) -> Colour:
    cc = stream.codec_context
    spc, rng = int(cc.colorspace), int(cc.color_range)
    pix_fmt = cc.pix_fmt or ""
    is_rgb = spc == 0 or pix_fmt.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "rgba", "bgra"))
    if is_rgb:
        matrix = None
    elif spc in _SWS_MATRIX:
        matrix = _SWS_MATRIX[spc]
    else:
        # Untagged: what players assume (and what the output will then say explicitly).
        spc = _SPC_BT709 if height >= 720 else _SPC_SMPTE170M
        matrix = _SWS_MATRIX[spc]
    if rng == _RANGE_UNSPECIFIED and not is_rgb:
        rng = _RANGE_JPEG if pix_fmt.startswith("yuvj") else _RANGE_MPEG
    return Colour(spc, rng, int(cc.color_primaries), int(cc.color_trc), matrix)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    try:
        sd: Any = frame.side_data.get("DISPLAYMATRIX")
    except (KeyError, ValueError):
        return None
    if sd is None:
        return None
    raw = bytes(sd)
    if len(raw) != 36:
        return None
    matrix = struct.unpack("=9i", raw)
    identity = (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
    return None if matrix == identity else matrix


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` (decodes one frame for the rotation).

    Raises:
        FileNotFoundError: no such file.
        VideoError: not a media file, no video stream, or an undecodable codec.
    """
    path = Path(path)
    container = _open_input(path)
    try:
        return _probe(container, path)
    finally:
        container.close()


def _probe(container: av.container.InputContainer, path: Path) -> VideoInfo:
    stream = _video_stream(container, path)
    cc = stream.codec_context
    tb = stream.time_base or Fraction(1, 90000)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
    matrix: tuple[int, ...] | None = None
    width, height = cc.width, cc.height
    try:
        for frame in container.decode(stream):
            matrix = _display_matrix(frame)
            width, height = frame.width, frame.height
            break
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: cannot decode the video stream ({_ffmpeg_reason(exc)})") from exc
    if not width or not height:
        raise VideoError(f"{path}: the video stream has no picture size (damaged file?)")
    duration: float | None = None
    if stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / 1e6
    rotation = 0.0
    if matrix is not None:
        # Rotation of the matrix's first column, counter-clockwise as FFmpeg's av_display_rotation_get.
        rotation = -math.degrees(math.atan2(matrix[1] / 65536, matrix[0] / 65536))
        rotation = round(rotation, 6) + 0.0
    sar = cc.sample_aspect_ratio
    return VideoInfo(
        path=str(path),
        format_name=str(container.format.name),
        codec=str(cc.name),
        width=int(width),
        height=int(height),
        pix_fmt=str(cc.pix_fmt),
        time_base=Fraction(tb),
        frame_rate=Fraction(rate),
        num_frames=int(stream.frames) if stream.frames else None,
        duration=duration,
        start_time=float(stream.start_time * tb) if stream.start_time is not None else 0.0,
        container_start_time=container.start_time / 1e6 if container.start_time is not None else 0.0,
        rotation=rotation,
        display_matrix=matrix,
        sample_aspect_ratio=Fraction(sar) if sar else None,
        colour=_colour_of(stream, int(height)),
        audio_codecs=tuple(_codec_name(s) for s in container.streams.audio),
        subtitle_codecs=tuple(_codec_name(s) for s in container.streams.subtitles),
    )


# --------------------------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``rgb`` is (H, W, 3) uint8 RGB; ``pts`` and ``duration`` (its display duration: the gap to the next frame,
    or the stream's own duration for the last one) are in the stream's time base.
    """

    rgb: np.ndarray
    pts: int
    duration: int


class VideoReader:
    """Decodes the first video stream of a file into RGB uint8 :class:`Frame` objects.

    Use as a context manager. ``info`` describes the stream. Colour conversion uses the stream's matrix and
    range (see :class:`Colour`), so RGB values are what a player shows.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 0) -> None:
        self.path = Path(path)
        self.info = probe_video(self.path)
        self._container = _open_input(self.path)
        self._stream = _video_stream(self._container, self.path)
        # Frame + slice threads: decoding is then far from the bottleneck (FFmpeg releases the GIL).
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = threads
        self._used = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def seconds_to_pts(self, seconds: float) -> int:
        """Timestamp in the stream's time base of a time in seconds on the stream's own clock."""
        return math.floor(Fraction(seconds) / self.info.time_base + Fraction(1, 2))

    def frames(
        self, *, start: float | None = None, end: float | None = None, after_pts: int | None = None
    ) -> Iterator[Frame]:
        """Decode frames in display order.

        Args:
            start: first time to keep, seconds on the stream clock (frames before it are decoded and dropped).
            end: frames at or after this time (seconds) end the iteration.
            after_pts: keep only frames with pts >= this (resume); combined with ``start`` by taking the later.
        """
        info = self.info
        tb = info.time_base
        first = -(2**62)
        if start is not None:
            first = max(first, self.seconds_to_pts(start))
        if after_pts is not None:
            first = max(first, after_pts)
        stop = self.seconds_to_pts(end) if end is not None else None
        default_duration = max(1, round(1 / (info.frame_rate * tb))) if info.frame_rate else 1
        colour = info.colour
        reformatter = VideoReformatter()
        convert: dict[str, Any] = {"format": "rgb24"}
        if colour.matrix is not None:
            convert["src_colorspace"] = colour.matrix

        def decoded() -> Iterator[av.VideoFrame]:
            rewind, self._used = self._used, True
            if first > -(2**62):
                yield from self._decode_from(first)
            else:
                if rewind:  # an earlier call left the file at its end
                    self._container.seek(0, backward=True)
                yield from self._container.decode(self._stream)

        pending: tuple[av.VideoFrame, int] | None = None
        synthetic_pts = 0
        try:
            for frame in decoded():
                pts = frame.pts
                if pts is None:
                    # Streams without timestamps (raw elementary streams): number frames at the nominal rate.
                    pts = synthetic_pts
                synthetic_pts = pts + (frame.duration or default_duration)
                if pending is not None and pts <= pending[1]:
                    log.debug("dropping a frame with non-increasing pts %d after %d", pts, pending[1])
                    continue
                if pts < first:
                    continue
                if stop is not None and pts >= stop:
                    break
                if pending is not None:
                    yield self._to_frame(pending[0], pending[1], pts - pending[1], reformatter, convert)
                pending = (frame, pts)
            if pending is not None:
                last = pending[0].duration or 0
                if stop is not None:
                    last = min(last, stop - pending[1]) if last else stop - pending[1]
                yield self._to_frame(pending[0], pending[1], last or default_duration, reformatter, convert)
        except av.FFmpegError as exc:
            where = f" after {float(pending[1] * tb):.3f} s" if pending is not None else ""
            raise VideoError(f"{self.path}: decoding failed{where} ({_ffmpeg_reason(exc)})") from exc

    def _decode_from(self, first_pts: int) -> Iterator[av.VideoFrame]:
        """Seek to the keyframe at or before ``first_pts`` and decode from there (from the start if the seek
        lands too late or the file cannot seek)."""
        try:
            self._container.seek(first_pts, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            log.debug("seek failed (%s); decoding from the start", exc)
            yield from self._container.decode(self._stream)
            return
        frames = self._container.decode(self._stream)
        head = next(frames, None)
        if head is None:
            return
        if head.pts is not None and head.pts > first_pts:
            # The index pointed past the target (some AVI/MKV files): start over from the beginning.
            log.debug("seek landed at pts %s after %s; decoding from the start", head.pts, first_pts)
            self._container.seek(0, backward=True)
            yield from self._container.decode(self._stream)
            return
        yield head
        yield from frames

    def _to_frame(
        self, frame: av.VideoFrame, pts: int, duration: int, reformatter: Any, convert: dict[str, Any]
    ) -> Frame:
        kwargs = convert
        if self.info.colour.matrix is not None and int(frame.color_range) == _RANGE_UNSPECIFIED:
            kwargs = {**convert, "src_color_range": self.info.colour.color_range}
        rgb = reformatter.reformat(frame, **kwargs).to_ndarray()
        return Frame(np.ascontiguousarray(rgb), int(pts), int(duration))


# --------------------------------------------------------------------------------------------------------------
# encoding settings and writing


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder settings. ``codec`` None = libx264, or the container's own default when it cannot hold
    H.264 (WebM: VP9). ``crf``/``preset`` None = this module's default for the encoder (see :data:`DEFAULT_CRF`,
    :data:`DEFAULT_PRESET`), or the encoder's own when it has none."""

    codec: str | None = None
    crf: float | None = None
    preset: str | None = None
    pix_fmt: str = DEFAULT_PIX_FMT


def output_format(path: str | os.PathLike[str]) -> str:
    """FFmpeg muxer name chosen by the extension of ``path`` (e.g. "mp4", "matroska", "webm")."""
    buf = io.BytesIO()
    buf.name = os.fspath(path)
    try:
        container = av.open(buf, mode="w")
    except (ValueError, av.FFmpegError) as exc:
        raise VideoError(
            f"{path}: cannot tell the container from the extension {Path(path).suffix!r}; "
            "use .mp4, .mkv, .mov, .webm or .avi"
        ) from exc
    return str(container.format.name)


def available_video_encoders() -> list[str]:
    """Names of the video encoders of the bundled FFmpeg (hardware ones included, usable or not)."""
    names = []
    for name in sorted(av.codecs_available):
        try:
            codec = av.Codec(name, "w")
        except Exception:  # a decoder-only name: PyAV's error types vary with the version
            continue
        if codec.type == "video" and codec.name == name:
            names.append(name)
    return names


def resolve_encode_settings(settings: EncodeSettings, dst: str | os.PathLike[str]) -> EncodeSettings:
    """Check ``settings`` against the bundled FFmpeg and the container of ``dst``; fill in defaults.

    The default codec is H.264 (libx264); for a container that cannot hold it (WebM) the container's own
    default is used. The encoder is opened once on a small frame with these options, so that a bad preset or
    quality value fails here, in one line, rather than in the middle of a job. Raises :class:`VideoError`.
    """
    fmt = output_format(dst)
    buf = io.BytesIO()
    buf.name = os.fspath(dst)
    probe = av.open(buf, mode="w", format=fmt)
    supported = probe.supported_codecs
    codec_name = settings.codec
    if codec_name is None:
        codec_name = DEFAULT_CODEC if DEFAULT_CODEC in supported else av.Codec(probe.default_video_codec, "w").name
    try:
        codec = av.Codec(codec_name, "w")
    except Exception as exc:
        names = available_video_encoders()
        usual = [n for n in _USUAL_ENCODERS if n in names]
        raise VideoError(
            f"unknown video encoder {codec_name!r}; available: {', '.join(usual)} and {len(names) - len(usual)} more "
            '(python -c "import esrgan.video as v; print(v.available_video_encoders())")'
        ) from exc
    if codec.type != "video":
        raise VideoError(f"{codec_name!r} is a {codec.type} encoder, not a video one")
    if codec.name not in supported and codec_name not in supported:
        raise VideoError(
            f"{dst}: the {fmt} container cannot hold {codec.name}; use another --codec or extension "
            "(.mkv holds almost anything)"
        )
    formats = [f.name for f in (codec.video_formats or ())]
    if formats and settings.pix_fmt not in formats:
        raise VideoError(
            f"encoder {codec.name} cannot take --pix-fmt {settings.pix_fmt}; it takes: {', '.join(formats)}"
        )
    try:
        ctx = av.CodecContext.create(codec.name, "w")
        private = {o.name for o in ctx.supported_options.private}
    except av.FFmpegError as exc:
        raise VideoError(f"encoder {codec.name} cannot be used here ({_ffmpeg_reason(exc)})") from exc
    crf = settings.crf if settings.crf is not None else DEFAULT_CRF.get(codec.name)
    if crf is not None and float(crf).is_integer():
        crf = int(crf)  # 18, not 18.0, in messages and manifests
    preset = settings.preset if settings.preset is not None else DEFAULT_PRESET.get(codec.name)
    if crf is not None and "crf" not in private:
        if settings.crf is not None:
            raise VideoError(f"encoder {codec.name} has no constant-quality (--crf) setting")
        crf = None
    if preset is not None and "preset" not in private:
        if settings.preset is not None:
            raise VideoError(f"encoder {codec.name} has no --preset setting")
        preset = None
    resolved = EncodeSettings(codec=codec.name, crf=crf, preset=preset, pix_fmt=settings.pix_fmt)
    _try_open(resolved, {o.name: o for o in ctx.supported_options.private})
    return resolved


def _try_open(settings: EncodeSettings, private: Mapping[str, Any]) -> None:
    assert settings.codec is not None
    opts = _encoder_options(settings)
    ctx = av.CodecContext.create(settings.codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 64, 64, settings.pix_fmt  # type: ignore[attr-defined]
    ctx.time_base, ctx.framerate = Fraction(1, 25), Fraction(25)  # type: ignore[attr-defined]
    ctx.options = opts
    try:
        ctx.open()
    except av.FFmpegError as exc:
        given = ", ".join(f"--{k} {v}" for k, v in opts.items()) or "its defaults"
        x26x = settings.codec in ("libx264", "libx264rgb", "libx265")
        hints = []
        if "crf" in opts:
            low, high = (0, 51) if x26x else (private["crf"].min, private["crf"].max)
            hints.append(f"--crf {low:g}..{high:g}")
        if "preset" in opts:
            hints.append(
                "--preset ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow"
                if x26x
                else "--preset: see the encoder's documentation"
            )
        hint = f"; valid: {'; '.join(hints)}" if hints else ""
        raise VideoError(f"encoder {settings.codec} refused {given} ({_ffmpeg_reason(exc)}){hint}") from exc


def _encoder_options(settings: EncodeSettings) -> dict[str, str]:
    opts: dict[str, str] = {}
    if settings.crf is not None:
        opts["crf"] = f"{settings.crf:g}"
    if settings.preset is not None:
        opts["preset"] = str(settings.preset)
    return opts


class VideoWriter:
    """Encodes RGB uint8 frames into a new video-only file.

    Args:
        path: output file; the container follows ``fmt`` or the extension.
        width, height: frame size (even for 4:2:0 pixel formats).
        time_base: time base of the pts given to :meth:`write`; the stream keeps it where the container allows.
        frame_rate: nominal (average) rate, for the container header and the encoder's rate control.
        settings: encoder, quality and pixel format (checked and completed by :func:`resolve_encode_settings`).
        colour: colour description to convert with and to tag; None = BT.709 limited range (HD default).
        display_matrix: rotation/flip side data to write (nine int32), or None.
        sample_aspect_ratio: pixel aspect ratio to tag, or None.
        faststart: move the MP4 index to the front at close (a second pass over the file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        time_base: Fraction,
        frame_rate: Fraction,
        settings: EncodeSettings = EncodeSettings(),
        colour: Colour | None = None,
        display_matrix: Sequence[int] | None = None,
        sample_aspect_ratio: Fraction | None = None,
        faststart: bool = False,
        fmt: str | None = None,
    ) -> None:
        self.path = Path(path)
        settings = resolve_encode_settings(settings, self.path)  # idempotent: fills defaults, checks the rest
        fmt = fmt or output_format(self.path)
        options = {"movflags": "+faststart"} if faststart and fmt in _MOV_FAMILY else {}
        self._container = av.open(str(self.path), mode="w", format=fmt, container_options=options)
        assert settings.codec is not None
        try:
            stream = cast(
                "av.video.stream.VideoStream",
                self._container.add_stream(settings.codec, rate=frame_rate, options=_encoder_options(settings)),
            )
            stream.width, stream.height = width, height
            stream.pix_fmt = settings.pix_fmt
            stream.time_base = time_base
            cc = stream.codec_context
            cc.time_base = time_base
            colour = colour or Colour(_SPC_BT709, _RANGE_MPEG, 0, 0, "ITU709")
            is_rgb_out = av.VideoFormat(settings.pix_fmt).is_rgb
            self._convert: dict[str, Any] = {"format": settings.pix_fmt}
            if not is_rgb_out:
                matrix = colour.matrix or "ITU709"
                spc = colour.colorspace if colour.matrix else _SPC_BT709
                rng = _RANGE_JPEG if settings.pix_fmt.startswith("yuvj") else _RANGE_MPEG
                self._convert.update(dst_colorspace=matrix, dst_color_range=rng)
                cc.colorspace, cc.color_range = spc, rng
            if colour.color_primaries not in (0, 2):
                cc.color_primaries = colour.color_primaries
            if colour.color_trc not in (0, 2):
                cc.color_trc = colour.color_trc
            if sample_aspect_ratio:
                cc.sample_aspect_ratio = sample_aspect_ratio
            if fmt == "avi":
                # AVI stores decoding order only; B-frames would shift every timestamp by the reorder delay.
                cc.max_b_frames = 0
            if display_matrix is not None:
                stream.set_display_matrix(list(display_matrix))
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._time_base = time_base
        self._reformatter = VideoReformatter()
        self._durations: dict[int, int] = {}
        self.frames = 0

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb: np.ndarray, pts: int, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame shown at ``pts`` for ``duration`` (both in ``time_base``)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = self._reformatter.reformat(frame, **self._convert)
        frame.pts = pts
        frame.time_base = self._time_base
        self._durations[pts] = duration
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: Iterable[av.Packet]) -> None:
        for packet in packets:
            # Encoders leave durations at 0; muxers then guess the last one, and the stream's duration drifts.
            if packet.pts is not None:
                packet.duration = self._durations.pop(packet.pts, 0)
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            self._mux(self._stream.encode(None))
        finally:
            self._container.close()

    def abort(self) -> None:
        """Close without flushing and delete the file."""
        with contextlib.suppress(Exception):
            self._container.close()
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------------
# resumable segments


@dataclass
class Segment:
    """One finished piece of the output video: ``frames`` frames, input pts ``first_pts`` up to ``end_pts``
    (exclusive: last pts + its display duration), stored in ``file`` inside the parts folder."""

    file: str
    frames: int
    first_pts: int
    end_pts: int


@dataclass
class Manifest:
    """The parts folder's ``manifest.json``: what is being made from what, and the segments already done."""

    input: dict[str, Any]
    settings: dict[str, Any]
    pts_offset: int | None = None
    segments: list[Segment] = field(default_factory=list)
    version: int = MANIFEST_VERSION

    @staticmethod
    def load(path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            return Manifest(
                input=dict(data["input"]),
                settings=dict(data["settings"]),
                pts_offset=data.get("pts_offset"),
                segments=[Segment(**s) for s in data["segments"]],
                version=int(data["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VideoError(f"{path}: unreadable resume manifest ({exc}); run without --resume to start over") from exc

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(asdict(self), indent=1))

    @property
    def frames_done(self) -> int:
        return sum(s.frames for s in self.segments)


def parts_folder(dst: str | os.PathLike[str]) -> Path:
    """Work folder of an output: ``OUTPUT.parts`` beside it."""
    dst = Path(dst)
    return dst.with_name(dst.name + ".parts")


def _input_identity(src: Path) -> dict[str, Any]:
    st = src.stat()
    return {"path": str(src.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _normalised(settings: Mapping[str, Any]) -> dict[str, Any]:
    # Through JSON, so that a fresh dict compares equal to one read back (tuples → lists, float reprs).
    return dict(json.loads(json.dumps(dict(settings), sort_keys=True)))


def _settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


# --------------------------------------------------------------------------------------------------------------
# threads


class _StoppedError(Exception):
    """Raised inside a worker when the run is being torn down."""


class _Pipe:
    """A bounded queue whose blocking calls give up when ``stop`` is set."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize)
        self._stop = stop

    def put(self, item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise _StoppedError
            try:
                self._q.put(item, timeout=_QUEUE_POLL_S)
                return
            except queue.Full:
                continue

    def get(self) -> Any:
        while True:
            try:
                return self._q.get(timeout=_QUEUE_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    raise _StoppedError from None


class _Worker(threading.Thread):
    """A thread that records its exception and stops the run instead of dying silently."""

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self.error: BaseException | None = None
        self.busy = 0.0

    def run(self) -> None:
        try:
            self._target_fn()
        except _StoppedError:
            pass
        except BaseException as exc:
            self.error = exc
            self._stop_event.set()


_END = object()


@dataclass
class _Batch:
    images: torch.Tensor  # (B, 3, H, W) float in [0, 1], model output
    stamps: list[tuple[int, int]]  # (input pts, display duration) per frame


@dataclass
class _SegmentEnd:
    segment: Segment


# --------------------------------------------------------------------------------------------------------------
# the whole job


@dataclass(frozen=True)
class VideoResult:
    """What :func:`upscale_video` did. ``seconds`` is this run's wall time; ``network_seconds`` the part spent
    inside the upscaler; ``decode_seconds``/``encode_seconds`` the busy time of those threads (they overlap)."""

    output: Path
    width: int
    height: int
    frames: int
    resumed_frames: int
    seconds: float
    network_seconds: float
    decode_seconds: float
    encode_seconds: float
    assemble_seconds: float
    audio: tuple[str, ...]
    subtitles: tuple[str, ...]


def check_paths(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Validate an input/output pair before any work; returns them as Paths.

    Raises FileNotFoundError (missing input or output folder) or VideoError (output equals input, or is a folder).
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(f"input video not found: {src}")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {parent} (create it first)")
    if dst.is_dir():
        raise VideoError(f"output is a folder: {dst}; give a file name such as {dst / (src.stem + '_up.mp4')}")
    if src.resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise VideoError(f"output {dst} is the input file; choose another output path")
    return src, dst


def upscale_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    upscale: Callable[[torch.Tensor], torch.Tensor],
    *,
    scale: int,
    outscale: float | None = None,
    encode: EncodeSettings = EncodeSettings(),
    start: float | None = None,
    duration: float | None = None,
    batch_size: int = 1,
    resume: bool = False,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    identity: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    on_segment: Callable[[int], None] | None = None,
) -> VideoResult:
    """Upscale every frame of ``src`` into ``dst``, keeping timing, rotation, audio and subtitles.

    Args:
        src: input video (anything the bundled FFmpeg demuxes and decodes).
        dst: output file; its extension picks the container. Written to a temporary file beside it and renamed
            at the end, so an interrupted run never leaves a half-written ``dst``.
        upscale: maps (B, 3, H, W) float RGB in [0, 1] to (B, 3, H*scale, W*scale) float RGB in [0, 1] (an
            :class:`esrgan.inference.Upscaler`).
        scale: the factor ``upscale`` applies.
        outscale: final size factor relative to the input (resized after the model); None = ``scale``.
        encode: video encoder settings (checked against ``dst``'s container).
        start, duration: seconds; process only this window (audio and subtitles are cut to it and shifted
            with the video, so they stay in sync).
        batch_size: frames per ``upscale`` call (never spanning two segments).
        resume: continue from the segments already in ``OUTPUT.parts/`` if their manifest matches this job;
            otherwise a leftover parts folder is replaced.
        segment_frames: frames per resumable segment.
        identity: what else defines the output (model hash, tiling, precision...; JSON values): stored in the
            manifest and compared on resume.
        progress: ``progress(frames_done, frames_total_or_None)`` after each batch (from this thread).
        on_segment: called with the segment index after each segment is safely on disk (from the encoder
            thread); an exception raised there interrupts the run like Ctrl-C would.

    Raises:
        FileNotFoundError, VideoError: bad paths, files or settings (one-line messages).
    """
    t_begin = time.perf_counter()
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if segment_frames < 1:
        raise ValueError(f"segment length must be at least 1 frame, got {segment_frames}")
    if start is not None and start < 0:
        raise ValueError(f"start must be >= 0 seconds, got {start}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    src, dst = check_paths(src, dst)
    info = probe_video(src)
    encode = resolve_encode_settings(encode, dst)
    fmt = output_format(dst)
    width, height = output_size(info.width, info.height, scale, outscale)
    settings = _normalised(
        {
            "scale": scale,
            "outscale": outscale,
            "codec": encode.codec,
            "crf": encode.crf,
            "preset": encode.preset,
            "pix_fmt": encode.pix_fmt,
            "start": start,
            "duration": duration,
            "segment_frames": segment_frames,
            **(identity or {}),
        }
    )
    parts = parts_folder(dst)
    manifest = _prepare_parts(parts, src, settings, resume)

    windowed = start is not None or duration is not None
    window_start = info.start_time + start if start is not None else None
    window_end = info.start_time + (start or 0.0) + duration if duration is not None else None
    total = _expected_frames(info, start, duration)
    done_before = manifest.frames_done
    if done_before:
        log.info("resuming %s: %d frames in %d segments already done", dst, done_before, len(manifest.segments))

    if manifest.pts_offset is None and not windowed:
        # Whole files keep their timestamps; only a container that starts late is moved to 0 (as ffmpeg does).
        manifest.pts_offset = max(0, math.floor(Fraction(info.container_start_time) / info.time_base))

    stop = threading.Event()
    frames_q = _Pipe(max(4, 2 * batch_size), stop)
    # Two model outputs in flight at most: at 4K those are 100 MB each (float32).
    batches_q = _Pipe(2, stop)
    stats = {"network": 0.0}
    after_pts = manifest.segments[-1].end_pts if manifest.segments else None

    with VideoReader(src) as reader:

        def decode() -> None:
            frames = reader.frames(start=window_start, end=window_end, after_pts=after_pts)
            while True:
                t0 = time.perf_counter()
                item = next(frames, _END)
                decoder.busy += time.perf_counter() - t0
                frames_q.put(item)
                if item is _END:
                    return

        def encode_segments() -> None:
            _encode_loop(
                batches_q, manifest, parts, dst.suffix, fmt, (width, height), info, encode, on_segment, encoder
            )

        decoder = _Worker("esrgan-video-decode", decode, stop)
        encoder = _Worker("esrgan-video-encode", encode_segments, stop)
        decoder.start()
        encoder.start()
        try:
            _upscale_loop(frames_q, batches_q, upscale, manifest, batch_size, segment_frames, total, progress, stats)
            batches_q.put(_END)
            encoder.join()
            for worker in (encoder, decoder):
                if worker.error is not None:
                    raise worker.error
        except BaseException as exc:
            stop.set()
            decoder.join()
            encoder.join()
            _keep_or_drop_parts(parts, manifest)
            cause = next((w.error for w in (decoder, encoder) if w.error is not None), None)
            if isinstance(exc, _StoppedError) and cause is not None:
                # A worker's failure stopped this thread: surface the real cause.
                raise cause from None
            raise
        finally:
            stop.set()
            decoder.join()
            encoder.join()
    if not manifest.segments:
        shutil.rmtree(parts, ignore_errors=True)
        raise VideoError(f"{src}: no video frames in the requested range")

    t_assemble = time.perf_counter()
    try:
        audio, subtitles = _assemble(src, dst, parts, manifest, info, fmt, windowed)
    except av.FFmpegError as exc:
        raise VideoError(
            f"{dst}: writing the output failed ({_ffmpeg_reason(exc)}); the upscaled video is kept in {parts}, "
            "run again with --resume to retry"
        ) from exc
    shutil.rmtree(parts, ignore_errors=True)
    t_end = time.perf_counter()
    return VideoResult(
        output=dst,
        width=width,
        height=height,
        frames=manifest.frames_done,
        resumed_frames=done_before,
        seconds=t_end - t_begin,
        network_seconds=stats["network"],
        decode_seconds=decoder.busy,
        encode_seconds=encoder.busy,
        assemble_seconds=t_end - t_assemble,
        audio=tuple(audio),
        subtitles=tuple(subtitles),
    )


def _expected_frames(info: VideoInfo, start: float | None, duration: float | None) -> int | None:
    if start is None and duration is None:
        return info.num_frames
    if info.duration is None and duration is None:
        return None
    span = info.duration - (start or 0.0) if info.duration is not None else float("inf")
    if duration is not None:
        span = min(span, duration)
    return max(0, math.ceil(span * info.frame_rate - 1e-6))


def _prepare_parts(parts: Path, src: Path, settings: dict[str, Any], resume: bool) -> Manifest:
    path = parts / "manifest.json"
    fresh = Manifest(input=_input_identity(src), settings=settings)
    if resume and path.exists():
        old = Manifest.load(path)
        if old.version != MANIFEST_VERSION:
            raise VideoError(f"{path}: made by another version of esrgan; run without --resume to start over")
        if old.input != fresh.input:
            raise VideoError(
                f"{src} changed since {parts} was started (size or modification time differ); "
                "run without --resume to start over"
            )
        if old.settings != settings:
            raise VideoError(
                f"{parts} was made with different settings ({_settings_diff(old.settings, settings)}); "
                "resume with the same settings, or run without --resume to start over"
            )
        missing = [s.file for s in old.segments if not (parts / s.file).is_file()]
        if missing:
            raise VideoError(f"{parts}: segment {missing[0]} is missing; run without --resume to start over")
        _remove_stray_files(parts, old)
        return old
    if parts.exists() and not path.exists() and any(parts.iterdir()):
        # Not ours (no manifest): never delete a folder we did not make.
        raise VideoError(f"{parts} exists and is not an esrgan work folder; move it away or choose another output")
    if resume:
        log.info("nothing to resume at %s; starting from the first frame", parts)
    elif path.exists():
        try:
            done = f"{Manifest.load(path).frames_done} frames"
        except VideoError:
            done = "the work"
        log.warning("discarding %s of an earlier unfinished run in %s (use --resume to continue it)", done, parts)
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir()
    fresh.save(path)
    return fresh


def _remove_stray_files(parts: Path, manifest: Manifest) -> None:
    keep = {"manifest.json", *(s.file for s in manifest.segments)}
    for p in parts.iterdir():
        if p.name not in keep:
            p.unlink(missing_ok=True)


def _keep_or_drop_parts(parts: Path, manifest: Manifest) -> None:
    if manifest.segments:
        log.warning(
            "stopped with %d frames done; they are kept in %s: run the same command with --resume to continue",
            manifest.frames_done,
            parts,
        )
    else:
        shutil.rmtree(parts, ignore_errors=True)


def _upscale_loop(
    frames_q: _Pipe,
    batches_q: _Pipe,
    upscale: Callable[[torch.Tensor], torch.Tensor],
    manifest: Manifest,
    batch_size: int,
    segment_frames: int,
    total: int | None,
    progress: ProgressFn | None,
    stats: dict[str, float],
) -> None:
    done = manifest.frames_done
    segment_index = len(manifest.segments)
    in_segment: list[tuple[int, int]] = []
    if progress is not None:
        progress(done, total)
    finished = False
    while not finished:
        batch: list[Frame] = []
        room = min(batch_size, segment_frames - len(in_segment))
        while len(batch) < room:
            item = frames_q.get()
            if item is _END:
                finished = True
                break
            batch.append(item)
        if batch:
            x = frames_to_tensor([f.rgb for f in batch])
            t0 = time.perf_counter()
            y = upscale(x)
            stats["network"] += time.perf_counter() - t0
            stamps = [(f.pts, f.duration) for f in batch]
            batches_q.put(_Batch(y, stamps))
            in_segment.extend(stamps)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        if in_segment and (len(in_segment) >= segment_frames or finished):
            first, (last, last_dur) = in_segment[0][0], in_segment[-1]
            name = f"{segment_index:05d}"
            batches_q.put(_SegmentEnd(Segment(name, len(in_segment), first, last + last_dur)))
            segment_index += 1
            in_segment = []


def _encode_loop(
    batches_q: _Pipe,
    manifest: Manifest,
    parts: Path,
    ext: str,
    fmt: str,
    size: tuple[int, int],
    info: VideoInfo,
    settings: EncodeSettings,
    on_segment: Callable[[int], None] | None,
    worker: _Worker,
) -> None:
    writer: VideoWriter | None = None
    offset = manifest.pts_offset
    seg_first = 0
    try:
        while True:
            item = batches_q.get()
            t0 = time.perf_counter()
            if item is _END:
                break
            if isinstance(item, _Batch):
                frames = fit_frames(tensor_to_frames(item.images), size)
                for rgb, (pts, dur) in zip(frames, item.stamps, strict=True):
                    if offset is None:
                        # A window's output time starts at its first frame (and its audio is shifted alike).
                        offset = manifest.pts_offset = pts
                    if writer is None:
                        # Each segment starts at pts 0: MP4 stores a later start as an edit list in the movie
                        # time scale (1/1000 s), which would round it; the offset is added back when joining.
                        seg_first = pts
                        n = len(manifest.segments)
                        writer = VideoWriter(
                            parts / f"{n:05d}.tmp{ext}",
                            width=size[0],
                            height=size[1],
                            time_base=info.time_base,
                            frame_rate=info.frame_rate,
                            settings=settings,
                            colour=info.colour,
                            display_matrix=info.display_matrix,
                            sample_aspect_ratio=info.sample_aspect_ratio,
                            fmt=fmt,
                        )
                    writer.write(rgb, pts - seg_first, dur)
            elif isinstance(item, _SegmentEnd):
                assert writer is not None
                seg = item.segment
                final = parts / f"{seg.file}{ext}"
                writer.close()
                os.replace(writer.path, final)
                writer = None
                manifest.segments.append(replace(seg, file=final.name))
                manifest.save(parts / "manifest.json")
                log.debug("segment %s done (%d frames)", final.name, seg.frames)
                worker.busy += time.perf_counter() - t0
                if on_segment is not None:
                    on_segment(len(manifest.segments) - 1)
                continue
            worker.busy += time.perf_counter() - t0
    finally:
        if writer is not None:
            writer.abort()


# --------------------------------------------------------------------------------------------------------------
# final remux: video segments + the input's audio and subtitles


@dataclass
class _Passthrough:
    """How one input audio/subtitle stream reaches the output."""

    index: int
    out: Any  # output av stream
    mode: str  # "copy", "audio" (re-encode), "subtitle" (text re-encode)
    offset: int  # subtracted from pts, in the input stream's time base
    decoder: Any = None
    resampler: Any = None
    description: str = ""


def _assemble(
    src: Path, dst: Path, parts: Path, manifest: Manifest, info: VideoInfo, fmt: str, windowed: bool
) -> tuple[list[str], list[str]]:
    offset = manifest.pts_offset or 0
    # Segment starts on the output clock, in seconds (a segment's own time base may differ from the input's: MP4
    # raises small time scales, Matroska always uses milliseconds).
    segments = [(parts / s.file, (s.first_pts - offset) * info.time_base) for s in manifest.segments]
    t0 = Fraction(offset) * info.time_base  # output time zero, in input seconds
    t_end = Fraction(manifest.segments[-1].end_pts) * info.time_base
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    options = {"movflags": "+faststart"} if fmt in _MOV_FAMILY else {}
    audio: list[str] = []
    subtitles: list[str] = []
    first = av.open(str(segments[0][0]))
    source = _open_input(src)
    out = av.open(str(tmp), mode="w", format=fmt, container_options=options)
    try:
        # The template carries the codec parameters, colour tags and display matrix of the segments.
        vstream = out.add_stream_from_template(first.streams.video[0])
        in_video = _video_stream(source, src)
        if in_video.language:
            vstream.metadata["language"] = in_video.language
        out.metadata.update({k: v for k, v in source.metadata.items() if k not in _MUXER_TAGS})
        plans = _plan_passthrough(source, out, t0, dst)
        audio = [p.description for p in plans if p.out.type == "audio"]
        subtitles = [p.description for p in plans if p.out.type == "subtitle"]
        if not windowed and offset == 0:
            with contextlib.suppress(Exception):  # chapters are a nicety; some muxers reject them
                out.set_chapters(source.chapters())
        video_packets = _segment_packets(segments, vstream)
        other_packets = _passthrough_packets(source, plans, t0, t_end if windowed else None)
        for packet in heapq.merge(video_packets, other_packets, key=_packet_time):
            out.mux(packet)
        for plan in plans:
            if plan.mode == "audio":
                for packet in _flush_audio(plan):
                    out.mux(packet)
        out.close()
    except BaseException:
        with contextlib.suppress(Exception):
            out.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        first.close()
        source.close()
    os.replace(tmp, dst)
    return audio, subtitles


def _packet_time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float((ts or 0) * packet.time_base) if packet.time_base else 0.0


def _segment_packets(segments: Sequence[tuple[Path, Fraction]], out_stream: Any) -> Iterator[av.Packet]:
    """Video packets of all segments in order, for remuxing into ``out_stream``.

    ``segments`` holds (file, start): each segment's start in seconds on the output clock. A file's first frame
    is moved to ``start`` (segments are written from pts 0, but containers may read back a constant offset: AVI's
    H.264 delay, Matroska's shift of negative times). Decoding timestamps are recomputed for the whole joined
    stream (containers do not all store them: Matroska keeps none, and each segment's encoder started its own
    B-frame delay): dts = the sorted pts shifted back by the smallest constant that keeps every dts <= its pts,
    which is strictly increasing by construction. Durations come through as the segments stored them (the
    :class:`VideoWriter` gave each packet its display duration; muxers only need the last one).
    """

    def packets(path: Path) -> Iterator[tuple[av.Packet, int, Fraction]]:
        with av.open(str(path)) as seg:
            stream = seg.streams.video[0]
            tb = stream.time_base or Fraction(1, 1000)
            for packet in seg.demux(stream):
                if packet.size and packet.pts is not None:  # skip the demuxer's end-of-stream marker
                    yield packet, packet.pts, tb

    def ticks(seconds: Fraction, tb: Fraction) -> int:
        return math.floor(seconds / tb + Fraction(1, 2))

    decode_order: list[int] = []
    shifts: list[int] = []
    for path, start in segments:
        seg_pts = [(pts, tb) for _, pts, tb in packets(path)]
        if not seg_pts:
            shifts.append(0)
            continue
        tb = seg_pts[0][1]
        shifts.append(ticks(start, tb) - min(p for p, _ in seg_pts))
        decode_order.extend(p + shifts[-1] for p, _ in seg_pts)
    presentation = sorted(decode_order)
    delay = max(0, max((p - d for p, d in zip(presentation, decode_order, strict=True)), default=0))
    i = 0
    for (path, _), shift in zip(segments, shifts, strict=True):
        for packet, pts, _ in packets(path):
            packet.pts = pts + shift
            packet.dts = presentation[i] - delay
            packet.stream = out_stream
            i += 1
            yield packet


def _plan_passthrough(source: Any, out: Any, t0: Fraction, dst: Path) -> list[_Passthrough]:
    """Create an output stream for every audio and subtitle stream of ``source``: a bit-exact copy when the
    output container takes the codec, otherwise audio is re-encoded (AAC, or the container's own audio codec)
    and text subtitles are converted (mov_text in MP4); bitmap subtitles that do not fit are skipped."""
    plans: list[_Passthrough] = []
    supported = out.supported_codecs
    for s in source.streams:
        if s.type == "attachment" and out.format.name in ("matroska", "webm"):
            # Fonts for ASS subtitles and the like: Matroska holds them as-is.
            with contextlib.suppress(ValueError):
                out.add_stream_from_template(s)
                log.info("attachment #%d (%s) copied", s.index, s.metadata.get("filename", "?"))
                continue
        if s.type not in ("audio", "subtitle"):
            if s.type != "video":
                log.warning("not keeping %s stream #%d (%s): not supported here", s.type, s.index, _codec_name(s))
            continue
        name = _codec_name(s)
        plan: _Passthrough | None
        offset = math.floor(t0 / s.time_base + Fraction(1, 2)) if s.time_base else 0
        try:
            if name.startswith("pcm_") and out.format.name in _NO_PCM:
                raise ValueError(f"{out.format.name} does not take PCM audio")
            o = out.add_stream_from_template(s)
            plan = _Passthrough(s.index, o, "copy", offset, description=f"#{s.index} {name} (copied)")
        except ValueError:
            if s.type == "audio":
                plan = _audio_encoder_plan(s, out, supported, offset)
            else:
                plan = _subtitle_encoder_plan(s, out, supported, offset, dst)
            if plan is None:
                continue
        for key in ("language", "title", "handler_name"):
            if key in s.metadata:
                plan.out.metadata[key] = s.metadata[key]
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            plan.out.disposition = s.disposition
        log.info("%s stream %s", s.type, plan.description)
        plans.append(plan)
    return plans


def _audio_encoder_plan(s: Any, out: Any, supported: set[str], offset: int) -> _Passthrough | None:
    if s.codec_context is None:
        log.warning("skipping audio stream #%d: its codec %s cannot be decoded here", s.index, _codec_name(s))
        return None
    codec = av.Codec("aac" if "aac" in supported else out.default_audio_codec, "w")
    dec = s.codec_context
    rates = sorted(codec.audio_rates or ())
    # Opus only runs at 8-48 kHz: take the nearest rate at or above the input's (resampled).
    rate = next((r for r in rates if r >= dec.sample_rate), rates[-1]) if rates else dec.sample_rate
    channels = dec.layout.nb_channels
    o = out.add_stream(codec.name, rate=rate)
    # An unlabelled layout ("2 channels") becomes the usual one for that count (stereo, 5.1, ...).
    named = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
    o.layout = named.get(channels, dec.layout) if dec.layout.name.endswith("channels") else dec.layout
    o.time_base = Fraction(1, rate)
    o.codec_context.time_base = Fraction(1, rate)
    o.bit_rate = 96_000 * min(channels, 2) + 64_000 * max(0, channels - 2)
    o.codec_context.open()  # now frame_size is known, for the resampler
    resampler = av.AudioResampler(
        format=o.codec_context.format.name,
        layout=o.codec_context.layout.name,
        rate=o.codec_context.sample_rate,
        frame_size=o.codec_context.frame_size or None,
    )
    desc = f"#{s.index} {_codec_name(s)} → {o.codec_context.name} (re-encoded: the container cannot hold it)"
    return _Passthrough(s.index, o, "audio", offset, decoder=dec, resampler=resampler, description=desc)


def _subtitle_encoder_plan(s: Any, out: Any, supported: set[str], offset: int, dst: Path) -> _Passthrough | None:
    dec = s.codec_context
    is_text = dec is not None and bool(av.Codec(dec.name, "r").text_sub)
    target = next((c for c in _TEXT_SUBTITLE_TARGETS if c in supported), None)
    if not is_text or target is None:
        log.warning(
            "skipping subtitle stream #%d (%s): %s cannot hold it (a .mkv output keeps it)",
            s.index,
            _codec_name(s),
            dst.suffix or dst.name,
        )
        return None
    o = out.add_stream(target)
    o.time_base = s.time_base
    o.codec_context.time_base = s.time_base
    # Text encoders need the decoder's ASS header (styles), which exists once the decoder is open.
    dec.open(strict=False)
    if dec.subtitle_header is not None:
        o.codec_context.subtitle_header = dec.subtitle_header
    desc = f"#{s.index} {_codec_name(s)} → {target} (converted: the container cannot hold it)"
    return _Passthrough(s.index, o, "subtitle", offset, decoder=dec, description=desc)


def _passthrough_packets(
    source: Any, plans: Sequence[_Passthrough], t0: Fraction, t_end: Fraction | None
) -> Iterator[av.Packet]:
    """Audio and subtitle packets on the output clock (shifted by ``t0``), only those starting in
    [t0, t_end) when a window is given; copied or re-encoded according to each plan."""
    if not plans:
        return
    by_index = {p.index: p for p in plans}
    streams = [source.streams[p.index] for p in plans]
    if t_end is not None and t0 > 0:
        # Any stream, backwards: the demuxer lands at or before t0 for all of them.
        source.seek(max(0, math.floor(t0 * 1_000_000) - 1_000_000), backward=True)
    margin = Fraction(5)  # demuxers interleave loosely; read a little past the window's end
    for packet in source.demux(streams):
        plan = by_index[packet.stream.index]
        if not packet.size or (packet.pts is None and packet.dts is None):
            continue
        tb = packet.time_base
        t = (packet.pts if packet.pts is not None else packet.dts) * tb
        if t_end is not None:
            if t >= t_end + margin:
                break
            if t < t0 or t >= t_end:
                continue
        if plan.mode == "copy":
            if packet.pts is not None:
                packet.pts -= plan.offset
            if packet.dts is not None:
                packet.dts -= plan.offset
            packet.stream = plan.out
            yield packet
        elif plan.mode == "audio":
            for frame in plan.decoder.decode(packet):
                if frame.pts is not None:
                    frame.pts -= plan.offset
                for resampled in plan.resampler.resample(frame):
                    yield from plan.out.encode(resampled)
        else:
            yield from _convert_subtitle(plan, packet)


def _convert_subtitle(plan: _Passthrough, packet: av.Packet) -> Iterator[av.Packet]:
    subs = plan.decoder.decode2(packet)
    if subs is None or not len(subs):
        return
    if packet.pts is None:
        return
    out = plan.out.codec_context.encode_subtitle(subs)
    out.pts = out.dts = packet.pts - plan.offset
    out.duration = packet.duration or (subs.end_display_time - subs.start_display_time)
    out.time_base = packet.time_base
    out.stream = plan.out
    yield out


def _flush_audio(plan: _Passthrough) -> Iterator[av.Packet]:
    for resampled in plan.resampler.resample(None):
        yield from plan.out.encode(resampled)
    yield from plan.out.encode(None)
