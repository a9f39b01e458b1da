"""Decoding: :class:`VideoReader` turns the first video stream of a file into RGB uint8 :class:`Frame` objects
with their timestamps, optionally inside a time window or from a timestamp on (resume)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from esrgan.video.probe import RANGE_UNSPECIFIED, VideoError, ffmpeg_reason, open_input, probe_video, video_stream

__all__ = ["Frame", "VideoReader"]

log = logging.getLogger(__name__)


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
        self._container = open_input(self.path)
        self._stream = video_stream(self._container, self.path)
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

    def _window(self, start: float | None, end: float | None, after_pts: int | None) -> tuple[int, int | None]:
        """(first timestamp kept, timestamp to stop at or None) for :meth:`frames`' and :meth:`frame_pts`' bounds."""
        first = -(2**62)
        if start is not None:
            first = max(first, self.seconds_to_pts(start))
        if after_pts is not None:
            first = max(first, after_pts)
        return first, self.seconds_to_pts(end) if end is not None else None

    def frames(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        after_pts: int | None = None,
        until_pts: int | None = None,
    ) -> Iterator[Frame]:
        """Decode frames in display order.

        Args:
            start: first time to keep, seconds on the stream clock (frames before it are decoded and dropped).
            end: frames at or after this time (seconds) end the iteration.
            after_pts: keep only frames with pts >= this (resume); combined with ``start`` by taking the later.
            until_pts: a frame with pts >= this ends the iteration (one segment of a longer run); the last frame
                kept then lasts until that frame, exactly as in a run that goes on.
        """
        info = self.info
        tb = info.time_base
        first, stop = self._window(start, end, after_pts)
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
        cut: int | None = None  # pts of the frame that ended a segment (until_pts)
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
                if until_pts is not None and pts >= until_pts:
                    cut = pts
                    break
                if pending is not None:
                    yield self._to_frame(pending[0], pending[1], pts - pending[1], reformatter, convert)
                pending = (frame, pts)
            if pending is not None and cut is not None:
                yield self._to_frame(pending[0], pending[1], cut - pending[1], reformatter, convert)
            elif pending is not None:
                last = pending[0].duration or 0
                if stop is not None:
                    last = min(last, stop - pending[1]) if last else stop - pending[1]
                yield self._to_frame(pending[0], pending[1], last or default_duration, reformatter, convert)
        except av.FFmpegError as exc:
            where = f" after {float(pending[1] * tb):.3f} s" if pending is not None else ""
            raise VideoError(f"{self.path}: decoding failed{where} ({ffmpeg_reason(exc)})") from exc

    def frame_pts(
        self, *, start: float | None = None, end: float | None = None, after_pts: int | None = None
    ) -> list[int] | None:
        """The timestamps of the frames :meth:`frames` would yield with these arguments, in display order, read
        from the packets without decoding (a pass over the file at disk speed).

        Returns None when the stream has packets without timestamps (only decoding can number those frames).
        A packet the decoder would drop (flagged as discarded by the demuxer) is left out; should a decoder
        still drop others, the timestamps remain valid places to cut the stream at (see
        :mod:`esrgan.video.split`), only the frame counts between them would be off.
        """
        first, stop = self._window(start, end, after_pts)
        if self._used:
            self._container.seek(0, backward=True)
        self._used = True
        stamps: set[int] = set()
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:  # the demuxer's final empty packet
                    continue
                if packet.pts is None:
                    return None
                if not packet.is_discard and packet.pts >= first and (stop is None or packet.pts < stop):
                    stamps.add(int(packet.pts))
        except av.FFmpegError as exc:
            raise VideoError(f"{self.path}: reading failed ({ffmpeg_reason(exc)})") from exc
        return sorted(stamps)

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
        if self.info.colour.matrix is not None and int(frame.color_range) == RANGE_UNSPECIFIED:
            kwargs = {**convert, "src_color_range": self.info.colour.color_range}
        rgb = reformatter.reformat(frame, **kwargs).to_ndarray()
        return Frame(np.ascontiguousarray(rgb), int(pts), int(duration))
