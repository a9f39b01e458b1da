"""`esrgan upscale` and `esrgan video` end to end on a real CUDA device (marked ``gpu``; run by ``make gpu-check``).

The built-in realesr-animevideov3 runs with the defaults a GPU user gets (device auto -> cuda, precision auto ->
fp16, tile auto from free memory) and is compared with the same command on the CPU in fp32.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.cli import main

pytestmark = pytest.mark.gpu
MODEL = "realesr-animevideov3"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_upscale_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    src = tmp_path / "coffee.png"
    cv2.imwrite(str(src), skimage.data.coffee()[100:228, 200:392, ::-1])
    assert main(["upscale", str(src), "-o", str(tmp_path / "gpu.png"), "-m", MODEL, "-q"]) == 0
    assert main(["upscale", str(src), "-o", str(tmp_path / "cpu.png"), "-m", MODEL, "-q", "--device", "cpu",
                 "--precision", "fp32", "--backend", "torch"]) == 0  # fmt: skip
    gpu, cpu = cv2.imread(str(tmp_path / "gpu.png")), cv2.imread(str(tmp_path / "cpu.png"))
    assert gpu.shape == cpu.shape == (512, 768, 3)
    assert _psnr(gpu, cpu) >= 40.0


def test_two_workers_on_one_gpu_end_files_as_one(tmp_path: Path) -> None:
    """``--device cuda:0,0``: the worker pool on a real GPU (two engines sharing it) against a plain run."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        cv2.imwrite(str(src / f"c{i}.png"), skimage.data.coffee()[40 * i : 40 * i + 96, 100:228, ::-1])
    assert main(["upscale", str(src), "-o", str(tmp_path / "one"), "-m", MODEL, "-q", "--device", "cuda:0"]) == 0
    assert main(["upscale", str(src), "-o", str(tmp_path / "two"), "-m", MODEL, "-q", "--device", "cuda:0,0"]) == 0
    for one in sorted((tmp_path / "one").iterdir()):
        two = cv2.imread(str(tmp_path / "two" / one.name))
        assert two is not None and two.shape == (384, 512, 3)
        assert _psnr(cv2.imread(str(one)), two) >= 45.0  # same engine and GPU; cuDNN may pick other kernels


def _clip(path: Path, frames: int = 30, fps: int = 15) -> None:
    img = skimage.data.astronaut()
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 160, 96, "yuv420p"
        a = out.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i in range(frames):
            rgb = np.ascontiguousarray(img[100 + 2 * i : 196 + 2 * i, 150 + 3 * i : 310 + 3 * i])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        n = 44100 * frames // fps
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)
        for i in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(wave[None, i : i + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, i
            out.mux(a.encode(af))
        out.mux(a.encode())


def test_video_on_cuda_keeps_every_frame_and_the_audio(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _clip(src)
    assert main(["video", str(src), "-o", str(dst), "-m", MODEL, "-q"]) == 0
    with av.open(str(dst)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        audio_in = [bytes(p) for p in a.demux(audio=0) if p.size]
        audio_out = [bytes(p) for p in b.demux(audio=0) if p.size]
    assert len(frames) == 30 and frames[0].shape == (384, 640, 3)
    assert audio_in == audio_out
