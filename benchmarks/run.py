"""Run benchmarks: ``python -m benchmarks.run [NAME ...] [-- OPTIONS]`` (``make bench`` runs them all).

Each benchmark is a module ``benchmarks.bench_<name>`` with ``main(argv: list[str]) -> int``; options after
``--`` are passed to every selected benchmark (see ``python -m benchmarks.bench_upscale --help``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

BENCHMARKS = {
    "upscale": "benchmarks.bench_upscale",
    "video": "benchmarks.bench_video",
    "per_megapixel": "benchmarks.bench_per_megapixel",
    "ray": "benchmarks.bench_ray",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    forwarded: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, forwarded = args[:split], args[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)} (default: all)")
    names = parser.parse_args(args).names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    status = 0
    for name in names:
        print(f"== benchmark {name} ==", flush=True)
        start = time.perf_counter()
        status |= importlib.import_module(BENCHMARKS[name]).main(forwarded)
        print(f"== {name} done in {time.perf_counter() - start:.0f} s ==", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
