"""A video over two Ray actors (local Ray, CPU, a tiny network): the local run's frames and audio packets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from esrgan.archs import RRDBNet
from esrgan.cluster.engine import EngineSpec, NetworkRecipe
from esrgan.cluster.ray_pool import RayPool, WorkerPlan
from esrgan.cluster.scheduler import Scheduler
from esrgan.cluster.video import SegmentJob, upscale_video_on
from esrgan.inference import EngineOptions, Upscaler
from esrgan.video import VideoSettings, upscale_video
from tests.video.media import audio_packets, decode, make_clip

pytestmark = pytest.mark.ray

ENGINE = EngineOptions(tile=0, precision="fp32", backend="torch", device="cpu")


def test_a_videos_segments_over_two_actors_equal_the_local_run(ray_instance: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    src = make_clip(tmp_path / "clip.mp4", frames=20)
    settings = VideoSettings(scale=2, segment_frames=5)
    local, spread = tmp_path / "local.mp4", tmp_path / "ray.mp4"
    upscaler = Upscaler.from_options(NetworkRecipe.of(net).build(), ENGINE)
    upscale_video(src, local, upscaler, settings, engine={"model": "tiny", **upscaler.resolved_settings()})

    pool = RayPool(SegmentJob(EngineSpec(NetworkRecipe.of(net), ENGINE)), WorkerPlan(2, 1, 0, "cpu"))
    scheduler = Scheduler(pool)
    try:
        scheduler.start()
        result = upscale_video_on(scheduler, src, spread, settings, model="tiny")
    finally:
        pool.close()
    assert result.frames == 20
    assert all(s.items for s in scheduler.stats), "both actors made segments"
    frames_l, pts_l, _ = decode(local)
    frames_r, pts_r, _ = decode(spread)
    assert pts_r == pts_l and all((a == b).all() for a, b in zip(frames_l, frames_r, strict=True))
    assert audio_packets(spread) == audio_packets(local)
