"""What a media file holds: :func:`probe_video` → :class:`VideoInfo`, and the error type of the video room.

Also the small helpers the reader, the writer and the remux share to open inputs, pick the video stream and
describe FFmpeg errors in one line.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.stream
import av.video.stream

from esrgan.errors import NotFoundError, VideoError

__all__ = ["Colour", "VideoError", "VideoInfo", "probe_video"]

# AVColorSpace → swscale's matrix name (PyAV's Colorspace enum).
SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
SPC_UNSPECIFIED, SPC_BT709, SPC_SMPTE170M = 2, 1, 6
RANGE_UNSPECIFIED, RANGE_MPEG, RANGE_JPEG = 0, 1, 2


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


def open_input(path: Path) -> av.container.InputContainer:
    """Open a media file for reading; a missing file, a folder or a non-media file is a one-line error."""
    if not path.exists():
        raise NotFoundError(f"input video not found: {path}")
    if path.is_dir():
        raise VideoError(f"input is a folder, not a video: {path}")
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable media file ({ffmpeg_reason(exc)})") from exc


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, on one line."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(reason).split())


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first real video stream of ``container`` (``path`` names it in errors); it must be decodable."""
    # Cover art in audio files is a "video" stream holding one picture: not a video.
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        raise VideoError(f"{path}: no video stream (streams: {_stream_kinds(container)})")
    stream = streams[0]
    if stream.codec_context is None:
        raise VideoError(
            f"{path}: the video codec ({codec_name(stream)}) cannot be decoded by the bundled FFmpeg; "
            "convert the file first (e.g. to H.264) with a full FFmpeg"
        )
    return stream


def codec_name(stream: Any) -> str:
    """The codec name of any stream, also when the bundled FFmpeg has no decoder for it ("unknown" at worst)."""
    ctx = stream.codec_context
    if ctx is not None:
        return str(ctx.name)
    # No decoder: PyAV then exposes neither the codec nor its tag.
    return str(getattr(getattr(stream, "codec", None), "name", "unknown"))


def _stream_kinds(container: Any) -> str:
    kinds = [f"{s.type} {codec_name(s)}" for s in container.streams]
    return ", ".join(kinds) if kinds else "none"


def _colour_of(stream: av.video.stream.VideoStream, height: int) -> Colour:
    cc = stream.codec_context
    spc, rng = int(cc.colorspace), int(cc.color_range)
    pix_fmt = cc.pix_fmt or ""
    is_rgb = spc == 0 or pix_fmt.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "rgba", "bgra"))
    if is_rgb:
        matrix = None
    elif spc in SWS_MATRIX:
        matrix = SWS_MATRIX[spc]
    else:
        # Untagged: what players assume (and what the output will then say explicitly).
        spc = SPC_BT709 if height >= 720 else SPC_SMPTE170M
        matrix = SWS_MATRIX[spc]
    if rng == RANGE_UNSPECIFIED and not is_rgb:
        rng = RANGE_JPEG if pix_fmt.startswith("yuvj") else RANGE_MPEG
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
    container = open_input(path)
    try:
        return _probe(container, path)
    finally:
        container.close()


def _probe(container: av.container.InputContainer, path: Path) -> VideoInfo:
    stream = video_stream(container, path)
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
        raise VideoError(f"{path}: cannot decode the video stream ({ffmpeg_reason(exc)})") from exc
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
        audio_codecs=tuple(codec_name(s) for s in container.streams.audio),
        subtitle_codecs=tuple(codec_name(s) for s in container.streams.subtitles),
    )
