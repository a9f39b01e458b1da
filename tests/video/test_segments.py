"""esrgan.video.segments: the one resume identity, the parts folder and its manifest, atomic segment commits."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path

import pytest

from esrgan import video
from esrgan.video import EncodeSettings, VideoError, VideoSettings, resume_identity
from esrgan.video.segments import Manifest, Segment, commit_segment, keep_or_drop_parts, open_parts

ENGINE = {"model": "ab12", "backend": "torch", "precision": "bf16", "compile": False, "tile": "auto",
          "tile_pad": 16, "ensemble": False}  # fmt: skip
RESOLVED = EncodeSettings(codec="libx264", crf=18, preset="veryfast", pix_fmt="yuv420p")


def test_identity_holds_every_output_setting_and_the_engine() -> None:
    settings = VideoSettings(scale=4, outscale=2.5, channels=1, encode=RESOLVED, start=1.0, duration=2.0)
    identity = resume_identity(settings, ENGINE)
    assert identity == {
        "scale": 4, "outscale": 2.5, "channels": 1, "codec": "libx264", "crf": 18, "preset": "veryfast",
        "pix_fmt": "yuv420p", "start": 1.0, "duration": 2.0, "segment_frames": 300, **ENGINE,
    }  # fmt: skip
    # Batch size and the resume flag do not change the frames.
    same = VideoSettings(scale=4, outscale=2.5, channels=1, encode=RESOLVED, start=1.0, duration=2.0,
                         batch_size=8, resume=True)  # fmt: skip
    assert resume_identity(same, ENGINE) == identity


def test_every_new_setting_joins_the_identity_unless_marked() -> None:
    # A field added to VideoSettings is compared on resume without anyone remembering to add it.
    identity = resume_identity(VideoSettings(scale=2, encode=RESOLVED), {})
    expected = {f.name for f in fields(VideoSettings) if f.metadata.get("identity", True)} - {"encode"}
    expected |= {f.name for f in fields(EncodeSettings)}
    assert set(identity) == expected
    assert {f.name for f in fields(VideoSettings) if not f.metadata.get("identity", True)} == {"batch_size", "resume"}


def test_identity_is_json_and_refuses_clashing_engine_keys() -> None:
    identity = resume_identity(VideoSettings(scale=2, encode=RESOLVED), {"tile": (128, 128)})
    assert identity["tile"] == [128, 128]  # as it reads back from the manifest
    with pytest.raises(ValueError, match="engine describes crf, scale, which are video settings"):
        resume_identity(VideoSettings(scale=2), {"scale": 4, "crf": 1})


def _started(parts: Path, src: Path, identity: dict[str, object]) -> Manifest:
    manifest = open_parts(parts, src, identity, resume=False)
    written = parts / "00000.tmp.mp4"
    written.write_bytes(b"segment")
    commit_segment(parts, manifest, written, Segment("00000", 5, 0, 5))
    return manifest


def test_resume_continues_only_the_same_job(tmp_path: Path) -> None:
    src, parts = tmp_path / "in.mp4", tmp_path / "out.mp4.parts"
    src.write_bytes(b"input")
    identity = resume_identity(VideoSettings(scale=2, encode=RESOLVED), ENGINE)
    _started(parts, src, identity)
    assert sorted(p.name for p in parts.iterdir()) == ["00000.mp4", "manifest.json"]  # renamed into place
    (parts / "00001.tmp.mp4").write_bytes(b"half a segment")  # left by a crash
    resumed = open_parts(parts, src, identity, resume=True)
    assert resumed.frames_done == 5 and [s.file for s in resumed.segments] == ["00000.mp4"]
    assert not (parts / "00001.tmp.mp4").exists()  # strays removed
    for change, diff in [
        ({"backend": "openvino"}, "backend: 'torch' → 'openvino'"),
        ({"compile": True}, "compile: False → True"),
        ({"precision": "fp32"}, "precision: 'bf16' → 'fp32'"),
    ]:
        other = resume_identity(VideoSettings(scale=2, encode=RESOLVED), {**ENGINE, **change})
        with pytest.raises(VideoError, match=rf"different settings \({diff}\); .*resume=False to start over"):
            open_parts(parts, src, other, resume=True)
    assert json.loads((parts / "manifest.json").read_text())["segments"][0]["frames"] == 5  # nothing lost


def test_resume_refuses_other_versions_and_missing_segments(tmp_path: Path) -> None:
    src, parts = tmp_path / "in.mp4", tmp_path / "out.mp4.parts"
    src.write_bytes(b"input")
    identity = resume_identity(VideoSettings(scale=2, encode=RESOLVED), ENGINE)
    manifest = _started(parts, src, identity)
    manifest.version = 1
    manifest.save(parts / "manifest.json")
    with pytest.raises(VideoError, match="made by another version of esrgan"):
        open_parts(parts, src, identity, resume=True)
    manifest.version = video.MANIFEST_VERSION
    manifest.save(parts / "manifest.json")
    (parts / "00000.mp4").unlink()
    with pytest.raises(VideoError, match=r"segment 00000\.mp4 is missing"):
        open_parts(parts, src, identity, resume=True)
    (parts / "manifest.json").write_text("{")
    with pytest.raises(VideoError, match="unreadable resume manifest"):
        open_parts(parts, src, identity, resume=True)


def test_a_fresh_run_replaces_our_folder_but_never_a_foreign_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src, parts = tmp_path / "in.mp4", tmp_path / "out.mp4.parts"
    src.write_bytes(b"input")
    identity = resume_identity(VideoSettings(scale=2, encode=RESOLVED), ENGINE)
    _started(parts, src, identity)
    with caplog.at_level(logging.WARNING):
        fresh = open_parts(parts, src, identity, resume=False)
    assert "discarding 5 frames" in caplog.text and fresh.frames_done == 0
    assert sorted(p.name for p in parts.iterdir()) == ["manifest.json"]
    keep_or_drop_parts(parts, fresh)  # nothing done: removed
    assert not parts.exists()
    parts.mkdir()
    (parts / "mine.txt").write_text("not esrgan's")
    with pytest.raises(VideoError, match="is not an esrgan work folder"):
        open_parts(parts, src, identity, resume=False)
    assert (parts / "mine.txt").exists()
