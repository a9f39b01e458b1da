"""esrgan.video: conversion, probing, reading/writing, and the streaming upscale with passthrough and resume.

Clips are made here with PyAV (a pan over skimage's "chelsea", 64x48, 12 fps, with a 440 Hz AAC track); the
"network" is a nearest-neighbour x2 upscale, so these tests exercise the video plumbing only.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from esrgan import video
from esrgan.video import EncodeSettings, VideoError, upscale_video

FPS = 12
W, H = 64, 48


# ---------------------------------------------------------------------------------------------------- clips


def pan_frames(n: int, size: tuple[int, int] = (W, H)) -> list[np.ndarray]:
    """n RGB frames (H, W, 3) uint8: a window moving 3 px right and 2 px down per frame over "chelsea"."""
    img = skimage.data.chelsea()
    w, h = size
    return [np.ascontiguousarray(img[40 + 2 * i : 40 + 2 * i + h, 60 + 3 * i : 60 + 3 * i + w]) for i in range(n)]


def make_clip(
    path: Path,
    *,
    frames: int = 24,
    audio: str | None = "aac",
    rotate: float | None = None,
    durations_ms: list[int] | None = None,
    subtitles: str | None = None,
    vcodec: str = "libx264",
    size: tuple[int, int] = (W, H),
) -> Path:
    """Write a test clip. ``durations_ms`` makes it variable-frame-rate (ms per frame, cycled); ``audio`` is an
    audio codec ("aac", "pcm_s16le") or None; ``subtitles`` is SRT text muxed as a subtitle stream."""
    out = av.open(str(path), "w")
    vs = out.add_stream(vcodec, rate=FPS)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    if vcodec == "libx264":
        vs.options = {"crf": "10", "preset": "ultrafast"}
    if rotate is not None:
        vs.set_display_rotation(rotate)
    if durations_ms is not None:
        vs.codec_context.time_base = Fraction(1, 1000)
    astream = None
    rate = 48000 if audio == "libopus" else 44100
    if audio is not None:
        astream = out.add_stream(audio, rate=rate)
        astream.layout = "mono"
    sstream = None
    if subtitles is not None:
        srt_path = path.with_suffix(".srt")
        srt_path.write_text(subtitles)
        srt = av.open(str(srt_path))
        sstream = out.add_stream_from_template(srt.streams.subtitles[0])
        sstream.metadata["language"] = "eng"
    t = 0
    for i, rgb in enumerate(pan_frames(frames, size)):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if durations_ms is not None:
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += durations_ms[i % len(durations_ms)]
        else:
            frame.pts = i
        out.mux(vs.encode(frame))
    out.mux(vs.encode())
    seconds = t / 1000 if durations_ms is not None else frames / FPS
    if astream is not None:
        n = int(rate * seconds)
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
        # To the encoder's sample format and frame size (AAC 1024, Opus 960, MP3 1152, PCM any); the encoder is
        # open since the first video packet wrote the header.
        cc = astream.codec_context
        resampler = av.AudioResampler(format=cc.format.name, layout="mono", rate=rate, frame_size=cc.frame_size or None)
        for i in range(0, n, 1000):
            af = av.AudioFrame.from_ndarray(wave[None, i : i + 1000], format="fltp", layout="mono")
            af.sample_rate, af.pts = rate, i
            for chunk in resampler.resample(af):
                out.mux(astream.encode(chunk))
        for chunk in resampler.resample(None):
            out.mux(astream.encode(chunk))
        out.mux(astream.encode())
    if sstream is not None:
        for packet in srt.demux(srt.streams.subtitles[0]):
            if packet.size:
                packet.stream = sstream
                out.mux(packet)
        srt.close()
    out.close()
    return path


def nearest_x2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def decode(path: Path) -> tuple[list[np.ndarray], list[int], Fraction]:
    """All frames (RGB uint8), their pts and the time base of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.to_ndarray(format="rgb24"), f.pts) for f in c.decode(s)]
        return [f for f, _ in frames], [p for _, p in frames], Fraction(s.time_base)


def audio_packets(path: Path, index: int = 0) -> list[tuple[int, int, bytes]]:
    """(pts, duration, payload) of every packet of an audio stream."""
    with av.open(str(path)) as c:
        s = c.streams.audio[index]
        return [(p.pts, p.duration, bytes(p)) for p in c.demux(s) if p.size]


def stream_seconds(path: Path, kind: str = "video") -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return float(s.duration * s.time_base)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "mp4": make_clip(d / "clip.mp4", rotate=90),
        "noaudio": make_clip(d / "silent.mp4", audio=None),
        "mkv": make_clip(d / "clip.mkv"),
        "vfr": make_clip(d / "vfr.mp4", durations_ms=[40, 80, 120], frames=18),
        "pcm": make_clip(d / "pcm.mov", audio="pcm_s16le"),
        "subs": make_clip(
            d / "subs.mkv",
            subtitles="1\n00:00:00,200 --> 00:00:00,900\nHello\n\n2\n00:00:01,000 --> 00:00:01,500\nBye\n",
        ),
    }


# ---------------------------------------------------------------------------------------------------- units


def test_frames_tensor_round_trip_is_exact() -> None:
    frames = np.stack(pan_frames(3))
    x = video.frames_to_tensor(frames)
    assert x.shape == (3, 3, H, W) and x.dtype == torch.float32 and x.is_contiguous()
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.equal(x[1, 0], torch.from_numpy(frames[1, :, :, 0]).float() / 255)  # channel 0 is red
    assert np.array_equal(video.tensor_to_frames(x), frames)
    # Rounding to the nearest level, clamping outside [0, 1].
    y = torch.tensor([0.4999 / 255, 0.5001 / 255, -0.2, 1.3]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert video.tensor_to_frames(y)[0, 0, :, 0].tolist() == [0, 1, 0, 255]
    with pytest.raises(ValueError, match="uint8"):
        video.frames_to_tensor(frames.astype(np.float32))


def test_output_size_is_even() -> None:
    assert video.output_size(64, 48, 4, None) == (256, 192)
    assert video.output_size(65, 49, 1, None) == (64, 48)  # odd: one pixel cropped
    assert video.output_size(64, 48, 4, 1.5) == (96, 72)
    assert video.output_size(65, 49, 4, 1.5) == (98, 74)  # 97.5, 73.5 → nearest even
    with pytest.raises(ValueError):
        video.output_size(64, 48, 4, 0)


def test_fit_frames_crops_parity_and_resizes() -> None:
    frames = np.stack(pan_frames(2, (65, 49)))
    assert np.array_equal(video.fit_frames(frames, (64, 48)), frames[:, :48, :64])
    assert video.fit_frames(frames, (130, 98)).shape == (2, 98, 130, 3)
    small = video.fit_frames(frames, (32, 24))
    assert small.shape == (2, 24, 32, 3)
    # INTER_AREA averages: a flat-ish region stays close to the source mean.
    assert abs(float(small.mean()) - float(frames.mean())) < 3


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


def test_reader_windows_and_durations(clips: dict[str, Path]) -> None:
    with video.VideoReader(clips["mp4"]) as reader:
        tb = reader.info.time_base
        every = list(reader.frames())
        window = list(reader.frames(start=0.5, end=1.0))
        after = list(reader.frames(after_pts=every[20].pts))
        again = list(reader.frames())
    assert len(every) == 24 and all(f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8 for f in every)
    assert [f.pts for f in window] == [f.pts for f in every[6:12]]
    assert [f.pts for f in after] == [f.pts for f in every[20:]]
    assert [f.pts for f in again] == [f.pts for f in every] and np.array_equal(again[3].rgb, every[3].rgb)
    assert all(f.duration * tb == Fraction(1, FPS) for f in every)
    # Decoded colours match what was encoded (crf 10: near lossless).
    err = np.abs(every[5].rgb.astype(int) - pan_frames(6)[5].astype(int)).mean()
    assert err < 4


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


def test_encode_settings_are_checked(tmp_path: Path) -> None:
    mp4 = tmp_path / "o.mp4"
    resolved = video.resolve_encode_settings(EncodeSettings(), mp4)
    assert (resolved.codec, resolved.crf, resolved.pix_fmt) == ("libx264", video.DEFAULT_CRF["libx264"], "yuv420p")
    assert video.resolve_encode_settings(EncodeSettings(), tmp_path / "o.webm").codec == "libvpx-vp9"
    with pytest.raises(VideoError, match=r"unknown video encoder 'nope'; available: .*libx264"):
        video.resolve_encode_settings(EncodeSettings(codec="nope"), mp4)
    with pytest.raises(VideoError, match="webm container cannot hold libx264"):
        video.resolve_encode_settings(EncodeSettings(codec="libx264"), tmp_path / "o.webm")
    with pytest.raises(VideoError, match="cannot take --pix-fmt rgb48le"):
        video.resolve_encode_settings(EncodeSettings(pix_fmt="rgb48le"), mp4)
    with pytest.raises(VideoError, match="mpeg4 has no constant-quality"):
        video.resolve_encode_settings(EncodeSettings(codec="mpeg4", crf=20), mp4)
    with pytest.raises(VideoError, match="cannot tell the container"):
        video.resolve_encode_settings(EncodeSettings(), tmp_path / "o.xyz")
    # Values the encoder itself refuses fail here, before any work, with the valid ones.
    with pytest.raises(VideoError, match=r"libx264 refused .*--preset turbo.*valid: .*veryfast"):
        video.resolve_encode_settings(EncodeSettings(preset="turbo"), mp4)
    with pytest.raises(VideoError, match=r"libvpx-vp9 refused --crf 80 .*valid: --crf -1\.\.63"):
        video.resolve_encode_settings(EncodeSettings(crf=80), tmp_path / "o.webm")


# ---------------------------------------------------------------------------------------------------- whole job


def test_upscale_keeps_timing_rotation_and_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    src, dst = clips["mp4"], tmp_path / "out.mp4"
    reports: list[tuple[int, int | None]] = []
    result = upscale_video(
        src, dst, nearest_x2, scale=2, segment_frames=10, progress=lambda d, t: reports.append((d, t))
    )
    assert (result.width, result.height, result.frames) == (2 * W, 2 * H, 24)
    assert reports[-1] == (24, 24)
    frames, pts, tb = decode(dst)
    src_frames, src_pts, src_tb = decode(src)
    assert len(frames) == 24 and frames[0].shape == (2 * H, 2 * W, 3)
    assert [p * tb for p in pts] == [p * src_tb for p in src_pts]
    assert stream_seconds(dst) == pytest.approx(stream_seconds(src))
    info = video.probe_video(dst)
    assert info.frame_rate == FPS and info.rotation == pytest.approx(90)
    assert audio_packets(dst) == audio_packets(src)  # copied bit for bit, same timestamps
    assert stream_seconds(dst, "audio") == pytest.approx(stream_seconds(src, "audio"))
    # The picture is the (nearest-upscaled) input, through two lossy encodes.
    up = np.repeat(np.repeat(src_frames[7], 2, 0), 2, 1).astype(int)
    assert np.abs(frames[7].astype(int) - up).mean() < 4
    data = dst.read_bytes()
    assert -1 < data.find(b"moov") < data.find(b"mdat")  # +faststart: the index comes first
    assert not video.parts_folder(dst).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_variable_frame_rate_keeps_timestamps(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "vfr_out.mp4"
    upscale_video(clips["vfr"], dst, nearest_x2, scale=2, segment_frames=4)
    _, pts, tb = decode(dst)
    _, src_pts, src_tb = decode(clips["vfr"])
    assert [p * tb for p in pts] == [p * src_tb for p in src_pts]
    assert len(set(np.diff(src_pts).tolist())) == 3  # really variable
    assert stream_seconds(dst) == pytest.approx(stream_seconds(clips["vfr"]))


def test_no_audio_and_mkv_without_frame_count(clips: dict[str, Path], tmp_path: Path) -> None:
    upscale_video(clips["noaudio"], tmp_path / "a.mp4", nearest_x2, scale=2)
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert [s.type for s in c.streams] == ["video"]
    totals: list[int | None] = []
    result = upscale_video(
        clips["mkv"], tmp_path / "b.mkv", nearest_x2, scale=2, progress=lambda d, t: totals.append(t)
    )
    assert set(totals) == {None} and result.frames == 24
    assert len(decode(tmp_path / "b.mkv")[0]) == 24
    assert audio_packets(tmp_path / "b.mkv") == audio_packets(clips["mkv"])


def test_pcm_audio_is_reencoded_for_mp4_and_copied_for_mov(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["pcm"], tmp_path / "p.mp4", nearest_x2, scale=2)
    assert "aac" in result.audio[0] and "re-encoded" in result.audio[0]
    with av.open(str(tmp_path / "p.mp4")) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.codec_context.sample_rate == 44100
    assert stream_seconds(tmp_path / "p.mp4", "audio") == pytest.approx(2.0, abs=0.05)
    upscale_video(clips["pcm"], tmp_path / "p.mov", nearest_x2, scale=2)
    # QuickTime PCM is stored in chunks that the demuxer cuts into packets as it likes: compare the samples.
    got, want = audio_packets(tmp_path / "p.mov"), audio_packets(clips["pcm"])
    assert b"".join(p[2] for p in got) == b"".join(p[2] for p in want) and got[0][0] == want[0][0]


def test_subtitles_converted_for_mp4_and_copied_for_mkv(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["subs"], tmp_path / "s.mp4", nearest_x2, scale=2)
    assert result.subtitles and "mov_text" in result.subtitles[0]
    with av.open(str(tmp_path / "s.mp4")) as c:
        s = c.streams.subtitles[0]
        assert s.codec_context.name == "mov_text" and s.language == "eng"
        texts = [r.ass for p in c.demux(s) if p.size for sub in [s.codec_context.decode2(p)] if sub for r in sub]
    assert any(b"Hello" in t for t in texts) and any(b"Bye" in t for t in texts)
    upscale_video(clips["subs"], tmp_path / "s.mkv", nearest_x2, scale=2)
    with av.open(str(tmp_path / "s.mkv")) as c, av.open(str(clips["subs"])) as ref:
        got = [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]
        want = [bytes(p) for p in ref.demux(ref.streams.subtitles[0]) if p.size]
    assert got == want


def test_start_and_duration_cut_video_and_audio_alike(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "slice.mp4"
    result = upscale_video(clips["mp4"], dst, nearest_x2, scale=2, start=0.5, duration=1.0, segment_frames=5)
    frames, pts, tb = decode(dst)
    src_frames, _, _ = decode(clips["mp4"])
    assert result.frames == len(frames) == 12
    assert pts[0] == 0 and float(pts[-1] * tb) == pytest.approx(11 / FPS)
    assert stream_seconds(dst) == pytest.approx(1.0)
    # The same pictures as frames 6..17 of the input.
    up = np.repeat(np.repeat(src_frames[6], 2, 0), 2, 1).astype(int)
    assert np.abs(frames[0].astype(int) - up).mean() < 4
    # Audio: the input's packets from 0.5 s on, shifted by 0.5 s, about 1 s long.
    packets = audio_packets(dst)
    src_packets = [p for p in audio_packets(clips["mp4"]) if 0.5 <= p[0] / 44100 < 1.5]
    assert [p[2] for p in packets] == [p[2] for p in src_packets]
    # MP4 stores a stream's start delay in milliseconds (edit list in the movie time scale).
    assert abs(packets[0][0] - (src_packets[0][0] - 22050)) <= 44
    audio_len = (packets[-1][0] + packets[-1][1] - packets[0][0]) / 44100
    assert audio_len == pytest.approx(1.0, abs=0.03)


class SimulatedInterruptError(Exception):
    pass


def test_resume_after_interruption_matches_a_straight_run(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["mp4"]
    straight = tmp_path / "straight.mp4"
    upscale_video(src, straight, nearest_x2, scale=2, segment_frames=5, batch_size=2)

    dst = tmp_path / "out.mp4"

    def stop_after_two(index: int) -> None:
        if index == 1:
            raise SimulatedInterruptError

    with pytest.raises(SimulatedInterruptError):
        upscale_video(src, dst, nearest_x2, scale=2, segment_frames=5, batch_size=2, on_segment=stop_after_two)
    parts = video.parts_folder(dst)
    assert not dst.exists() and not list(tmp_path.glob(".out*"))
    manifest = json.loads((parts / "manifest.json").read_text())
    assert [s["frames"] for s in manifest["segments"]] == [5, 5]

    # Different settings: refused, and nothing is lost.
    with pytest.raises(VideoError, match=r"different settings \(crf: 18 → 30\)"):
        upscale_video(src, dst, nearest_x2, scale=2, segment_frames=5, encode=EncodeSettings(crf=30), resume=True)
    assert len(json.loads((parts / "manifest.json").read_text())["segments"]) == 2

    seen: list[int] = []

    def counting(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return nearest_x2(x)

    reports: list[int] = []
    result = upscale_video(
        src,
        dst,
        counting,
        scale=2,
        segment_frames=5,
        batch_size=2,
        resume=True,
        progress=lambda d, t: reports.append(d),
    )
    assert result.resumed_frames == 10 and sum(seen) == 14 and reports[0] == 10
    frames, pts, _ = decode(dst)
    ref_frames, ref_pts, _ = decode(straight)
    assert pts == ref_pts
    assert all(np.array_equal(a, b) for a, b in zip(frames, ref_frames, strict=True))
    assert audio_packets(dst) == audio_packets(straight)
    assert not parts.exists()


def test_rerun_without_resume_starts_over(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"

    def stop(index: int) -> None:
        raise SimulatedInterruptError

    with pytest.raises(SimulatedInterruptError):
        upscale_video(clips["mp4"], dst, nearest_x2, scale=2, segment_frames=5, on_segment=stop)
    seen: list[int] = []
    upscale_video(clips["mp4"], dst, lambda x: seen.append(len(x)) or nearest_x2(x), scale=2, segment_frames=5)
    assert sum(seen) == 24


def test_failure_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        upscale_video(clips["mp4"], dst, broken, scale=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("corrupt", VideoError, r"junk\.mp4: not a readable media file"),
        ("audio_only", VideoError, r"sound\.m4a: no video stream"),
        ("undecodable", VideoError, r"odd\.avi: the video codec \(unknown\) cannot be decoded"),
        ("same", VideoError, r"is the input file"),
        ("no_folder", FileNotFoundError, r"output folder does not exist: .*missing"),
        ("missing_input", FileNotFoundError, r"input video not found: .*nothing\.mp4"),
    ],
)
def test_errors_are_one_line(clips: dict[str, Path], tmp_path: Path, case: str, error: type, message: str) -> None:
    src, dst = clips["mp4"], tmp_path / "o.mp4"
    if case == "corrupt":
        src = tmp_path / "junk.mp4"
        src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    elif case == "audio_only":
        src = tmp_path / "sound.m4a"
        with av.open(str(clips["mp4"])) as c, av.open(str(src), "w") as out:
            a = out.add_stream_from_template(c.streams.audio[0])
            for p in c.demux(c.streams.audio[0]):
                if p.size:
                    p.stream = a
                    out.mux(p)
    elif case == "undecodable":
        # An AVI whose video FourCC no decoder knows.
        src = tmp_path / "odd.avi"
        with av.open(str(src), "w") as out:
            vs = out.add_stream("mpeg4", rate=FPS)
            vs.width, vs.height = W, H
            for i, rgb in enumerate(pan_frames(3)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                out.mux(vs.encode(frame))
            out.mux(vs.encode())
        src.write_bytes(src.read_bytes().replace(b"FMP4", b"ZZZ9"))
    elif case == "same":
        dst = src
    elif case == "no_folder":
        dst = tmp_path / "missing" / "o.mp4"
    else:
        src = tmp_path / "nothing.mp4"
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=message) as exc:
        upscale_video(src, dst, nearest_x2, scale=2)
    assert "\n" not in str(exc.value)
    assert sorted(tmp_path.iterdir()) == before


def test_bt709_input_keeps_colours_and_tags(tmp_path: Path) -> None:
    # Saturated patches: decoding or encoding with the wrong matrix (BT.601 vs BT.709) moves them by 10-40 levels.
    patches = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [40, 200, 220], [128, 128, 128]])
    rgb = np.repeat(np.repeat(patches.reshape(2, 3, 3).astype(np.uint8), 24, 0), 21, 1)[:, :W]
    src = tmp_path / "bt709.mp4"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=FPS, options={"crf": "0", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        cc = vs.codec_context
        cc.colorspace = cc.color_primaries = cc.color_trc = 1  # BT.709
        cc.color_range = 1  # limited
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    dst = tmp_path / "out.mp4"
    upscale_video(src, dst, nearest_x2, scale=2, encode=EncodeSettings(crf=0))
    with av.open(str(dst)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc) == (1, 1, 1, 1)
        frame = next(c.decode(video=0))
        got = frame.to_ndarray(format="rgb24", src_colorspace="ITU709", src_color_range=1)
        wrong = frame.to_ndarray(format="rgb24", src_colorspace="ITU601", src_color_range=1)

    def centres(img: np.ndarray) -> np.ndarray:
        return img[12::48, 10::42][:2, :3].reshape(6, 3).astype(int)  # the middle of each patch, upscaled

    # Two limited-range YUV round trips cost a few levels; a matrix mix-up costs far more.
    assert np.abs(centres(got) - patches).max() <= 5
    assert np.abs(centres(wrong) - patches).max() > 15


def test_resume_refuses_a_changed_input(clips: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(clips["mp4"].read_bytes())
    dst = tmp_path / "o.mp4"

    def stop(index: int) -> None:
        raise SimulatedInterruptError

    with pytest.raises(SimulatedInterruptError):
        upscale_video(src, dst, nearest_x2, scale=2, segment_frames=5, on_segment=stop)
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(VideoError, match=r"in\.mp4 changed since .*o\.mp4\.parts was started"):
        upscale_video(src, dst, nearest_x2, scale=2, segment_frames=5, resume=True)


def test_odd_sizes_are_made_even(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("ffv1", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = 65, 49, "yuv444p"
        for i, rgb in enumerate(pan_frames(4, (65, 49))):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    result = upscale_video(src, tmp_path / "a.mp4", lambda x: x, scale=1)
    assert (result.width, result.height) == (64, 48)  # one column and row cropped, no resampling
    frames, _, _ = decode(tmp_path / "a.mp4")
    assert frames[0].shape == (48, 64, 3)
    result = upscale_video(src, tmp_path / "b.mp4", nearest_x2, scale=2, outscale=1.5)
    assert (result.width, result.height) == (98, 74)


def test_webm_gets_vp9_and_opus_and_mkv_keeps_attachments(clips: dict[str, Path], tmp_path: Path) -> None:
    result = upscale_video(clips["mp4"], tmp_path / "o.webm", nearest_x2, scale=2, duration=0.5)
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
    upscale_video(src, tmp_path / "o.mkv", nearest_x2, scale=2)
    with av.open(str(tmp_path / "o.mkv")) as c:
        attachments = [s for s in c.streams if s.type == "attachment"]
        assert len(attachments) == 1 and attachments[0].data == b"not really a font"


@pytest.mark.parametrize(("ext", "vcodec"), [("avi", "mpeg4"), ("webm", "libvpx-vp9")])
def test_other_input_containers(tmp_path: Path, ext: str, vcodec: str) -> None:
    src = make_clip(tmp_path / f"in.{ext}", vcodec=vcodec, audio="libopus" if ext == "webm" else "mp3", frames=12)
    result = upscale_video(src, tmp_path / "o.mp4", nearest_x2, scale=2)
    frames, pts, tb = decode(tmp_path / "o.mp4")
    _, src_pts, src_tb = decode(src)
    assert result.frames == len(frames) == 12
    assert [p * tb for p in pts] == [p * src_tb for p in src_pts]
    assert len(result.audio) == 1
    assert stream_seconds(tmp_path / "o.mp4", "audio") == pytest.approx(1.0, abs=0.1)
