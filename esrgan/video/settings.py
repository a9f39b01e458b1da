"""What a video job is asked to do: :class:`EncodeSettings` (the encoder) inside :class:`VideoSettings` (the job).

Both are frozen and checked once, here. Every field of :class:`VideoSettings` belongs to the resume identity
(:func:`esrgan.video.segments.resume_identity`) unless its metadata says ``identity=False``: a new option is
compared on resume by default, so a resumed run cannot silently mix outputs made with different values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated

from esrgan.defaults import DEFAULT_PIX_FMT, DEFAULT_SEGMENT_FRAMES
from esrgan.errors import OptionsError
from esrgan.options import Range

__all__ = ["EncodeSettings", "VideoSettings"]

# Input channels a network may take (frames are RGB; see esrgan.inference.pipeline.run_channels).
CHANNELS = (1, 3, 4)
# Ranges of the numbers (the command-line flags take their types from these declarations).
CRF = Range(0, 63)  # the widest range of the bundled encoders (VP9, AV1); x264/x265 take 0..51 (checked by FFmpeg)
OUTSCALE = Range(0, 32, lo_open=True)
SEGMENT_FRAMES = Range(1, 2**31 - 1)
BATCH_SIZE = Range(1, 256)


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder settings. ``codec`` None = libx264, or the container's own default when it cannot hold
    H.264 (WebM: VP9). ``crf``/``preset`` None = this package's default for the encoder (see
    :data:`esrgan.defaults.DEFAULT_CRF`, :data:`esrgan.defaults.DEFAULT_PRESET`), or the encoder's own when it has
    none. :func:`esrgan.video.resolve_encode_settings` checks them against FFmpeg and fills in the defaults."""

    codec: str | None = None
    crf: Annotated[float, CRF] | None = None
    preset: str | None = None
    pix_fmt: str = DEFAULT_PIX_FMT

    def __post_init__(self) -> None:
        if self.crf is not None:
            CRF.check(self.crf, "crf")


def _not_identity() -> dict[str, bool]:
    return {"identity": False}


@dataclass(frozen=True)
class VideoSettings:
    """One upscale job (:func:`esrgan.video.upscale_video`), apart from the files and the network.

    Args:
        scale: the factor the ``upscale`` callable applies.
        outscale: final size factor relative to the input (the network's output is resized as an image's would
            be, see :func:`esrgan.video.frames.frame_size`); None = ``scale``.
        channels: input channels the ``upscale`` callable takes (1, 3 or 4): RGB frames are mapped onto them as
            images are (:func:`esrgan.inference.pipeline.run_channels`).
        encode: video encoder settings (checked against the output's container when the job starts).
        start, duration: seconds; process only this window (audio and subtitles are cut to it and shifted with
            the video, so they stay in sync).
        segment_frames: frames per resumable segment.
        batch_size: frames per ``upscale`` call (never spanning two segments). Not part of the resume identity.
        resume: continue from the segments already in ``OUTPUT.parts/`` if their manifest matches this job;
            otherwise a leftover parts folder is replaced. Not part of the resume identity.
    """

    scale: int
    outscale: Annotated[float, OUTSCALE] | None = None
    channels: int = 3
    encode: EncodeSettings = EncodeSettings()
    start: float | None = None
    duration: float | None = None
    segment_frames: Annotated[int, SEGMENT_FRAMES] = DEFAULT_SEGMENT_FRAMES
    batch_size: Annotated[int, BATCH_SIZE] = field(default=1, metadata=_not_identity())
    resume: bool = field(default=False, metadata=_not_identity())

    def __post_init__(self) -> None:
        if not (isinstance(self.scale, int) and self.scale >= 1):
            raise OptionsError(f"scale must be a whole number >= 1, got {self.scale!r}")
        if self.outscale is not None:
            OUTSCALE.check(self.outscale, "outscale")
        if self.channels not in CHANNELS:
            raise OptionsError(f"channels must be one of {', '.join(map(str, CHANNELS))}, got {self.channels}")
        if self.start is not None and not (self.start >= 0 and math.isfinite(self.start)):
            raise OptionsError(f"start must be >= 0 seconds, got {self.start}")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise OptionsError(f"duration must be > 0 seconds, got {self.duration}")
        SEGMENT_FRAMES.check(self.segment_frames, "segment_frames")
        BATCH_SIZE.check(self.batch_size, "batch_size")
