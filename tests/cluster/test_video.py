"""esrgan.cluster.video: a video's segments over two workers equal the local run, audio included; resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from esrgan.archs import RRDBNet
from esrgan.cluster.engine import EngineSpec, NetworkRecipe
from esrgan.cluster.pools import ThreadPool
from esrgan.cluster.scheduler import Scheduler
from esrgan.cluster.video import SegmentJob, upscale_video_on
from esrgan.inference import EngineOptions, Upscaler
from esrgan.video import VideoError, VideoSettings, upscale_video
from esrgan.video.segments import Manifest
from tests.video.media import SimulatedInterruptError, audio_packets, decode, make_clip, stop_after

ENGINE = EngineOptions(tile=0, precision="fp32", backend="torch", device="cpu")


@pytest.fixture(scope="module")
def tiny_x2() -> torch.nn.Module:
    torch.manual_seed(0)
    return RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4).eval()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=20)


def local_run(net: torch.nn.Module, src: Path, dst: Path, settings: VideoSettings) -> None:
    upscaler = Upscaler.from_options(NetworkRecipe.of(net).build(), ENGINE)
    upscale_video(src, dst, upscaler, settings, engine={"model": "tiny", **upscaler.resolved_settings()})


def test_two_workers_make_the_local_runs_video(tiny_x2: torch.nn.Module, clip: Path, tmp_path: Path) -> None:
    settings = VideoSettings(scale=2, segment_frames=6)
    local, spread = tmp_path / "local.mp4", tmp_path / "spread.mp4"
    local_run(tiny_x2, clip, local, settings)
    pool = ThreadPool(SegmentJob(EngineSpec(NetworkRecipe.of(tiny_x2), ENGINE)), ["cpu", "cpu"])
    scheduler = Scheduler(pool)
    scheduler.start()
    reports: list[tuple[int, int | None]] = []
    try:
        result = upscale_video_on(
            scheduler, clip, spread, settings, model="tiny", progress=lambda d, t: reports.append((d, t))
        )
    finally:
        pool.close()
    assert result.frames == 20 and reports[0] == (0, 20) and reports[-1] == (20, 20)
    assert [s.items for s in scheduler.stats] == [2, 2], "four segments, two each"
    frames_l, pts_l, _ = decode(local)
    frames_s, pts_s, _ = decode(spread)
    assert pts_s == pts_l and all((a == b).all() for a, b in zip(frames_l, frames_s, strict=True))
    assert audio_packets(spread) == audio_packets(local)
    assert spread.read_bytes() == local.read_bytes()


def test_a_run_on_workers_resumes_a_local_one(tiny_x2: torch.nn.Module, clip: Path, tmp_path: Path) -> None:
    settings = VideoSettings(scale=2, segment_frames=6)
    whole, dst, other = tmp_path / "whole.mp4", tmp_path / "dst.mp4", tmp_path / "other.mp4"
    local_run(tiny_x2, clip, whole, settings)
    upscaler = Upscaler.from_options(NetworkRecipe.of(tiny_x2).build(), ENGINE)
    resolved = upscaler.resolved_settings()
    with pytest.raises(SimulatedInterruptError):
        upscale_video(clip, dst, upscaler, settings, engine={"model": "tiny", **resolved}, on_segment=stop_after(2))
    with pytest.raises(SimulatedInterruptError):
        upscale_video(clip, other, upscaler, settings, engine={"model": "other", **resolved}, on_segment=stop_after(1))
    pool = ThreadPool(SegmentJob(EngineSpec(NetworkRecipe.of(tiny_x2), ENGINE)), ["cpu", "cpu"])
    scheduler = Scheduler(pool)
    scheduler.start()
    resumed = VideoSettings(scale=2, segment_frames=6, resume=True)
    try:
        result = upscale_video_on(scheduler, clip, dst, resumed, model="tiny")
        assert result.resumed_frames == 12
        assert sum(s.items for s in scheduler.stats) == 2, "only the two segments left were made"
        assert dst.read_bytes() == whole.read_bytes()
        with pytest.raises(VideoError, match=r"different settings .*model: 'other'"):
            upscale_video_on(scheduler, clip, other, resumed, model="tiny")
    finally:
        pool.close()


def test_a_workers_failure_stops_the_run_and_keeps_the_finished_segments(
    tiny_x2: torch.nn.Module, tmp_path: Path
) -> None:
    src = make_clip(tmp_path / "moving.mp4", frames=20)
    pool = ThreadPool(SegmentJob(EngineSpec(NetworkRecipe.of(tiny_x2), ENGINE)), ["cpu"])
    scheduler = Scheduler(pool, depth=1)
    scheduler.start()
    dst = tmp_path / "out.mp4"
    changed = False

    def progress(done: int, total: int | None) -> None:
        nonlocal changed
        if done >= 10 and not changed:  # the second segment is made or being made: the input changes
            src.write_bytes(src.read_bytes() + b"\0")
            changed = True

    try:
        with pytest.raises(VideoError, match="a worker sees another file"):
            upscale_video_on(
                scheduler, src, dst, VideoSettings(scale=2, segment_frames=5), model="t", progress=progress
            )
    finally:
        pool.close()
    # The bar counts the frames of the segment in flight, so the change lands while the second segment is made or
    # just after (which segment fails depends on the machine's load): every segment finished before it is kept.
    parts = dst.with_name("out.mp4.parts")
    manifest = Manifest.load(parts / "manifest.json")
    assert manifest.frames_done in (5, 10, 15) and not dst.exists()
    assert [s.frames for s in manifest.segments] == [5] * len(manifest.segments)
    assert all((parts / s.file).stat().st_size > 0 for s in manifest.segments)
