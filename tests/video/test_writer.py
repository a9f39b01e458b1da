"""esrgan.video.writer: encoder settings checked before any work, and frames written at their timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from esrgan import video
from esrgan.errors import OptionsError
from esrgan.video import EncodeSettings, VideoError
from tests.video.media import H, W, decode, pan_frames


def test_writer_keeps_timestamps_and_colour(tmp_path: Path) -> None:
    frames = pan_frames(6)
    pts = [0, 40, 120, 160, 300, 340]  # variable gaps, ms
    path = tmp_path / "w.mkv"
    with video.VideoWriter(
        path, width=W, height=H, time_base=Fraction(1, 1000), frame_rate=Fraction(12),
        settings=EncodeSettings(crf=0, preset="ultrafast"),
        colour=video.Colour(1, 1, 1, 1, "ITU709"),
    ) as writer:  # fmt: skip
        for rgb, p in zip(frames, pts, strict=True):
            writer.write(rgb, p, 40)
    got, got_pts, tb = decode(path)
    assert got_pts == pts and tb == Fraction(1, 1000)
    assert np.abs(np.stack(got).astype(int) - np.stack(frames).astype(int)).mean() < 2
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range) == (1, 1)  # BT.709, limited range: tagged


def test_writer_abort_deletes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    with pytest.raises(RuntimeError), video.VideoWriter(
        path, width=W, height=H, time_base=Fraction(1, 12), frame_rate=Fraction(12)
    ) as writer:  # fmt: skip
        writer.write(pan_frames(1)[0], 0, 1)
        raise RuntimeError("stop")
    assert not path.exists()


def test_encode_settings_are_checked(tmp_path: Path) -> None:
    mp4 = tmp_path / "o.mp4"
    resolved = video.resolve_encode_settings(EncodeSettings(), mp4)
    assert (resolved.codec, resolved.crf, resolved.pix_fmt) == ("libx264", video.DEFAULT_CRF["libx264"], "yuv420p")
    assert resolved.preset == video.DEFAULT_PRESET["libx264"]
    assert video.resolve_encode_settings(resolved, mp4) == resolved  # idempotent
    assert video.resolve_encode_settings(EncodeSettings(), tmp_path / "o.webm").codec == "libvpx-vp9"
    with pytest.raises(VideoError, match=r"unknown video encoder 'nope'; available: .*libx264"):
        video.resolve_encode_settings(EncodeSettings(codec="nope"), mp4)
    with pytest.raises(VideoError, match="webm container cannot hold libx264; choose another codec"):
        video.resolve_encode_settings(EncodeSettings(codec="libx264"), tmp_path / "o.webm")
    with pytest.raises(VideoError, match="cannot take pix_fmt=rgb48le"):
        video.resolve_encode_settings(EncodeSettings(pix_fmt="rgb48le"), mp4)
    with pytest.raises(VideoError, match=r"mpeg4 has no constant-quality setting \(crf=20\)"):
        video.resolve_encode_settings(EncodeSettings(codec="mpeg4", crf=20), mp4)
    with pytest.raises(VideoError, match="cannot tell the container"):
        video.resolve_encode_settings(EncodeSettings(), tmp_path / "o.xyz")
    # Values the encoder itself refuses fail here, before any work, with the valid ones; library argument
    # names, not command-line flags.
    with pytest.raises(VideoError, match=r"libx264 refused crf=18, preset=turbo .*valid: .*preset=.*veryfast") as e:
        video.resolve_encode_settings(EncodeSettings(preset="turbo"), mp4)
    assert "--" not in str(e.value)
    with pytest.raises(VideoError, match=r"libx265 refused crf=60 .*valid: crf=0\.\.51"):
        video.resolve_encode_settings(EncodeSettings(codec="libx265", crf=60), tmp_path / "o.mp4")
    with pytest.raises(OptionsError, match=r"crf must be 0\.\.63, got 80"):  # above every bundled encoder's range
        EncodeSettings(crf=80)
