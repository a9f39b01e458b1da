"""esrgan.video.split: a job cut into segments made separately, in any order, equals one uninterrupted run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esrgan.video import VideoSettings, upscale_video
from esrgan.video.pipeline import VideoJob, finish_job, plan_job, render_segment
from esrgan.video.reader import VideoReader
from esrgan.video.segments import Manifest
from esrgan.video.split import InOrderCommits, SegmentRange, range_job, segment_ranges
from tests.video.media import SimulatedInterruptError, audio_packets, decode, nearest_x2, stop_after


def split_run(src: Path, dst: Path, settings: VideoSettings, tmp: Path, *, order: str = "reversed") -> int:
    """Plan, render every range on its own (in reverse order), commit in order, finish. Returns the range count."""
    job = plan_job(src, dst, settings, {})
    ranges = segment_ranges(job)
    commits = InOrderCommits(job)
    for rng in reversed(ranges) if order == "reversed" else ranges:
        folder = tmp / f"worker{rng.index}"
        folder.mkdir()
        made = render_segment(range_job(job, rng), nearest_x2, folder)
        if made is None:
            commits.add(rng.index, None, None)
        else:
            commits.add(rng.index, made[0].read_bytes(), made[1])
    assert commits.waiting == 0
    finish_job(job, started=time.perf_counter(), network_seconds=0, decode_seconds=0, encode_seconds=0)
    return len(ranges)


def assert_same_video(a: Path, b: Path) -> None:
    frames_a, pts_a, tb_a = decode(a)
    frames_b, pts_b, tb_b = decode(b)
    assert [p * tb_a for p in pts_a] == [p * tb_b for p in pts_b]
    assert len(frames_a) == len(frames_b) and all((x == y).all() for x, y in zip(frames_a, frames_b, strict=True))


@pytest.mark.parametrize(("clip", "window"), [("mp4", {}), ("vfr", {}), ("mkv", {"start": 0.5, "duration": 1.0})])
def test_segments_made_apart_equal_one_run(clips: dict[str, Path], tmp_path: Path, clip: str, window: dict) -> None:
    settings = VideoSettings(scale=2, segment_frames=5, **window)
    local, split = tmp_path / f"local{clips[clip].suffix}", tmp_path / f"split{clips[clip].suffix}"
    upscale_video(clips[clip], local, nearest_x2, settings)
    count = split_run(clips[clip], split, settings, tmp_path)
    assert count >= 3
    assert_same_video(local, split)
    if clip != "vfr":
        assert audio_packets(split) == audio_packets(local)
    if split.suffix == ".mp4":  # (Matroska writes a random segment UID: two local runs differ too)
        assert split.read_bytes() == local.read_bytes()  # the same segments, joined the same way


def test_a_split_run_resumes_a_local_one_and_the_other_way(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["mp4"]
    settings = VideoSettings(scale=2, segment_frames=5)
    whole = tmp_path / "whole.mp4"
    upscale_video(src, whole, nearest_x2, settings)

    dst = tmp_path / "resumed.mp4"
    with pytest.raises(SimulatedInterruptError):
        upscale_video(src, dst, nearest_x2, settings, on_segment=stop_after(2))
    assert split_run(src, dst, VideoSettings(scale=2, segment_frames=5, resume=True), tmp_path) == 3
    assert dst.read_bytes() == whole.read_bytes()

    # A split run stopped after its first two segments, continued by a local run.
    dst2 = tmp_path / "resumed2.mp4"
    job = plan_job(src, dst2, settings, {})
    commits = InOrderCommits(job)
    ranges = segment_ranges(job)
    for rng in ranges[:2] + ranges[3:4]:  # the fourth finished early: a stray until its turn, gone on resume
        folder = tmp_path / f"w{rng.index}"
        folder.mkdir()
        made = render_segment(range_job(job, rng), nearest_x2, folder)
        assert made is not None
        commits.add(rng.index, made[0].read_bytes(), made[1])
    assert Manifest.load(job.parts / "manifest.json").frames_done == 10
    upscale_video(src, dst2, nearest_x2, VideoSettings(scale=2, segment_frames=5, resume=True))
    assert dst2.read_bytes() == whole.read_bytes()


def test_frame_pts_are_the_decoded_timestamps(clips: dict[str, Path]) -> None:
    for name in ("mp4", "mkv", "vfr"):
        with VideoReader(clips[name]) as reader:
            decoded = [f.pts for f in reader.frames(start=0.25, end=1.5)]
            assert reader.frame_pts(start=0.25, end=1.5) == decoded
            assert reader.frame_pts() == [f.pts for f in reader.frames()]


def test_until_pts_ends_a_range_with_the_gap_to_the_next_frame(clips: dict[str, Path]) -> None:
    with VideoReader(clips["vfr"]) as reader:
        whole = list(reader.frames())
        cut = whole[7].pts
        head = list(reader.frames(until_pts=cut))
        tail = list(reader.frames(after_pts=cut))
    assert [(f.pts, f.duration) for f in head + tail] == [(f.pts, f.duration) for f in whole]


def test_commits_go_in_order_and_only_once(clips: dict[str, Path], tmp_path: Path) -> None:
    job: VideoJob = plan_job(clips["mp4"], tmp_path / "o.mp4", VideoSettings(scale=2, segment_frames=8), {})
    ranges = segment_ranges(job)
    assert [r.frames for r in ranges] == [8, 8, 8]
    assert ranges[0] == SegmentRange(0, None, ranges[1].first_pts, 8)
    commits = InOrderCommits(job)
    made = []
    for rng in ranges:
        folder = tmp_path / f"w{rng.index}"
        folder.mkdir()
        result = render_segment(range_job(job, rng), nearest_x2, folder)
        assert result is not None
        made.append(result)
    assert commits.add(2, made[2][0].read_bytes(), made[2][1]) == []
    assert commits.add(1, None, None) == []  # an empty range commits nothing
    assert commits.waiting == 2
    committed = commits.add(0, made[0][0].read_bytes(), made[0][1])
    assert [(s.file, s.frames) for s in committed] == [("00000.mp4", 8), ("00001.mp4", 8)]
    with pytest.raises(ValueError, match="segment 1 was added already"):
        commits.add(1, None, None)
    assert [s.file for s in Manifest.load(job.parts / "manifest.json").segments] == ["00000.mp4", "00001.mp4"]
