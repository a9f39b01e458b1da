"""Encoding: the encoder settings checked against the bundled FFmpeg (:func:`resolve_encode_settings`), and
:class:`VideoWriter`, which encodes RGB uint8 frames at given timestamps into a new video-only file."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.video.stream
import numpy as np
from av.video.reformatter import VideoReformatter

from esrgan.defaults import DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET
from esrgan.video.probe import RANGE_JPEG, RANGE_MPEG, SPC_BT709, Colour, VideoError, ffmpeg_reason
from esrgan.video.settings import EncodeSettings

__all__ = ["VideoWriter", "available_video_encoders", "output_format", "resolve_encode_settings"]

# Containers that take MP4's "moov up front" flag, so playback can start before the whole file is read.
MOV_FAMILY = {"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv"}
_DEFAULTS = EncodeSettings()
# Listed first when an encoder name is unknown (the rest are image formats, legacy and hardware encoders).
_USUAL_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libx264rgb", "ffv1", "prores_ks", "mpeg4")


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
            f"{dst}: the {fmt} container cannot hold {codec.name}; choose another codec or extension "
            "(.mkv holds almost anything)"
        )
    formats = [f.name for f in (codec.video_formats or ())]
    if formats and settings.pix_fmt not in formats:
        raise VideoError(f"encoder {codec.name} cannot take pix_fmt={settings.pix_fmt}; it takes: {', '.join(formats)}")
    try:
        ctx = av.CodecContext.create(codec.name, "w")
        private = {o.name for o in ctx.supported_options.private}
    except av.FFmpegError as exc:
        raise VideoError(f"encoder {codec.name} cannot be used here ({ffmpeg_reason(exc)})") from exc
    crf = settings.crf if settings.crf is not None else DEFAULT_CRF.get(codec.name)
    if crf is not None and float(crf).is_integer():
        crf = int(crf)  # 18, not 18.0, in messages and manifests
    preset = settings.preset if settings.preset is not None else DEFAULT_PRESET.get(codec.name)
    if crf is not None and "crf" not in private:
        if settings.crf is not None:
            raise VideoError(f"encoder {codec.name} has no constant-quality setting (crf={settings.crf:g})")
        crf = None
    if preset is not None and "preset" not in private:
        if settings.preset is not None:
            raise VideoError(f"encoder {codec.name} has no preset setting (preset={settings.preset})")
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
        given = ", ".join(f"{k}={v}" for k, v in opts.items()) or "its defaults"
        x26x = settings.codec in ("libx264", "libx264rgb", "libx265")
        hints = []
        if "crf" in opts:
            low, high = (0, 51) if x26x else (private["crf"].min, private["crf"].max)
            hints.append(f"crf={low:g}..{high:g}")
        if "preset" in opts:
            hints.append(
                "preset=ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow"
                if x26x
                else "preset: see the encoder's documentation"
            )
        hint = f"; valid: {'; '.join(hints)}" if hints else ""
        raise VideoError(f"encoder {settings.codec} refused {given} ({ffmpeg_reason(exc)}){hint}") from exc


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
        settings: EncodeSettings = _DEFAULTS,
        colour: Colour | None = None,
        display_matrix: Sequence[int] | None = None,
        sample_aspect_ratio: Fraction | None = None,
        faststart: bool = False,
        fmt: str | None = None,
    ) -> None:
        self.path = Path(path)
        settings = resolve_encode_settings(settings, self.path)  # idempotent: fills defaults, checks the rest
        fmt = fmt or output_format(self.path)
        options = {"movflags": "+faststart"} if faststart and fmt in MOV_FAMILY else {}
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
            colour = colour or Colour(SPC_BT709, RANGE_MPEG, 0, 0, "ITU709")
            is_rgb_out = av.VideoFormat(settings.pix_fmt).is_rgb
            self._convert: dict[str, Any] = {"format": settings.pix_fmt}
            if not is_rgb_out:
                matrix = colour.matrix or "ITU709"
                spc = colour.colorspace if colour.matrix else SPC_BT709
                rng = RANGE_JPEG if settings.pix_fmt.startswith("yuvj") else RANGE_MPEG
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
