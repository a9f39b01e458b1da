"""The whole job, :func:`upscale_video`: decode → upscale → encode in three threads, then the remux.

The network thread is the caller's: it batches decoded frames, maps them onto the network's channels, calls
``upscale`` and brings the result to the output frame size exactly as images are treated
(:mod:`esrgan.inference.pipeline`). A decoder thread feeds it and an encoder thread writes its output into
resumable segments (:mod:`esrgan.video.segments`); bounded queues keep memory flat. At the end the segments and
the input's audio and subtitles are remuxed into the output (:mod:`esrgan.video.remux`).

Any callable works as ``upscale``: this module never imports the engine.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import torch

from esrgan.errors import NotFoundError
from esrgan.inference.pipeline import run_channels
from esrgan.video.frames import fit_frames, frame_size, frames_to_tensor, tensor_to_frames
from esrgan.video.probe import VideoError, VideoInfo, ffmpeg_reason, probe_video
from esrgan.video.reader import Frame, VideoReader
from esrgan.video.remux import assemble
from esrgan.video.segments import (
    MANIFEST,
    Manifest,
    Segment,
    commit_segment,
    keep_or_drop_parts,
    open_parts,
    parts_folder,
    resume_identity,
)
from esrgan.video.settings import VideoSettings
from esrgan.video.threads import END, Pipe, StoppedError, Worker
from esrgan.video.writer import VideoWriter, output_format, resolve_encode_settings

__all__ = [
    "ProgressFn",
    "VideoJob",
    "VideoResult",
    "check_paths",
    "finish_job",
    "plan_job",
    "render_segment",
    "upscale_video",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total)``; the total is None when the container does not state it."""


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

    Raises NotFoundError (missing input or output folder) or VideoError (output equals input, or is a folder).
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise NotFoundError(f"input video not found: {src}")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise NotFoundError(f"output folder does not exist: {parent} (create it first)")
    if dst.is_dir():
        raise VideoError(f"output is a folder: {dst}; give a file name such as {dst / (src.stem + '_up.mp4')}")
    if src.resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise VideoError(f"output {dst} is the input file; choose another output path")
    return src, dst


def upscale_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    upscale: Callable[[torch.Tensor], torch.Tensor],
    settings: VideoSettings,
    *,
    engine: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    on_segment: Callable[[int], None] | None = None,
) -> VideoResult:
    """Upscale every frame of ``src`` into ``dst``, keeping timing, rotation, audio and subtitles.

    Args:
        src: input video (anything the bundled FFmpeg demuxes and decodes).
        dst: output file; its extension picks the container. Written to a temporary file beside it and renamed
            at the end, so an interrupted run never leaves a half-written ``dst``.
        upscale: maps (B, C, H, W) float RGB in [0, 1] to (B, C_out, H*scale, W*scale) float RGB in [0, 1], with
            C = ``settings.channels`` (an :class:`esrgan.inference.Upscaler`, or any function).
        settings: the job: scale, outscale, encoder, time window, segments, batch size, resume.
        engine: what defines ``upscale``'s output (JSON values: model hash, precision and backend as resolved,
            compile, tiling, ...; see :meth:`esrgan.inference.Upscaler.resolved_settings`): part of the resume
            identity (:func:`esrgan.video.segments.resume_identity`), so a resumed run never mixes engines.
        progress: ``progress(frames_done, frames_total_or_None)`` after each batch (from this thread).
        on_segment: called with the segment index after each segment is safely on disk (from the encoder
            thread); an exception raised there interrupts the run like Ctrl-C would.

    Raises:
        FileNotFoundError, VideoError: bad paths, files or settings (one-line messages).
    """
    t_begin = time.perf_counter()
    job = plan_job(src, dst, settings, engine or {})
    network_s, decode_s, encode_s = _stream(job, upscale, progress, on_segment)
    return finish_job(job, started=t_begin, network_seconds=network_s, decode_seconds=decode_s, encode_seconds=encode_s)


def finish_job(
    job: VideoJob, *, started: float, network_seconds: float, decode_seconds: float, encode_seconds: float
) -> VideoResult:
    """After the last segment is committed: the remux into the output (audio, subtitles), then the parts folder
    is removed. ``started`` is the job's ``time.perf_counter()`` at its start; the seconds are reported as given.

    Raises:
        VideoError: no frames were made, or writing the output failed (the segments are kept for a resume).
    """
    if not job.manifest.segments:
        shutil.rmtree(job.parts, ignore_errors=True)
        raise VideoError(f"{job.src}: no video frames in the requested range")
    t_assemble = time.perf_counter()
    try:
        audio, subtitles = assemble(job.src, job.dst, job.parts, job.manifest, job.info, job.fmt, job.windowed)
    except av.FFmpegError as exc:
        raise VideoError(
            f"{job.dst}: writing the output failed ({ffmpeg_reason(exc)}); the upscaled video is kept in "
            f"{job.parts}, run again with resume=True to retry"
        ) from exc
    shutil.rmtree(job.parts, ignore_errors=True)
    t_end = time.perf_counter()
    return VideoResult(
        output=job.dst,
        width=job.size[0],
        height=job.size[1],
        frames=job.manifest.frames_done,
        resumed_frames=job.resumed_frames,
        seconds=t_end - started,
        network_seconds=network_seconds,
        decode_seconds=decode_seconds,
        encode_seconds=encode_seconds,
        assemble_seconds=t_end - t_assemble,
        audio=tuple(audio),
        subtitles=tuple(subtitles),
    )


def render_segment(
    job: VideoJob,
    upscale: Callable[[torch.Tensor], torch.Tensor],
    folder: Path,
    progress: ProgressFn | None = None,
) -> tuple[Path, Segment, float] | None:
    """Make the frames of ``job`` from ``job.first_pts`` to ``job.until_pts`` into one segment file in the empty
    folder ``folder``, as :func:`upscale_video` would make them (the same decode, network calls and encoder).

    This is one segment of a job cut up by :mod:`esrgan.video.split`; ``job``'s own parts folder and manifest
    are not touched. ``progress(frames_done, None)`` counts this segment's frames.

    Returns:
        (the segment file, its :class:`Segment`, seconds inside ``upscale``), or None when the range holds no
        frame.
    """
    local = replace(
        job,
        parts=folder,
        manifest=Manifest(input={}, settings={}),
        # One segment however many frames the range holds.
        settings=replace(job.settings, segment_frames=2**31 - 1, resume=False),
        resumed_frames=0,
        total=None,
    )
    network_s, _, _ = _stream(local, upscale, progress, None)
    if not local.manifest.segments:
        return None
    segment = local.manifest.segments[0]
    return folder / segment.file, segment, network_s


@dataclass
class VideoJob:
    """One run's facts, worked out before the first frame (:func:`plan_job`). ``settings.encode`` is resolved;
    ``size`` is the output frame (width, height); ``start``/``end`` the window on the stream clock (seconds, None =
    open). ``first_pts``/``until_pts`` narrow a job to the frames of one segment made on its own
    (:mod:`esrgan.video.split`); None: from the last committed segment on, to the end."""

    src: Path
    dst: Path
    info: VideoInfo
    settings: VideoSettings
    fmt: str
    size: tuple[int, int]
    parts: Path
    manifest: Manifest
    resumed_frames: int
    start: float | None
    end: float | None
    total: int | None
    first_pts: int | None = None
    until_pts: int | None = None

    @property
    def windowed(self) -> bool:
        return self.settings.start is not None or self.settings.duration is not None


def plan_job(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], settings: VideoSettings, engine: Mapping[str, Any]
) -> VideoJob:
    """Check paths and settings, probe the input and open the parts folder (resuming it when asked and valid).

    Raises:
        FileNotFoundError, VideoError: bad paths, input or settings; a resume that does not match.
    """
    src, dst = check_paths(src, dst)
    info = probe_video(src)
    settings = replace(settings, encode=resolve_encode_settings(settings.encode, dst))
    parts = parts_folder(dst)
    if settings.resume and dst.exists() and not (parts / MANIFEST).exists():
        # The earlier run finished (its work folder is gone): resuming would silently redo it all and replace it.
        raise VideoError(
            f"{dst} already exists and there is nothing to resume (no {parts.name}): that run finished; delete "
            "the output or choose another one to make it again"
        )
    manifest = open_parts(parts, src, resume_identity(settings, engine), settings.resume)
    if manifest.frames_done:
        log.info(
            "resuming %s: %d frames in %d segments already done", dst, manifest.frames_done, len(manifest.segments)
        )
    start, duration = settings.start, settings.duration
    job = VideoJob(
        src=src,
        dst=dst,
        info=info,
        settings=settings,
        fmt=output_format(dst),
        size=frame_size(info.width, info.height, settings.scale, settings.outscale),
        parts=parts,
        manifest=manifest,
        resumed_frames=manifest.frames_done,
        start=info.start_time + start if start is not None else None,
        end=info.start_time + (start or 0.0) + duration if duration is not None else None,
        total=_expected_frames(info, start, duration),
    )
    if manifest.pts_offset is None and not job.windowed:
        # Whole files keep their timestamps; only a container that starts late is moved to 0 (as ffmpeg does).
        manifest.pts_offset = max(0, math.floor(Fraction(info.container_start_time) / info.time_base))
    return job


def _expected_frames(info: VideoInfo, start: float | None, duration: float | None) -> int | None:
    if start is None and duration is None:
        return info.num_frames
    if info.duration is None and duration is None:
        return None
    span = info.duration - (start or 0.0) if info.duration is not None else float("inf")
    if duration is not None:
        span = min(span, duration)
    return max(0, math.ceil(span * info.frame_rate - 1e-6))


class _Timed:
    """``upscale`` with the time spent inside it added up (the network's share of the wall time)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn
        self.seconds = 0.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        try:
            return self.fn(x)
        finally:
            self.seconds += time.perf_counter() - t0


@dataclass
class _Batch:
    images: torch.Tensor  # (B, 3, h, w) float in [0, 1], output frames
    stamps: list[tuple[int, int]]  # (input pts, display duration) per frame


@dataclass
class _SegmentEnd:
    segment: Segment


def _stream(
    job: VideoJob,
    upscale: Callable[[torch.Tensor], torch.Tensor],
    progress: ProgressFn | None,
    on_segment: Callable[[int], None] | None,
) -> tuple[float, float, float]:
    """Run the three threads until every frame is in a committed segment.

    On any failure (Ctrl-C included) all threads stop, the finished segments are kept for a resumed run, and
    the error that started it is raised (a worker's own, not the "stopped" of the threads it tore down).

    Returns:
        Seconds inside ``upscale``, and busy seconds of the decoder and of the encoder.
    """
    stop = threading.Event()
    frames_q = Pipe(max(4, 2 * job.settings.batch_size), stop)
    # Two outputs in flight at most: at 4K those are 100 MB each (float32).
    batches_q = Pipe(2, stop)
    network = _Timed(upscale)
    after_pts = job.manifest.segments[-1].end_pts if job.manifest.segments else job.first_pts
    with VideoReader(job.src) as reader:
        frames = reader.frames(start=job.start, end=job.end, after_pts=after_pts, until_pts=job.until_pts)
        decoder = Worker("esrgan-video-decode", lambda w: _decode_loop(frames, frames_q, w), stop)
        encoder = Worker("esrgan-video-encode", lambda w: _encode_loop(batches_q, job, on_segment, w), stop)
        workers = (decoder, encoder)
        for worker in workers:
            worker.start()
        try:
            _upscale_loop(frames_q, batches_q, network, job, progress)
            batches_q.put(END)
            encoder.join()
            for worker in workers:
                if worker.error is not None:
                    raise worker.error
        except BaseException as exc:
            _stop_all(stop, workers)
            keep_or_drop_parts(job.parts, job.manifest)
            cause = next((w.error for w in workers if w.error is not None), None)
            if isinstance(exc, StoppedError) and cause is not None:
                raise cause from None  # a worker's failure stopped this thread: surface the real cause
            raise
        finally:
            _stop_all(stop, workers)
    return network.seconds, decoder.busy, encoder.busy


def _stop_all(stop: threading.Event, workers: tuple[Worker, ...]) -> None:
    stop.set()
    for worker in workers:
        worker.join()


def _decode_loop(frames: Iterator[Frame], frames_q: Pipe, worker: Worker) -> None:
    """Decoder thread: every frame into ``frames_q``, then :data:`END`."""
    while True:
        t0 = time.perf_counter()
        item = next(frames, END)
        worker.busy += time.perf_counter() - t0
        frames_q.put(item)
        if item is END:
            return


def _upscale_loop(
    frames_q: Pipe,
    batches_q: Pipe,
    upscale: Callable[[torch.Tensor], torch.Tensor],
    job: VideoJob,
    progress: ProgressFn | None,
) -> None:
    """Network thread (the caller's): batches of frames → output frames for the encoder, with a segment end
    after every ``segment_frames`` frames (a batch never spans two segments) and after the last frame."""
    settings = job.settings
    done = job.manifest.frames_done
    segment_index = len(job.manifest.segments)
    in_segment: list[tuple[int, int]] = []
    if progress is not None:
        progress(done, job.total)
    finished = False
    while not finished:
        batch: list[Frame] = []
        room = min(settings.batch_size, settings.segment_frames - len(in_segment))
        while len(batch) < room:
            item = frames_q.get()
            if item is END:
                finished = True
                break
            batch.append(item)
        if batch:
            x = frames_to_tensor([f.rgb for f in batch])
            # As for an image: channels mapped onto the network's, outscale resize (esrgan.inference.pipeline).
            # The resize runs here, not in the encoder thread, where torch ops would fight the network for its
            # thread pool. Its cost with -s, 1 thread, a loaded 2-core machine: 14 ms to shrink 1280x720 to
            # 640x360, 91 ms to grow it to 1920x1080 (cv2's AREA / LANCZOS4, used before: 12 / 78 ms).
            y = fit_frames(run_channels(upscale, x, settings.channels), job.size)
            stamps = [(f.pts, f.duration) for f in batch]
            batches_q.put(_Batch(y, stamps))
            in_segment.extend(stamps)
            done += len(batch)
            if progress is not None:
                progress(done, job.total)
        if in_segment and (len(in_segment) >= settings.segment_frames or finished):
            first, (last, last_duration) = in_segment[0][0], in_segment[-1]
            segment = Segment(f"{segment_index:05d}", len(in_segment), first, last + last_duration)
            batches_q.put(_SegmentEnd(segment))
            segment_index += 1
            in_segment = []


def _encode_loop(batches_q: Pipe, job: VideoJob, on_segment: Callable[[int], None] | None, worker: Worker) -> None:
    """Encoder thread: quantises output frames, encodes them into the current segment file, and commits each
    segment when its end arrives (the file is renamed into place, then the manifest saved)."""
    manifest = job.manifest
    writer: VideoWriter | None = None
    seg_first = 0
    try:
        while True:
            item = batches_q.get()
            t0 = time.perf_counter()
            if item is END:
                break
            if isinstance(item, _Batch):
                for rgb, (pts, duration) in zip(tensor_to_frames(item.images), item.stamps, strict=True):
                    if manifest.pts_offset is None:
                        # A window's output time starts at its first frame (and its audio is shifted alike).
                        manifest.pts_offset = pts
                    if writer is None:
                        # Each segment starts at pts 0: MP4 stores a later start as an edit list in the movie
                        # time scale (1/1000 s), which would round it; the offset is added back when joining.
                        seg_first, writer = pts, _segment_writer(job, len(manifest.segments))
                    writer.write(rgb, pts - seg_first, duration)
                worker.busy += time.perf_counter() - t0
                continue
            assert writer is not None and isinstance(item, _SegmentEnd)
            writer.close()
            commit_segment(job.parts, manifest, writer.path, item.segment)
            writer = None
            worker.busy += time.perf_counter() - t0
            if on_segment is not None:
                on_segment(len(manifest.segments) - 1)
    finally:
        if writer is not None:
            writer.abort()


def _segment_writer(job: VideoJob, index: int) -> VideoWriter:
    info = job.info
    return VideoWriter(
        job.parts / f"{index:05d}.tmp{job.dst.suffix}",
        width=job.size[0],
        height=job.size[1],
        time_base=info.time_base,
        frame_rate=info.frame_rate,
        settings=job.settings.encode,
        colour=info.colour,
        display_matrix=info.display_matrix,
        sample_aspect_ratio=info.sample_aspect_ratio,
        fmt=job.fmt,
    )
