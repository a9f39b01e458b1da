"""Engine speed, fidelity and memory for ``make bench``: runs ``esrgan bench`` (the one implementation, in
:mod:`esrgan.bench` and :mod:`esrgan.commands.bench`).

Without arguments, two runs, each printing its tables and writing its figures as JSON under ``outputs/bench/``:

1. the comparison: realesrgan-x4plus at 256x256 and realesr-animevideov3 at 320x180, configurations plain (the
   fp32 NCHW reference), default, fp32, and torch plus each installed backend, each in a fresh process
   (``upscale.json``);
2. the linear-scaling check: realesr-animevideov3, default configuration, 128, 256, 512 and a tiled 1080p frame:
   µs per input pixel and peak memory (``linear.json``).

With arguments, one run of ``esrgan bench ARGS`` instead, e.g. a tile sweep or tiled-vs-untiled fidelity:

    python -m benchmarks.bench_upscale --sizes 512 --configs plain,fp32+tile=0,fp32+tile=128,fp32+tile=256
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

OUTPUT_DIR = Path("outputs/bench")


def main(argv: Sequence[str] | None = None) -> int:
    from esrgan.cli import main as esrgan

    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        return esrgan(["bench", *args])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    status = esrgan(["bench", "--json", str(OUTPUT_DIR / "upscale.json")])
    status |= esrgan(["bench", "--linear", "--json", str(OUTPUT_DIR / "linear.json")])
    return status


if __name__ == "__main__":
    sys.exit(main())
