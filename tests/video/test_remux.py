"""esrgan.video.remux: the input's audio, subtitles and attachments reach the output, copied where the container
takes them and converted where it does not (through whole jobs: the remux joins what a job made)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from esrgan.video import VideoSettings, upscale_video
from tests.video.media import audio_packets, decode, make_clip, nearest_x2, stream_seconds

X2 = VideoSettings(scale=2)


def test_no_audio_and_mkv_without_frame_count(clips: dict[str, Path], tmp_path: Path) -> None:
    upscale_video(clips["noaudio"], tmp_path / "a.mp4", nearest_x2, X2)
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert [s.type for s in c.streams] == ["video"]
    totals: list[int | None] = []
    result = upscale_video(clips["mkv"], tmp_path / "b.mkv", nearest_x2, X2, progress=lambda d, t: totals.append(t))
    assert set(totals) == {None} and result.frames == 24
    assert len(decode(tmp_path / "b.mkv")[0]) == 24
    assert audio_packets(tmp_path / "b.mkv") == audio_packets(clips["mkv"])


def test_pcm_audio_is_reencoded_for_mp4_and_copied_for_mov(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["pcm"], tmp_path / "p.mp4", nearest_x2, X2)
    assert "aac" in result.audio[0] and "re-encoded" in result.audio[0]
    with av.open(str(tmp_path / "p.mp4")) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.codec_context.sample_rate == 44100
    assert stream_seconds(tmp_path / "p.mp4", "audio") == pytest.approx(2.0, abs=0.05)
    upscale_video(clips["pcm"], tmp_path / "p.mov", nearest_x2, X2)
    # QuickTime PCM is stored in chunks that the demuxer cuts into packets as it likes: compare the samples.
    got, want = audio_packets(tmp_path / "p.mov"), audio_packets(clips["pcm"])
    assert b"".join(p[2] for p in got) == b"".join(p[2] for p in want) and got[0][0] == want[0][0]


def test_subtitles_converted_for_mp4_and_copied_for_mkv(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["subs"], tmp_path / "s.mp4", nearest_x2, X2)
    assert result.subtitles and "mov_text" in result.subtitles[0]
    with av.open(str(tmp_path / "s.mp4")) as c:
        s = c.streams.subtitles[0]
        assert s.codec_context.name == "mov_text" and s.language == "eng"
        texts = [r.ass for p in c.demux(s) if p.size for sub in [s.codec_context.decode2(p)] if sub for r in sub]
    assert any(b"Hello" in t for t in texts) and any(b"Bye" in t for t in texts)
    upscale_video(clips["subs"], tmp_path / "s.mkv", nearest_x2, X2)
    with av.open(str(tmp_path / "s.mkv")) as c, av.open(str(clips["subs"])) as ref:
        got = [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]
        want = [bytes(p) for p in ref.demux(ref.streams.subtitles[0]) if p.size]
    assert got == want


def test_webm_gets_vp9_and_opus_and_mkv_keeps_attachments(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["mp4"], tmp_path / "o.webm", nearest_x2, VideoSettings(scale=2, duration=0.5))
    assert "opus" in result.audio[0]
    with av.open(str(tmp_path / "o.webm")) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]
    src = tmp_path / "font.mkv"
    with av.open(str(clips["mkv"])) as c, av.open(str(src), "w") as out:
        v = out.add_stream_from_template(c.streams.video[0])
        out.add_attachment("font.ttf", "font/ttf", b"not really a font")
        for p in c.demux(c.streams.video[0]):
            if p.size:
                p.stream = v
                out.mux(p)
    upscale_video(src, tmp_path / "o.mkv", nearest_x2, X2)
    with av.open(str(tmp_path / "o.mkv")) as c:
        attachments = [s for s in c.streams if s.type == "attachment"]
        assert len(attachments) == 1 and attachments[0].data == b"not really a font"


@pytest.mark.parametrize(("ext", "vcodec"), [("avi", "mpeg4"), ("webm", "libvpx-vp9")])
def test_other_input_containers(tmp_path: Path, ext: str, vcodec: str) -> None:
    src = make_clip(tmp_path / f"in.{ext}", vcodec=vcodec, audio="libopus" if ext == "webm" else "mp3", frames=12)
    result = upscale_video(src, tmp_path / "o.mp4", nearest_x2, X2)
    frames, pts, tb = decode(tmp_path / "o.mp4")
    _, src_pts, src_tb = decode(src)
    assert result.frames == len(frames) == 12
    assert [p * tb for p in pts] == [p * src_tb for p in src_pts]
    assert len(result.audio) == 1
    assert stream_seconds(tmp_path / "o.mp4", "audio") == pytest.approx(1.0, abs=0.1)
