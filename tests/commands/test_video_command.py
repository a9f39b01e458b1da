"""`esrgan video` end to end, in-process through esrgan.cli.main, with a tiny random x2 model saved to tmp.

Clips are made here with PyAV: a pan over skimage's "chelsea" (64x48, 12 fps, 24 frames) with a 440 Hz AAC
track, rotated 90 degrees by display-matrix side data.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
import torch

import esrgan.video
from esrgan.archs import SRVGGNetCompact
from esrgan.cli import build_parser, main
from esrgan.commands import video as video_command
from esrgan.device import resolve_precision
from esrgan.models import save_model

FPS, W, H, N = 12, 64, 48, 24


def make_clip(path: Path, *, audio: bool = True, rotate: float | None = 90) -> Path:
    img = skimage.data.chelsea()
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=FPS)
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    vs.options = {"crf": "10", "preset": "ultrafast"}
    if rotate is not None:
        vs.set_display_rotation(rotate)
    a = out.add_stream("aac", rate=44100) if audio else None
    if a is not None:
        a.layout = "mono"
    for i in range(N):
        rgb = np.ascontiguousarray(img[40 + 2 * i : 40 + 2 * i + H, 60 + 3 * i : 60 + 3 * i + W])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        out.mux(vs.encode(frame))
    out.mux(vs.encode())
    if a is not None:
        n = 44100 * N // FPS
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)
        for i in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(wave[None, i : i + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, i
            out.mux(a.encode(af))
        out.mux(a.encode())
    out.close()
    return path


def decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.to_ndarray(format="rgb24"), float(f.pts * s.time_base)) for f in c.decode(s)]
    return [f for f, _ in frames], [t for _, t in frames]


def audio_packets(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return [(float(p.pts * s.time_base), bytes(p)) for p in c.demux(s) if p.size]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video_cli")
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2)
    save_model(net, d / "tiny.pth")
    return {
        "model": d / "tiny.pth",
        "mp4": make_clip(d / "clip.mp4"),
        "mkv": make_clip(d / "clip.mkv", rotate=None),
    }


def run(files: dict[str, Path], src: Path, dst: Path, *extra: str, quiet: bool = True) -> int:
    # --tile 0: the clips are tiny, and the automatic tile size costs a one-off few seconds per process.
    flags = ["-q"] if quiet else []
    return main(["video", str(src), "-o", str(dst), "-m", str(files["model"]), *flags, "--tile", "0", *extra])


def test_upscales_and_keeps_timing_rotation_and_audio(files: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    assert run(files, files["mp4"], dst) == 0
    frames, times = decode(dst)
    _, src_times = decode(files["mp4"])
    assert len(frames) == N and frames[0].shape == (2 * H, 2 * W, 3)
    assert times == src_times
    info = esrgan.video.probe_video(dst)
    assert (info.codec, info.pix_fmt, info.frame_rate) == ("h264", "yuv420p", FPS)
    assert info.duration == pytest.approx(N / FPS) and info.rotation == pytest.approx(90)
    assert audio_packets(dst) == audio_packets(files["mp4"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize(("outscale", "size"), [("1.5", (96, 72)), ("3", (192, 144)), ("1.3", (84, 62))])
def test_outscale_resizes_to_even_sizes(files: dict[str, Path], tmp_path: Path, outscale: str, size: tuple) -> None:
    dst = tmp_path / "s.mp4"
    assert run(files, files["mp4"], dst, "-s", outscale, "--duration", "0.25") == 0
    info = esrgan.video.probe_video(dst)
    assert (info.width, info.height) == size


def test_mkv_without_frame_count_shows_progress_without_total(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("esrgan.commands.progress.on_terminal", lambda stream=None: True)  # bars are for terminals
    dst = tmp_path / "out.mkv"
    argv = ["video", str(files["mkv"]), "-o", str(dst), "-m", str(files["model"]), "--batch", "4", "--tile", "0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"{N}.0 frames" in err and f"/{N}" not in err  # a count, no total
    assert len(decode(dst)[0]) == N


def test_start_and_duration(files: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "cut.mp4"
    assert run(files, files["mp4"], dst, "--start", "0:00.5", "--duration", "1") == 0
    frames, times = decode(dst)
    assert len(frames) == 12 and times[0] == 0
    packets = audio_packets(dst)
    assert packets and packets[-1][0] - packets[0][0] == pytest.approx(1.0, abs=0.05)


def test_interrupted_run_resumes_to_the_same_frames(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    straight = tmp_path / "straight.mp4"
    assert run(files, files["mp4"], straight, "--segment-frames", "5") == 0

    dst = tmp_path / "out.mp4"

    def ctrl_c_after_two(index: int) -> None:
        if index == 1:
            raise KeyboardInterrupt

    original = esrgan.video.upscale_video
    monkeypatch.setattr(esrgan.video, "upscale_video", functools.partial(original, on_segment=ctrl_c_after_two))
    assert run(files, files["mp4"], dst, "--segment-frames", "5") == 130
    monkeypatch.setattr(esrgan.video, "upscale_video", original)
    assert not dst.exists() and esrgan.video.parts_folder(dst).is_dir()

    caplog.clear()
    assert run(files, files["mp4"], dst, "--segment-frames", "5", "--resume", "--crf", "23") == 2
    assert "different settings (crf: 18 → 23)" in caplog.text

    caplog.set_level(logging.INFO)
    assert run(files, files["mp4"], dst, "--segment-frames", "5", "--resume", quiet=False) == 0
    assert "resuming" in caplog.text and "10 frames" in caplog.text
    frames, times = decode(dst)
    ref_frames, ref_times = decode(straight)
    assert times == ref_times
    assert all(np.array_equal(a, b) for a, b in zip(frames, ref_frames, strict=True))
    assert not esrgan.video.parts_folder(dst).exists()


def test_resume_compares_the_engine_as_built(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dst = tmp_path / "out.mp4"

    def ctrl_c(index: int) -> None:
        raise KeyboardInterrupt

    original = esrgan.video.upscale_video
    monkeypatch.setattr(esrgan.video, "upscale_video", functools.partial(original, on_segment=ctrl_c))
    assert run(files, files["mp4"], dst, "--segment-frames", "5", "--precision", "fp32") == 130
    monkeypatch.setattr(esrgan.video, "upscale_video", original)
    manifest = json.loads((esrgan.video.parts_folder(dst) / "manifest.json").read_text())
    assert {k: manifest["settings"][k] for k in ("backend", "precision", "compile", "tile")} == {
        "backend": "torch", "precision": "fp32", "compile": False, "tile": 0,
    }  # fmt: skip

    caplog.clear()
    monkeypatch.setattr(torch, "compile", lambda net, **kwargs: net)  # the real one costs seconds to import
    assert run(files, files["mp4"], dst, "--segment-frames", "5", "--resume", "--precision", "fp32", "--compile") == 2
    assert "different settings (compile: False → True)" in caplog.text
    # "auto" is compared as resolved: it continues the fp32 run exactly where auto means fp32 on this machine.
    auto_is_fp32 = resolve_precision("auto", torch.device("cpu")) == torch.float32
    caplog.clear()
    code = run(files, files["mp4"], dst, "--segment-frames", "5", "--resume", "--precision", "auto")
    assert code == (0 if auto_is_fp32 else 2)
    assert auto_is_fp32 or "different settings (precision: 'fp32' → 'bf16')" in caplog.text


def test_gray_model_upscales_video(files: dict[str, Path], tmp_path: Path) -> None:
    gray = tmp_path / "gray.pth"
    save_model(SRVGGNetCompact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=1, upscale=2), gray)
    dst = tmp_path / "g.mp4"
    argv = ["video", str(files["mp4"]), "-o", str(dst), "-m", str(gray), "-q", "--tile", "0", "--duration", "0.25"]
    assert main(argv) == 0
    frames, _ = decode(dst)
    assert len(frames) == 3 and frames[0].shape == (2 * H, 2 * W, 3)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("corrupt", "junk.mp4: not a readable media file"),
        ("same", "is the input file"),
        ("no_folder", "output folder does not exist"),
        ("codec", "unknown video encoder 'h266'; available:"),
        ("container", "cannot hold libx264"),
        ("preset", "libx264 refused --crf 18, --preset turbo"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str, message: str
) -> None:
    src, dst, extra = files["mp4"], tmp_path / "o.mp4", []
    if case == "corrupt":
        src = tmp_path / "junk.mp4"
        src.write_bytes(b"not a video at all" * 100)
    elif case == "same":
        dst = src
    elif case == "no_folder":
        dst = tmp_path / "nope" / "o.mp4"
    elif case == "codec":
        extra = ["--codec", "h266"]
    elif case == "preset":
        extra = ["--preset", "turbo"]
    else:
        dst, extra = tmp_path / "o.webm", ["--codec", "libx264"]
    assert run(files, src, dst, *extra) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0]
    assert not dst.exists() or dst == src


def test_output_frames_are_bounded_before_the_engine(
    files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model may declare any scale (issue 12, kind 3): the frames it would make are checked against
    --max-output-pixels once it is loaded, before the engine is prepared; one line naming the flag, exit 2."""
    from esrgan.inference.upscaler import Upscaler

    monkeypatch.setattr(Upscaler, "from_options", lambda *a, **k: pytest.fail("prepared the engine"))
    dst = tmp_path / "o.mp4"
    assert run(files, files["mp4"], dst, "--max-output-pixels", "10000") == 2  # 128x96 at x2 = 12288
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"{files['mp4']}: the output frames would be {2 * W}x{2 * H} (0.0 MP), above --max-output-pixels 10000; "
        "lower -s/--outscale, or pass --max-output-pixels 0 to allow it"
    ]
    assert not dst.exists()


def test_help_names_models_and_the_library_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["video", "in.mp4", "-o", "out.mp4"])
    assert args.segment_frames == esrgan.video.DEFAULT_SEGMENT_FRAMES == 300
    assert args.pix_fmt == esrgan.video.EncodeSettings().pix_fmt
    with pytest.raises(SystemExit):
        main(["video", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "realesr-animevideov3" in out and "--resume" in out and "libx264" in out
    assert "(default 300)" in out and "default 18 for libx264" in out and "default veryfast for x264" in out


def test_help_imports_neither_torch_nor_av() -> None:
    code = (
        "import sys; from esrgan.cli import build_parser; build_parser(); "
        "print(sorted({'torch', 'av'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_library_words_become_flags() -> None:
    message = (
        "encoder libx264 refused crf=18, preset=turbo (Invalid argument); valid: crf=0..51; preset=ultrafast, "
        "veryfast; pix_fmt=rgb48le; run with resume=False to start over, or again with resume=True"
    )
    assert video_command.as_flags(message) == (
        "encoder libx264 refused --crf 18, --preset turbo (Invalid argument); valid: --crf 0..51; --preset "
        "ultrafast, veryfast; --pix-fmt rgb48le; run without --resume to start over, or again with --resume"
    )
    assert video_command.as_flags("the video codec (unknown) cannot be decoded") == (
        "the video codec (unknown) cannot be decoded"
    )


def test_parse_time() -> None:
    assert video_command.parse_time("90") == 90
    assert video_command.parse_time("1:30") == 90
    assert video_command.parse_time("1:02:03.5") == 3723.5
    for bad in ("abc", "1:75", "-3"):
        with pytest.raises(argparse.ArgumentTypeError):
            video_command.parse_time(bad)


# ---- several workers (issue 17): the segments spread, the local run's frames and audio


def test_two_local_workers_make_the_local_runs_video(files: dict[str, Path], tmp_path: Path) -> None:
    local, spread = tmp_path / "local.mp4", tmp_path / "two.mp4"
    extra = ("--segment-frames", "5", "--precision", "fp32", "--backend", "torch")
    assert run(files, files["mp4"], local, "--device", "cpu", *extra) == 0
    assert run(files, files["mp4"], spread, "--device", "cpu,cpu", *extra) == 0
    assert spread.read_bytes() == local.read_bytes()
    assert audio_packets(spread) == audio_packets(files["mp4"])


def test_a_local_run_resumes_one_on_workers(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from esrgan.cluster import video as cluster_video
    from esrgan.video.split import InOrderCommits

    extra = ("--segment-frames", "5", "--precision", "fp32", "--backend", "torch")
    whole, dst = tmp_path / "whole.mp4", tmp_path / "dst.mp4"
    assert run(files, files["mp4"], whole, "--device", "cpu", *extra) == 0

    add = InOrderCommits.add

    def add_then_stop(self: InOrderCommits, index: int, *args: object) -> list:
        committed = add(self, index, *args)
        if len(self.job.manifest.segments) >= 2:
            raise KeyboardInterrupt
        return committed

    monkeypatch.setattr(cluster_video.InOrderCommits, "add", add_then_stop)
    assert run(files, files["mp4"], dst, "--device", "cpu,cpu", *extra) == 130
    monkeypatch.undo()
    assert run(files, files["mp4"], dst, "--device", "cpu", "--resume", *extra) == 0
    assert dst.read_bytes() == whole.read_bytes()


@pytest.mark.ray
def test_two_ray_workers_make_the_local_runs_frames_and_audio(
    ray_instance: object, files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local, on_ray = tmp_path / "local.mp4", tmp_path / "ray.mp4"
    extra = ("--segment-frames", "5", "--precision", "fp32", "--backend", "torch")
    assert run(files, files["mp4"], local, "--device", "cpu", *extra) == 0
    with caplog.at_level(logging.INFO):
        # not -q: the per-worker summary is INFO, which -q (warnings and errors only) leaves out
        assert run(files, files["mp4"], on_ray, "--ray", "--workers", "2", "--device", "cpu", *extra, quiet=False) == 0
    frames_local, times_local = decode(local)
    frames_ray, times_ray = decode(on_ray)
    assert times_ray == times_local and all((a == b).all() for a, b in zip(frames_local, frames_ray, strict=True))
    assert audio_packets(on_ray) == audio_packets(local) == audio_packets(files["mp4"])
    summary = [r.getMessage() for r in caplog.records if r.name == "esrgan.commands.workers"]
    summary = [m for m in summary if m.startswith("w")]  # (after "2 Ray worker(s), 1 CPUs ...")
    assert [m.split(" ")[0] for m in summary] == ["w0", "w1"] and all(" segments in " in m for m in summary)
