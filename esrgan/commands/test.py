"""``esrgan test``: PSNR / SSIM of a model (or the bicubic baseline) on benchmark sets, as SR papers report them.

The protocol (pairing, LR images, 8-bit rounding, Y channel, crop border) is :mod:`esrgan.evaluation`; this verb
turns flags (and an optional YAML file) into :class:`esrgan.evaluation.TestOptions`, runs the evaluation and prints
the tables. ``-m bicubic`` scores MATLAB bicubic upscaling of the LR image, the papers' baseline.

    esrgan test -m realesrgan-x4plus --hr Set5/HR [--lr Set5/LR_bicubic/X4] --csv set5.csv
    esrgan test -opt options/test_bicubic_x4.yml [--set scale=2]
    esrgan test -m MODEL --hr Set5/HR --degradation degrade_test_x4 --seed 0    (degraded LR made in memory)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esrgan.commands.common import add_engine_args
from esrgan.errors import OptionsError
from esrgan.options import field_arg_type

# Imported when a value is parsed (esrgan.evaluation imports torch).
_OPTIONS = "esrgan.evaluation.options:TestOptions"

if TYPE_CHECKING:
    from collections.abc import Iterator

    from esrgan.evaluation import ImageFailure, Pair, TestOptions

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "test",
        help="PSNR/SSIM on benchmark sets (papers' protocol)",
        description="Score a model, or the bicubic baseline (-m bicubic), with PSNR/SSIM on the Y channel as SR "
        "papers do. Give one set with --hr [--lr] or several in a YAML file with -opt.",
    )
    p.add_argument("-opt", "--opt", dest="opt", type=Path, help="YAML options file, or a shipped one's name "
                   "(test_bicubic_x4; `esrgan options list`)")  # fmt: skip
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set any option, e.g. --set scale=2 (repeatable; applied last)")  # fmt: skip
    p.add_argument("-m", "--model", help="built-in model name, weights file, or 'bicubic'")
    p.add_argument("--hr", type=Path, help="folder of HR (ground-truth) images")
    p.add_argument("--lr", type=Path, help="folder of LR images paired by file stem (default: made by bicubic)")
    p.add_argument(
        "--degradation",
        metavar="NAME|FILE",
        help="make the LR images with this degradation block instead of bicubic: a YAML file or a shipped block "
        "(degrade_test_x4); the LR make_degraded_lr writes with the same --seed; with -opt, for every set",
    )
    p.add_argument(
        "--seed",
        type=field_arg_type("esrgan.evaluation.options:TestDatasetOptions", "seed"),
        help="seed of the degraded LR images (default 0)",
    )
    p.add_argument("--name", help="dataset label (default: the HR folder's name, or its parent's if that is HR)")
    p.add_argument("-s", "--scale", type=field_arg_type(_OPTIONS, "scale"), help="scale factor (default: the model's)")
    p.add_argument("--rgb", action="store_true", help="score RGB channels instead of Y")
    p.add_argument(
        "--crop-border",
        type=field_arg_type(_OPTIONS, "crop_border"),
        help="pixels ignored at each edge (default: the scale)",
    )
    p.add_argument("--save", type=Path, help="save SR images to SAVE/<dataset>/<stem>.png")
    p.add_argument("--csv", type=Path, help="write per-image and mean scores to this CSV file")
    p.add_argument("--json", type=Path, help="write the scores and protocol to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/JSON/SR files")
    add_engine_args(p, defaults=False)  # defaults come from TestOptions (precision fp32 for comparable scores)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _default_name(hr: Path) -> str:
    resolved = hr.resolve()
    return resolved.parent.name if resolved.name.upper() == "HR" and resolved.parent.name else resolved.name


def options_from_args(args: argparse.Namespace) -> TestOptions:
    """Merge the YAML file (if any), explicit flags, then ``--set`` overrides into validated :class:`TestOptions`."""
    from esrgan.evaluation import TestOptions
    from esrgan.options import apply_overrides, from_dict, read_options_file
    from esrgan.shipped_options import resolve

    data: dict[str, Any] = {}
    source = "command line"
    if args.opt is not None:
        data, source = read_options_file(resolve(args.opt)), str(args.opt)
        if args.hr is not None or args.lr is not None:
            raise OptionsError(f"--hr/--lr cannot be combined with -opt {args.opt}: list the sets under 'datasets:'")
    if args.hr is not None:
        ds: dict[str, Any] = {"name": args.name or _default_name(args.hr), "hr": args.hr}
        if args.lr is not None:
            ds["lr"] = args.lr
        data["datasets"] = [ds]
    elif args.lr is not None:
        raise OptionsError("--lr needs --hr (the ground truth)")
    if args.lr is not None and args.degradation is not None:
        raise OptionsError("--lr and --degradation exclude each other: LR images from files, or made from HR")
    if args.seed is not None and args.degradation is None and args.opt is None:
        raise OptionsError("--seed needs --degradation (the seed of the degraded LR images)")
    made = {"degradation": args.degradation, "seed": args.seed}
    for ds_data in data.get("datasets") or []:
        if isinstance(ds_data, dict):  # anything else: from_dict names the problem
            ds_data.update({k: v for k, v in made.items() if v is not None})
    flags = {
        "model": args.model,
        "scale": args.scale,
        "crop_border": args.crop_border,
        "save": args.save,
        "csv": args.csv,
        "json": args.json,
        "tile": args.tile,
        "tile_pad": args.tile_pad,
        "precision": args.precision,
        "int8_calibration": args.int8_calibration,
        "device": args.device,
        "backend": args.backend,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    for name, flag in (("overwrite", args.overwrite), ("ensemble", args.ensemble), ("compile", args.compile)):
        if flag:
            data[name] = True
    if args.rgb:
        data["test_y_channel"] = False
    if args.overrides:
        data = apply_overrides(data, args.overrides)
        source += " (with --set overrides)"
    if "model" not in data:
        raise OptionsError("no model: pass -m MODEL (a built-in name, a weights file or 'bicubic')")
    if "datasets" not in data:
        raise OptionsError("no images: pass --hr FOLDER, or -opt FILE listing 'datasets:'")
    return from_dict(TestOptions, data, source=source)


def run(args: argparse.Namespace) -> int:
    from esrgan.evaluation import Evaluation, format_summary, format_table, lr_source, write_results

    opts = options_from_args(args)
    bars = _ImagesBar(args.quiet)
    evaluation = Evaluation.prepare(opts, on_tile=bars.on_tile)
    progress = bars.over

    channel = "Y" if opts.test_y_channel else "RGB"
    results = []
    for result in evaluation.run(progress):
        results.append(result)
        print(
            f"\n{result.name}: {opts.model} x{evaluation.scale}, {channel}, crop border {evaluation.crop_border}, "
            f"{len(result.images)} images, {lr_source(result)}"
        )
        print(format_table(result))
    if len(results) > 1:
        print(f"\n{format_summary(results)}")
    write_results(results, opts, evaluation.scale, evaluation.model)
    return _status([f for r in results for f in r.failed])


def _status(failed: list[ImageFailure]) -> int:
    """Exit status of a run: 3 if an image failed with an unexpected error, 1 if any image was not scored."""
    from esrgan.exits import EXIT_BUG, EXIT_FAILED, EXIT_OK, report_bug

    if not failed:
        return EXIT_OK
    log.error("%d image(s) not scored: the means are over the others", len(failed))
    if any(f.bug for f in failed):
        report_bug(with_traceback=False)
        return EXIT_BUG
    return EXIT_FAILED


class _ImagesBar:
    """A dataset's bar in images, moved in fractions of the image being upscaled (the engine's ``on_tile``), so a
    model that takes minutes per image shows progress within it."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.index = 0

    def over(self, pairs: list[Pair], name: str) -> Iterator[Pair]:
        from esrgan.commands.progress import WorkBar

        with WorkBar(name, len(pairs), "image", quiet=self.quiet) as self.bar:
            for self.index, pair in enumerate(pairs):
                self.bar.update(self.index)
                yield pair
            self.bar.update(len(pairs))
        self.bar = None

    def on_tile(self, done: float, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.index + done / total)
