"""esrgan.video.pipeline: whole jobs. Timing, rotation and audio kept; windows; resume frame-exact and refused for
another job or engine; failures leave nothing behind; frames treated exactly as images (outscale, channels)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from esrgan import video
from esrgan.archs import SRVGGNetCompact
from esrgan.inference import Upscaler
from esrgan.inference.pipeline import upscale_image
from esrgan.video import EncodeSettings, VideoError, VideoSettings, upscale_video
from tests.video.media import (
    FPS,
    H,
    SimulatedInterruptError,
    W,
    audio_packets,
    decode,
    nearest_x2,
    pan_frames,
    stop_after,
    stream_seconds,
    write_frames,
)

# Lossless output (x264 in RGB at qp 0): frames can be compared with the image path bit for bit.
LOSSLESS = EncodeSettings(codec="libx264rgb", crf=0, preset="ultrafast", pix_fmt="rgb24")


def test_upscale_keeps_timing_rotation_and_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    src, dst = clips["mp4"], tmp_path / "out.mp4"
    reports: list[tuple[int, int | None]] = []
    settings = VideoSettings(scale=2, segment_frames=10)
    result = upscale_video(src, dst, nearest_x2, settings, progress=lambda d, t: reports.append((d, t)))
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
    assert 0 < result.network_seconds <= result.seconds


def test_variable_frame_rate_keeps_timestamps(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "vfr_out.mp4"
    upscale_video(clips["vfr"], dst, nearest_x2, VideoSettings(scale=2, segment_frames=4))
    _, pts, tb = decode(dst)
    _, src_pts, src_tb = decode(clips["vfr"])
    assert [p * tb for p in pts] == [p * src_tb for p in src_pts]
    assert len(set(np.diff(src_pts).tolist())) == 3  # really variable
    assert stream_seconds(dst) == pytest.approx(stream_seconds(clips["vfr"]))


def test_start_and_duration_cut_video_and_audio_alike(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "slice.mp4"
    settings = VideoSettings(scale=2, start=0.5, duration=1.0, segment_frames=5)
    result = upscale_video(clips["mp4"], dst, nearest_x2, settings)
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


def test_resume_after_interruption_matches_a_straight_run(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["mp4"]
    job = VideoSettings(scale=2, segment_frames=5, batch_size=2)
    straight = tmp_path / "straight.mp4"
    upscale_video(src, straight, nearest_x2, job)

    dst = tmp_path / "out.mp4"
    with pytest.raises(SimulatedInterruptError):
        upscale_video(src, dst, nearest_x2, job, on_segment=stop_after(2))
    parts = video.parts_folder(dst)
    assert not dst.exists() and not list(tmp_path.glob(".out*"))
    manifest = json.loads((parts / "manifest.json").read_text())
    assert [s["frames"] for s in manifest["segments"]] == [5, 5]

    # Different settings: refused, and nothing is lost.
    other = VideoSettings(scale=2, segment_frames=5, encode=EncodeSettings(crf=30), resume=True)
    with pytest.raises(VideoError, match=r"different settings \(crf: 18 → 30\)"):
        upscale_video(src, dst, nearest_x2, other)
    assert len(json.loads((parts / "manifest.json").read_text())["segments"]) == 2

    seen: list[int] = []

    def counting(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return nearest_x2(x)

    reports: list[int] = []
    resume = VideoSettings(scale=2, segment_frames=5, batch_size=2, resume=True)
    result = upscale_video(src, dst, counting, resume, progress=lambda d, t: reports.append(d))
    assert result.resumed_frames == 10 and sum(seen) == 14 and reports[0] == 10
    frames, pts, _ = decode(dst)
    ref_frames, ref_pts, _ = decode(straight)
    assert pts == ref_pts
    assert all(np.array_equal(a, b) for a, b in zip(frames, ref_frames, strict=True))
    assert audio_packets(dst) == audio_packets(straight)
    assert not parts.exists()


def test_resume_with_another_engine_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    engine = {"model": "ab12", "backend": "torch", "precision": "fp32", "compile": False, "tile": 0}
    dst = tmp_path / "o.mp4"
    with pytest.raises(SimulatedInterruptError):
        job = VideoSettings(scale=2, segment_frames=5)
        upscale_video(clips["mp4"], dst, nearest_x2, job, engine=engine, on_segment=stop_after(1))
    resume = VideoSettings(scale=2, segment_frames=5, resume=True)
    for change, diff in [({"backend": "openvino"}, "backend: 'torch' → 'openvino'"), ({"compile": True}, "compile")]:
        with pytest.raises(VideoError, match=rf"different settings \({diff}"):
            upscale_video(clips["mp4"], dst, nearest_x2, resume, engine={**engine, **change})
    seen: list[int] = []
    result = upscale_video(clips["mp4"], dst, lambda x: seen.append(len(x)) or nearest_x2(x), resume, engine=engine)
    assert result.resumed_frames == 5 and sum(seen) == 19


def test_rerun_without_resume_starts_over(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"
    job = VideoSettings(scale=2, segment_frames=5)
    with pytest.raises(SimulatedInterruptError):
        upscale_video(clips["mp4"], dst, nearest_x2, job, on_segment=stop_after(1))
    seen: list[int] = []
    upscale_video(clips["mp4"], dst, lambda x: seen.append(len(x)) or nearest_x2(x), job)
    assert sum(seen) == 24


def test_resume_of_a_finished_output_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    """``--resume`` after a run that finished redid everything and replaced the output."""
    dst = tmp_path / "o.mp4"
    upscale_video(clips["mp4"], dst, nearest_x2, VideoSettings(scale=2, segment_frames=5))
    before = (dst.read_bytes(), dst.stat().st_mtime_ns)
    seen: list[int] = []
    with pytest.raises(VideoError, match=r"o\.mp4 already exists and there is nothing to resume .*that run finished"):
        upscale_video(clips["mp4"], dst, lambda x: seen.append(len(x)) or nearest_x2(x),
                      VideoSettings(scale=2, segment_frames=5, resume=True))  # fmt: skip
    assert not seen and (dst.read_bytes(), dst.stat().st_mtime_ns) == before


def test_failure_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        upscale_video(clips["mp4"], dst, broken, VideoSettings(scale=2))
    assert list(tmp_path.iterdir()) == []


def test_encoder_failure_is_raised_and_done_segments_kept(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"

    def fail_on_second(index: int) -> None:
        if index == 1:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):  # the encoder thread's error, not a "stopped"
        upscale_video(
            clips["mp4"], dst, nearest_x2, VideoSettings(scale=2, segment_frames=5), on_segment=fail_on_second
        )
    manifest = json.loads((video.parts_folder(dst) / "manifest.json").read_text())
    assert len(manifest["segments"]) == 2 and not dst.exists()


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
        src = write_frames(tmp_path / "odd.avi", pan_frames(3), codec="mpeg4", pix_fmt="yuv420p")
        src.write_bytes(src.read_bytes().replace(b"FMP4", b"ZZZ9"))
    elif case == "same":
        dst = src
    elif case == "no_folder":
        dst = tmp_path / "missing" / "o.mp4"
    else:
        src = tmp_path / "nothing.mp4"
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=message) as exc:
        upscale_video(src, dst, nearest_x2, VideoSettings(scale=2))
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
    upscale_video(src, dst, nearest_x2, VideoSettings(scale=2, encode=EncodeSettings(crf=0)))
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
    with pytest.raises(SimulatedInterruptError):
        upscale_video(src, dst, nearest_x2, VideoSettings(scale=2, segment_frames=5), on_segment=stop_after(1))
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(VideoError, match=r"in\.mp4 changed since .*o\.mp4\.parts was started"):
        upscale_video(src, dst, nearest_x2, VideoSettings(scale=2, segment_frames=5, resume=True))


def test_odd_sizes_are_made_even(tmp_path: Path) -> None:
    src = write_frames(tmp_path / "odd.mkv", pan_frames(4, (65, 49)))
    result = upscale_video(src, tmp_path / "a.mp4", lambda x: x, VideoSettings(scale=1))
    assert (result.width, result.height) == (64, 48)  # one column and row cropped, no resampling
    frames, _, _ = decode(tmp_path / "a.mp4")
    assert frames[0].shape == (48, 64, 3)
    result = upscale_video(src, tmp_path / "b.mp4", nearest_x2, VideoSettings(scale=2, outscale=1.5))
    assert (result.width, result.height) == (98, 74)


def image_outputs(src: Path, upscale: object, *, channels: int, scale: int, outscale: float | None) -> list[np.ndarray]:
    """What `esrgan upscale` makes of each decoded frame of ``src``, one image at a time, as uint8 frames."""
    with video.VideoReader(src) as reader:
        frames = [f.rgb for f in reader.frames()]
    out = []
    for rgb in frames:
        x = video.frames_to_tensor([rgb])
        sr, _ = upscale_image(upscale, x, None, net_channels=channels, scale=scale, outscale=outscale)  # type: ignore[arg-type]
        out.append(video.tensor_to_frames(sr)[0])
    return out


@pytest.mark.parametrize("outscale", [1.5, 0.75])
def test_outscale_frames_are_the_images_outputs(tmp_path: Path, outscale: float) -> None:
    # One resize and one output size for `-s` in images and video: the same pixels (lossless output here).
    src = write_frames(tmp_path / "in.mkv", pan_frames(4))
    dst = tmp_path / "out.mkv"
    result = upscale_video(src, dst, nearest_x2, VideoSettings(scale=2, outscale=outscale, encode=LOSSLESS))
    assert (result.width, result.height) == (round(W * outscale), round(H * outscale))
    got, _, _ = decode(dst)
    want = image_outputs(src, nearest_x2, channels=3, scale=2, outscale=outscale)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_four_channel_models_upscale_video_as_images(tmp_path: Path, channels: int) -> None:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_in_ch=channels, num_out_ch=channels, num_feat=8, num_conv=1, upscale=2)
    upscaler = Upscaler(net, tile=0, precision="fp32", device="cpu", backend="torch")
    src = write_frames(tmp_path / "in.mkv", pan_frames(3))
    dst = tmp_path / "out.mkv"
    job = VideoSettings(scale=2, channels=channels, encode=LOSSLESS)
    upscale_video(src, dst, upscaler, job, engine=upscaler.resolved_settings())
    got, _, _ = decode(dst)
    want = image_outputs(src, upscaler, channels=channels, scale=2, outscale=None)
    assert len(got) == 3 and got[0].shape == (2 * H, 2 * W, 3)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
