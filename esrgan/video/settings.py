"""What a video job is asked to do: :class:`EncodeSettings` (the encoder) inside :class:`VideoSettings` (the job).

Both are frozen and checked once, here. Every field of :class:`VideoSettings` belongs to the resume identity
(:func:`esrgan.video.segments.resume_identity`) unless its metadata says ``identity=False``: a new option is
compared on resume by default, so a resumed run cannot silently mix outputs made with different values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from esrgan.defaults import DEFAULT_PIX_FMT, DEFAULT_SEGMENT_FRAMES

__all__ = ["EncodeSettings", "VideoSettings"]

# Input channels a network may take (frames are RGB; see esrgan.inference.pipeline.run_channels).
CHANNELS = (1, 3, 4)


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder settings. ``codec`` None = libx264, or the container's own default when it cannot hold
    H.264 (WebM: VP9). ``crf``/``preset`` None = this package's default for the encoder (see
    :data:`esrgan.defaults.DEFAULT_CRF`, :data:`esrgan.defaults.DEFAULT_PRESET`), or the encoder's own when it has
    none. :func:`esrgan.video.resolve_encode_settings` checks them against FFmpeg and fills in the defaults."""

    codec: str | None = None
    crf: float | None = None
    preset: str | None = None
    pix_fmt: str = DEFAULT_PIX_FMT


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
    outscale: float | None = None
    channels: int = 3
    encode: EncodeSettings = EncodeSettings()
    start: float | None = None
    duration: float | None = None
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    batch_size: int = field(default=1, metadata=_not_identity())
    resume: bool = field(default=False, metadata=_not_identity())

    def __post_init__(self) -> None:
        if not (isinstance(self.scale, int) and self.scale >= 1):
            raise ValueError(f"scale must be a whole number >= 1, got {self.scale!r}")
        if self.outscale is not None and not (self.outscale > 0 and math.isfinite(self.outscale)):
            raise ValueError(f"outscale must be a positive number, got {self.outscale}")
        if self.channels not in CHANNELS:
            raise ValueError(f"channels must be one of {', '.join(map(str, CHANNELS))}, got {self.channels}")
        if self.start is not None and not (self.start >= 0 and math.isfinite(self.start)):
            raise ValueError(f"start must be >= 0 seconds, got {self.start}")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise ValueError(f"duration must be > 0 seconds, got {self.duration}")
        if self.segment_frames < 1:
            raise ValueError(f"segment_frames must be at least 1, got {self.segment_frames}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
