"""Seconds per input megapixel of each built-in model with the engine's defaults, for the README's table.

One interior tile is timed: a 288x288 window (a 256x256 core, the CPU's automatic tile, plus 16 pixels of context
on each side), after a small warm-up call, as each tile of a large image costs. Seconds per megapixel = the
window's time / the core's 65,536 pixels.

    python -m benchmarks.bench_per_megapixel [MODEL ...]      # default: the three built-in models
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

CORE, CONTEXT = 256, 16


def main(argv: Sequence[str] | None = None) -> int:
    import skimage.data
    import torch

    from esrgan.allocator import tune_cpu_allocator
    from esrgan.inference import Upscaler
    from esrgan.models import BUILTIN_MODELS, load_model

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_per_megapixel", description=__doc__)
    parser.add_argument("models", nargs="*", default=[m.name for m in BUILTIN_MODELS], metavar="MODEL")
    args = parser.parse_args(argv)
    tune_cpu_allocator()  # as the esrgan command runs
    side = CORE + 2 * CONTEXT
    photo = torch.from_numpy(skimage.data.astronaut()[100 : 100 + side, 100 : 100 + side].copy())
    window = photo.permute(2, 0, 1)[None].float() / 255
    for name in args.models:
        net, _ = load_model(name)
        upscaler = Upscaler(net, tile=0)
        upscaler(window[:, :, :32, :32])  # warm-up: oneDNN primitives, a compiled backend's first call
        started = time.perf_counter()
        upscaler(window)
        seconds = time.perf_counter() - started
        rate = upscaler.flops_per_pixel * side * side / seconds / 1e9
        print(
            f"{name}: {seconds / (CORE * CORE / 1e6):,.0f} s per megapixel ({upscaler.backend}, "
            f"{str(upscaler.dtype).removeprefix('torch.')}, {rate:,.0f} GFLOP/s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
