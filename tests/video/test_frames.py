"""esrgan.video.frames: uint8 frames <-> float tensors, and output frames sized and resampled as images are."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from esrgan import video
from esrgan.inference.pipeline import output_size, resize, run_channels, upscale_image
from tests.video.media import H, W, nearest_x2, pan_frames


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


def test_frame_size_is_the_image_size_made_even() -> None:
    assert video.frame_size(64, 48, 4, None) == (256, 192)
    assert video.frame_size(65, 49, 1, None) == (64, 48)  # odd: one pixel cropped
    assert video.frame_size(64, 48, 4, 1.5) == (96, 72)
    assert video.frame_size(65, 49, 4, 1.5) == (98, 74)  # 97.5, 73.5: the image sizes 98, 74 are even already
    assert video.frame_size(64, 48, 4, 1.3) == (84, 62)  # 83.2 → image 83 → the nearer even side, 84
    assert video.frame_size(64, 48, 4, 1.2) == (76, 58)  # 76.8 → 77 → 76; 57.6 → 58
    assert video.frame_size(5, 3, 1, 0.1) == (2, 2)  # at least 2
    for width in range(20, 40):
        for outscale in (0.5, 0.7, 1.3, 2.0, 2.5, 3.1):
            image_h, image_w = output_size(width + 3, width, outscale)
            w, h = video.frame_size(width, width + 3, 4, outscale)
            assert w % 2 == h % 2 == 0 and abs(w - image_w) <= 1 and abs(h - image_h) <= 1
            assert abs(w - width * outscale) <= 1 and abs(h - (width + 3) * outscale) <= 1
    with pytest.raises(ValueError, match="outscale must be positive"):
        video.frame_size(64, 48, 4, 0)


def test_fit_frames_crops_parity_and_resizes_as_images_are() -> None:
    x = video.frames_to_tensor(pan_frames(2, (65, 49)))
    assert torch.equal(video.fit_frames(x, (64, 48)), x[..., :48, :64])  # a crop, no resampling
    assert torch.equal(video.fit_frames(x, (65, 49)), x)
    grown = video.fit_frames(x, (130, 98))
    assert grown.shape == (2, 3, 98, 130) and torch.equal(grown, resize(x, (98, 130)))
    small = video.fit_frames(x, (32, 24))
    assert small.shape == (2, 3, 24, 32) and torch.equal(small, resize(x, (24, 32)))
    # Antialiased when shrinking: the mean level is kept.
    assert abs(float(small.mean()) - float(x.mean())) < 3 / 255


@pytest.mark.parametrize("outscale", [None, 0.75, 1.5, 3.0])
def test_outscale_gives_frames_the_pixels_of_images(outscale: float | None) -> None:
    # What the job does per batch, against what `esrgan upscale` does to the same picture (even sizes here).
    x = video.frames_to_tensor(pan_frames(2))
    size = video.frame_size(W, H, 2, outscale)
    frames = video.fit_frames(run_channels(nearest_x2, x, 3), size)
    images, _ = upscale_image(nearest_x2, x, None, net_channels=3, scale=2, outscale=outscale)
    assert torch.equal(frames, images)
