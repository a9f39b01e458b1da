"""A job cut into segments that can be made independently (by other threads, processes or machines) and joined
as if one run had made them.

:func:`segment_ranges` cuts the frames still to do at every ``segment_frames``-th frame, reading timestamps from
the packets (no decoding). :func:`esrgan.video.pipeline.render_segment` makes one range into one segment file,
wherever it runs. :class:`InOrderCommits` takes finished segments in any order and commits them to the parts
folder in order (the manifest only ever lists a gap-free run from the first frame, exactly what a local run
leaves), so ``resume`` works the same whether a local run or a split one made the parts, and the remux
(:func:`esrgan.video.pipeline.finish_job`) joins them as usual.

A range is [first_pts, until_pts): every decoded frame belongs to exactly one range by its timestamp, and the
last frame of a range lasts until the first frame of the next, so the joined video has the timestamps and
durations of one uninterrupted run. Each range's decoder seeks to the keyframe at or before the range's start
and decodes (and drops) the frames before it: up to one group of pictures of extra decoding per segment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from esrgan.fileio import write_bytes_atomic
from esrgan.video.pipeline import VideoJob
from esrgan.video.reader import VideoReader
from esrgan.video.segments import Segment, commit_segment

__all__ = ["InOrderCommits", "SegmentRange", "range_job", "segment_ranges"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentRange:
    """Frames with ``first_pts`` <= pts < ``until_pts`` of a job (None: from where the job stands, to its end);
    ``index`` orders the ranges; ``frames`` is the count the packets promise (for progress)."""

    index: int
    first_pts: int | None
    until_pts: int | None
    frames: int


def segment_ranges(job: VideoJob) -> list[SegmentRange]:
    """The frames ``job`` still has to make, cut every ``job.settings.segment_frames`` frames.

    A stream whose packets lack timestamps cannot be cut without decoding it: it becomes one range.
    """
    after = job.manifest.segments[-1].end_pts if job.manifest.segments else None
    with VideoReader(job.src) as reader:
        stamps = reader.frame_pts(start=job.start, end=job.end, after_pts=after)
    if stamps is None:
        log.warning("%s: packets without timestamps; the video is made as one segment by one worker", job.src)
        return [SegmentRange(0, after, None, job.total or 0)]
    step = job.settings.segment_frames
    starts = stamps[::step]
    ranges = []
    for i, first in enumerate(starts):
        until = starts[i + 1] if i + 1 < len(starts) else None
        count = min(step, len(stamps) - i * step)
        # The first range starts where the job stands (its true first frame may precede the first packet stamp).
        ranges.append(SegmentRange(i, after if i == 0 else first, until, count))
    return ranges


def range_job(job: VideoJob, rng: SegmentRange) -> VideoJob:
    """``job`` narrowed to the frames of ``rng`` (for :func:`esrgan.video.pipeline.render_segment`)."""
    return replace(job, first_pts=rng.first_pts, until_pts=rng.until_pts)


class InOrderCommits:
    """Finished segments in, committed segments out, in range order.

    :meth:`add` writes a finished segment's bytes into the parts folder under a name the manifest does not know
    (a stray that a resume deletes, if the run stops before its turn), then commits every segment whose
    predecessors are all committed: renamed to its final name and listed in the manifest, which is saved
    atomically (:func:`esrgan.video.segments.commit_segment`). ``first`` is the index of the first range.
    """

    def __init__(self, job: VideoJob, first: int = 0) -> None:
        self.job = job
        self._next = first
        self._ready: dict[int, tuple[Path, Segment] | None] = {}

    def add(self, index: int, data: bytes | None, segment: Segment | None) -> list[Segment]:
        """Segment ``index`` is done (``data`` None: its range held no frame). Returns the segments committed now.

        Raises:
            ValueError: ``index`` was added already.
        """
        if index < self._next or index in self._ready:
            raise ValueError(f"segment {index} was added already")
        if data is None or segment is None:
            self._ready[index] = None
        else:
            staged = self.job.parts / f".{index:05d}.ready{self.job.dst.suffix}"
            write_bytes_atomic(staged, data)
            self._ready[index] = (staged, segment)
        committed: list[Segment] = []
        while self._next in self._ready:
            entry = self._ready.pop(self._next)
            self._next += 1
            if entry is not None:
                committed.append(self._commit(*entry))
        return committed

    def _commit(self, staged: Path, segment: Segment) -> Segment:
        manifest = self.job.manifest
        if manifest.pts_offset is None:
            # As the local encoder does: a window's output time starts at its first frame.
            manifest.pts_offset = segment.first_pts
        named = Segment(f"{len(manifest.segments):05d}", segment.frames, segment.first_pts, segment.end_pts)
        return commit_segment(self.job.parts, manifest, staged, named)

    @property
    def waiting(self) -> int:
        """Finished segments waiting for an earlier one."""
        return len(self._ready)
