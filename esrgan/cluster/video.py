"""A video on several workers: its resumable segments are the unit of work (:func:`upscale_video_on`).

The driver plans the job as a local run does (paths, probe, the parts folder and its resume manifest), cuts the
frames still to do into ranges of ``segment_frames`` frames (:mod:`esrgan.video.split`), and streams them to the
workers. Each worker decodes its range from the input file, upscales and encodes it exactly as a local run would,
and returns the encoded segment; the driver stages it in the parts folder and commits segments in order. At the
end the driver joins them and muxes the audio and subtitles (:func:`esrgan.video.pipeline.finish_job`). The parts
folder is the same as a local run's, so either kind of run resumes the other.

Workers read the input by its path (decoding a range needs random access to the file): on a cluster it must be
on storage every machine sees at the same path. Outputs are written by the driver only.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from esrgan.cluster.engine import EngineSpec
from esrgan.cluster.scheduler import Scheduler
from esrgan.cluster.worker import replay
from esrgan.video import ProgressFn, VideoError, VideoResult, VideoSettings
from esrgan.video.pipeline import VideoJob, finish_job, plan_job, render_segment
from esrgan.video.segments import Manifest, Segment, keep_or_drop_parts
from esrgan.video.split import InOrderCommits, SegmentRange, range_job, segment_ranges

__all__ = ["SegmentJob", "upscale_video_on"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentJob:
    """The worker's side: an engine built once (:class:`~esrgan.cluster.engine.EngineSpec`), then one
    segment per item, the item being ``(VideoJob, SegmentRange)``."""

    engine: EngineSpec

    def start(self, device: str) -> _SegmentRunner:
        return _SegmentRunner(self.engine.build(device))


@dataclass
class MadeSegment:
    """A worker's result: the encoded segment file's bytes and its :class:`Segment` (both None for a range that
    held no frame), and the seconds the network took."""

    data: bytes | None
    segment: Segment | None
    network_seconds: float


class _SegmentRunner:
    def __init__(self, upscaler: Any) -> None:
        self.upscaler = upscaler
        self.settings: dict[str, Any] = upscaler.resolved_settings()

    def __call__(self, payload: tuple[VideoJob, SegmentRange], progress: Callable[[int], None]) -> MadeSegment:
        job, rng = payload
        _check_same_input(job)
        with tempfile.TemporaryDirectory(prefix="esrgan-segment-") as tmp:
            made = render_segment(range_job(job, rng), self.upscaler, Path(tmp), lambda done, _: progress(done))
            if made is None:
                return MadeSegment(None, None, 0.0)
            path, segment, network_s = made
            return MadeSegment(path.read_bytes(), segment, network_s)


def _check_same_input(job: VideoJob) -> None:
    """The input this worker sees is the driver's (same size and modification time), else a one-line error."""
    try:
        st = os.stat(job.src)
    except OSError as exc:
        raise VideoError(
            f"{job.src}: not readable where a worker runs ({exc.strerror}); inputs must be on storage every "
            "machine sees at the same path"
        ) from None
    expected = job.manifest.input
    if (st.st_size, st.st_mtime_ns) != (expected.get("size"), expected.get("mtime_ns")):
        raise VideoError(f"{job.src}: a worker sees another file at this path (size or modification time differ)")


def upscale_video_on(
    scheduler: Scheduler,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    settings: VideoSettings,
    *,
    model: str,
    progress: ProgressFn | None = None,
) -> VideoResult:
    """Upscale ``src`` into ``dst`` on ``scheduler``'s workers (started, each with a :class:`SegmentJob`).

    Args:
        scheduler: started; its workers agree on the engine's settings, which join the resume identity.
        src, dst, settings: as for :func:`esrgan.video.upscale_video` (``batch_size`` applies per worker).
        model: the model's identity for the resume manifest (its hash), as the local command passes it.
        progress: ``progress(frames_done, frames_total)`` as segments are made (frames of unfinished segments
            included as the workers report them).

    Raises:
        FileNotFoundError, VideoError: as :func:`esrgan.video.upscale_video`; a worker's own failure on a
            segment stops the run (the segments committed so far are kept for a resume).
    """
    started = time.perf_counter()
    engine = {"model": model, **scheduler.stats[0].info.settings}
    job = plan_job(src, dst, settings, engine)
    try:
        ranges = segment_ranges(job)
        total = job.resumed_frames + sum(r.frames for r in ranges)
        # What travels with each item: the job without its (growing) manifest, the input's identity kept.
        sent = replace(job, manifest=Manifest(input=job.manifest.input, settings={}))
        commits = InOrderCommits(job, first=ranges[0].index if ranges else 0)
        done_frames = job.resumed_frames
        network_s = 0.0
        if progress is not None:
            progress(done_frames, total)
        # Frames of the segments in flight move the bar too (workers report them as they go).
        tick = (lambda partial: progress(done_frames + partial, total)) if progress is not None else None
        for done in scheduler.run(((r.index, (sent, r)) for r in ranges), on_tick=tick):
            replay(done.records)
            if done.error is not None:
                raise done.error
            made: MadeSegment = done.value
            commits.add(done.index, made.data, made.segment)
            network_s += made.network_seconds
            done_frames += made.segment.frames if made.segment is not None else 0
            if progress is not None:
                progress(done_frames + scheduler.partial_units, total)
    except BaseException:
        keep_or_drop_parts(job.parts, job.manifest)
        raise
    return finish_job(job, started=started, network_seconds=network_s, decode_seconds=0.0, encode_seconds=0.0)
