"""Clips and readers for the video tests, made here with PyAV (nothing downloaded, nothing from ../shared).

The clips are a pan over skimage's "chelsea", 64x48, 12 fps, 24 frames by default, with a 440 Hz AAC track; the
"network" of most tests is :func:`nearest_x2`, so they exercise the video plumbing only.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import skimage.data
import torch
import torch.nn.functional as F

FPS = 12
W, H = 64, 48


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


def make_clips(folder: Path) -> dict[str, Path]:
    """The shared clips: rotated MP4 with AAC, silent MP4, MKV (no frame count), VFR MP4, PCM in MOV, MKV with
    subtitles."""
    return {
        "mp4": make_clip(folder / "clip.mp4", rotate=90),
        "noaudio": make_clip(folder / "silent.mp4", audio=None),
        "mkv": make_clip(folder / "clip.mkv"),
        "vfr": make_clip(folder / "vfr.mp4", durations_ms=[40, 80, 120], frames=18),
        "pcm": make_clip(folder / "pcm.mov", audio="pcm_s16le"),
        "subs": make_clip(
            folder / "subs.mkv",
            subtitles="1\n00:00:00,200 --> 00:00:00,900\nHello\n\n2\n00:00:01,000 --> 00:00:01,500\nBye\n",
        ),
    }


def write_frames(path: Path, frames: list[np.ndarray], *, codec: str = "ffv1", pix_fmt: str = "yuv444p") -> Path:
    """A video-only clip of exactly these RGB frames at 12 fps (ffv1 is lossless, any size)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    return path


class SimulatedInterruptError(Exception):
    """Raised from ``on_segment`` to stop a job the way Ctrl-C would."""


def stop_after(segments: int) -> Callable[[int], None]:
    """An ``on_segment`` callback that interrupts the job once ``segments`` segments are on disk."""

    def on_segment(index: int) -> None:
        if index == segments - 1:
            raise SimulatedInterruptError

    return on_segment
