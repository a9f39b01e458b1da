"""esrgan.video.settings: a job's settings are checked once, naming the library's own arguments."""

from __future__ import annotations

import math

import pytest

from esrgan.video import EncodeSettings, VideoSettings


def test_defaults() -> None:
    s = VideoSettings(scale=4)
    assert (s.outscale, s.channels, s.encode, s.batch_size, s.resume) == (None, 3, EncodeSettings(), 1, False)
    assert s.segment_frames == 300 and s.encode.pix_fmt == "yuv420p"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale must be a whole number >= 1, got 0"),
        ({"outscale": 0.0}, "outscale must be > 0 and <= 32, got 0.0"),
        ({"outscale": math.inf}, "outscale must be > 0 and <= 32, got inf"),
        ({"channels": 2}, "channels must be one of 1, 3, 4, got 2"),
        ({"start": -1.0}, "start must be >= 0 seconds"),
        ({"duration": 0.0}, "duration must be > 0 seconds"),
        ({"segment_frames": 0}, r"segment_frames must be 1\.\.2147483647, got 0"),
        ({"batch_size": 0}, r"batch_size must be 1\.\.256, got 0"),
    ],
)
def test_bad_values_are_refused_in_library_words(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        VideoSettings(**{"scale": 2, **kwargs})  # type: ignore[arg-type]
    assert "--" not in str(exc.value)
