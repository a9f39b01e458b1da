"""esrgan.video.reader: decoding in display order, windows, resume points and display durations."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np

from esrgan import video
from tests.video.media import FPS, H, W, pan_frames


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


def test_reader_keeps_variable_durations(clips: dict[str, Path]) -> None:
    with video.VideoReader(clips["vfr"]) as reader:
        tb = reader.info.time_base
        frames = list(reader.frames())
    assert [round(float(f.duration * tb) * 1000) for f in frames[:6]] == [40, 80, 120, 40, 80, 120]
    assert all(b.pts - a.pts == a.duration for a, b in itertools.pairwise(frames))
