"""Write a distilled student as the packaged built-in ``realesrgan-x4plus-fast`` and print its static facts.

    python -m tools.ship_student experiments/distill_x4plus_compact_cpu/models/net_g_latest.pth

writes ``esrgan/weights/realesrgan-x4plus-fast.safetensors`` (fp32 tensors; its provenance, teacher and licence in
the ``esrgan`` metadata) and prints the values of its :class:`esrgan.models.zoo.BuiltinModel` entry (parameters,
GFLOP per input megapixel, SHA-256); ``tests/models/test_zoo.py`` checks that entry against the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esrgan.commands.info import describe_loaded
from esrgan.models import load_model, save_model
from esrgan.models.zoo import WEIGHTS_DIR

NAME = "realesrgan-x4plus-fast"
PROVENANCE = (
    "distilled from realesrgan-x4plus by esrgan (options/distill_realesrgan_x4plus_compact_cpu.yml: T91 and "
    "scikit-image's photos, LR at x2/x3/x4 below them, 4200 iterations on a 2-core CPU), started from "
    "realesr-animevideov3"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", help="the trained generator (net_g_*.pth of the distillation run)")
    parser.add_argument("-o", "--output", type=Path, default=WEIGHTS_DIR / f"{NAME}.safetensors")
    args = parser.parse_args(argv)
    net, info = load_model(args.student)
    if info.scale != 4:
        parser.error(f"{args.student}: a x{info.scale} network; {NAME} is x4")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    meta = {"name": NAME, "teacher": "realesrgan-x4plus", "licence": "BSD-3-Clause", "provenance": PROVENANCE}
    save_model(net, args.output, extra=meta)
    facts = describe_loaded(str(args.output))  # what `esrgan info FILE` reports: the zoo entry's facts
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")
    print(f"arch={facts['arch']} hparams={facts['hparams']}")
    print(f"num_params={facts['parameters']:_} gflop_per_megapixel={facts['gflop_per_input_megapixel']}")
    print(f"weights_sha256={facts['sha256']!r}")
    print(f"source_format={facts['format']!r} recognised={facts['recognised']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
