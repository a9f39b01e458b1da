"""esrgan.cluster.images: packed images come back exactly; files over two workers end as upscale_file ends them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from esrgan.archs import SRVGGNetCompact
from esrgan.cluster import Scheduler, ThreadPool
from esrgan.cluster.engine import EngineSpec, NetworkRecipe
from esrgan.cluster.images import FileTask, ImageJob, PackedImage, upscale_files_on
from esrgan.image import ImageData, read_image
from esrgan.inference import EngineOptions, Upscaler, upscale_file

ENGINE = EngineOptions(tile=0, precision="fp32", backend="torch", device="cpu")


@pytest.mark.parametrize(("dtype", "depth"), [(np.uint8, 8), (np.uint16, 16)])
def test_packed_samples_give_back_the_exact_floats(tmp_path: Path, dtype: type, depth: int) -> None:
    top = np.iinfo(dtype).max
    values = np.arange(0, top + 1, max(1, (top + 1) // 4096), dtype=np.int64)
    stored = np.resize(values, 64 * 64 * 4).reshape(64, 64, 4).astype(dtype)
    cv2.imwrite(str(tmp_path / "a.png"), stored)
    image = read_image(tmp_path / "a.png")
    packed = PackedImage.pack(image)
    assert packed.pixels.dtype == dtype and packed.alpha is not None and packed.alpha.dtype == dtype
    back = packed.unpack()
    assert np.array_equal(back.pixels, image.pixels) and np.array_equal(back.alpha, image.alpha)
    assert back.bit_depth == depth and back.path == image.path


def test_floats_that_are_not_samples_travel_as_floats() -> None:
    image = ImageData(pixels=np.full((2, 2, 3), 0.3333, np.float32), bit_depth=8)  # not k/255
    packed = PackedImage.pack(image)
    assert packed.pixels.dtype == np.float32 and np.array_equal(packed.unpack().pixels, image.pixels)


def test_files_over_two_workers_end_as_upscale_file_ends_them(tmp_path: Path) -> None:
    net = SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        cv2.imwrite(str(src / f"p{i}.png"), skimage.data.coffee()[i * 10 : i * 10 + 20, :24])
    (src / "bad.png").write_bytes(b"not a png")
    tasks = [FileTask(p, tmp_path / "spread" / p.stem, "auto") for p in sorted(src.iterdir())]
    upscaler = Upscaler.from_options(NetworkRecipe.of(net).build(), ENGINE)
    for task in tasks[1:]:
        upscale_file(task.source, tmp_path / "local" / task.source.stem, upscaler, ext="auto")

    pool = ThreadPool(ImageJob(EngineSpec(NetworkRecipe.of(net), ENGINE), quality=90), ["cpu", "cpu"])
    scheduler = Scheduler(pool)
    scheduler.start()
    ended: list[int] = []
    try:
        outcomes = list(upscale_files_on(scheduler, tasks, on_done=lambda: ended.append(1)))
    finally:
        pool.close()
    assert [o.task for o in outcomes] == tasks, "outcomes in task order"
    assert len(ended) == 7
    assert isinstance(outcomes[0].error, ValueError) and "bad.png: not a PNG, JPEG, WebP, BMP, TIFF or GIF file" in str(
        outcomes[0].error
    )
    for outcome in outcomes[1:]:
        assert outcome.error is None and outcome.result is not None
        assert outcome.result.target.read_bytes() == (tmp_path / "local" / outcome.result.target.name).read_bytes()
    assert sum(s.items for s in scheduler.stats) == 6, "the bad file never reached a worker"
    assert all(s.items >= 2 for s in scheduler.stats), "each worker got two items at the start"
