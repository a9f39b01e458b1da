"""esrgan.video.probe: what a file holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan import video
from esrgan.video import VideoError
from tests.video.media import FPS, H, W


def test_probe_reports_stream(clips: dict[str, Path]) -> None:
    info = video.probe_video(clips["mp4"])
    assert (info.width, info.height, info.codec) == (W, H, "h264")
    assert info.frame_rate == FPS and info.num_frames == 24
    assert info.duration == pytest.approx(2.0)
    assert info.rotation == pytest.approx(90) and info.display_matrix is not None
    assert info.audio_codecs == ("aac",)
    assert info.colour.matrix == "ITU601"  # untagged SD: what players assume
    mkv = video.probe_video(clips["mkv"])
    assert mkv.num_frames is None and mkv.rotation == 0 and mkv.display_matrix is None
    subs = video.probe_video(clips["subs"])
    assert subs.subtitle_codecs == ("srt",)


def test_probe_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"input video not found: .*none\.mp4"):
        video.probe_video(tmp_path / "none.mp4")
    with pytest.raises(VideoError, match="input is a folder"):
        video.probe_video(tmp_path)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoError, match=r"junk\.mp4: not a readable media file") as exc:
        video.probe_video(junk)
    assert "\n" not in str(exc.value)
