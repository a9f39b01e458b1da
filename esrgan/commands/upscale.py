"""``esrgan upscale``: upscale image files, folders and globs.

One bad file is reported with its path and the batch goes on; the exit status is 1 if anything failed (3 if a
failure was a bug). Outputs are written atomically, an input file is never overwritten, and two inputs that would
be written to the same output are both refused before any work (nothing is silently replaced).

Everything that can be checked without torch is checked before the model loads: the output folder, ``--suffix``,
the engine flags, and every input's header (format, size against ``--max-pixels``, and the output's against
``--max-output-pixels`` where the scale is known: ``-s``, or a built-in model's): refusing a 400-megapixel file
takes milliseconds and a few tens of MB. Once the model is loaded, the output sizes are checked at its scale
before the engine is prepared (a compiled backend's calibration takes minutes).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esrgan.commands.batch import (
    Report,
    check_suffix,
    collect_inputs,
    plan_jobs,
    refuse_collisions,
    screen_headers,
    screen_output_sizes,
)
from esrgan.commands.common import add_engine_args, engine_options, positive_float
from esrgan.commands.workers import add_worker_args, check_worker_args, log_summary, scheduler_from, wants_workers
from esrgan.defaults import DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MAX_PIXELS, DEFAULT_MODEL, OUTPUT_FORMATS
from esrgan.errors import NotFoundError, OptionsError, OutputError, OutputExistsError
from esrgan.options import Range, arg_type

if TYPE_CHECKING:
    from torch import nn

    from esrgan.commands.progress import Estimate, WorkBar
    from esrgan.image.probe import ImageHeader
    from esrgan.inference import EngineOptions, UpscaledFile, Upscaler

log = logging.getLogger(__name__)

PIXELS = Range(0, None)  # --max-pixels, --max-output-pixels; 0: no limit
QUALITY = Range(1, 100)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale images, folders and globs",
        description="Upscale images with an ESRGAN-family model (default: the built-in realesrgan-x4plus). Without "
        "-o, results go to ./results/ as NAME_x4.EXT (the input's format where it can hold what the image has).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument(
        "-o",
        "--output",
        default="results",
        help="output folder (created) or, for one input, a file (default: results/ in the current folder)",
    )
    p.add_argument("-m", "--model", default=DEFAULT_MODEL, help="built-in name (see `esrgan models`) or a path")
    p.add_argument(
        "--interp",
        default=None,
        metavar="A:B:ALPHA",
        help="interpolate models on the fly instead of -m (A:B:0.7 = 0.3*A + 0.7*B; A:B:C:W1,W2,W3)",
    )
    p.add_argument("-s", "--outscale", type=positive_float, default=None, help="final scale (default: model's)")
    add_engine_args(p)
    p.add_argument("--suffix", default=None, help="added to output names (default: _x<scale>)")
    p.add_argument("--ext", default="auto", choices=OUTPUT_FORMATS, help="output format (auto: as the input)")
    p.add_argument("--quality", type=arg_type(int, QUALITY), default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--alpha", default="model", choices=("model", "bicubic"), help="how to upscale transparency")
    p.add_argument(
        "--strip-metadata",
        action="store_true",
        help="write no ICC profile or EXIF (default: kept where the output format holds them, orientation reset, "
        "sizes updated)",
    )
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument(
        "--max-pixels",
        type=arg_type(int, PIXELS),
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse inputs larger than this many pixels (default {DEFAULT_MAX_PIXELS}; 0 = no limit)",
    )
    p.add_argument(
        "--max-output-pixels",
        type=arg_type(int, PIXELS),
        default=DEFAULT_MAX_OUTPUT_PIXELS,
        help=f"refuse inputs whose output would be larger than this many pixels (default {DEFAULT_MAX_OUTPUT_PIXELS}"
        "; 0 = no limit)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    add_worker_args(p.add_argument_group("several workers (one per GPU, or Ray actors on a cluster)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.suffix is not None:
        check_suffix(args.suffix)
    if STREAM in args.inputs or args.output == STREAM:
        return _run_stream(args)
    # Cheap checks first, before torch and the model load: paths, names, flags and every input's header.
    found, missing = collect_inputs(args.inputs, args.recursive)
    report = Report(_message)
    for message in missing:
        report.line(message)
    if not found:
        raise NotFoundError("nothing to upscale: no input exists")

    from esrgan.fileio import ensure_writable_folder
    from esrgan.image.probe import IMAGE_EXTENSIONS

    output = Path(args.output)
    single_file = output.suffix.lower() in IMAGE_EXTENSIONS
    if single_file and len(found) > 1:
        raise OptionsError(f"-o {output} is a single file but {len(found)} inputs were given; pass a folder")
    if single_file and output.resolve() == found[0][0].resolve():
        raise OutputError(f"{output}: output would overwrite the input; choose another -o")
    out_dir = output.parent if single_file else output
    options = engine_options(args)  # checked before the model loads
    check_worker_args(args)
    ensure_writable_folder(out_dir)
    screened = screen_headers(found, args.max_pixels, report)
    screened = screen_output_sizes(screened, _known_factor(args), args.max_output_pixels, report)
    if single_file:
        readable = [(source, base) for source, base, _ in screened]
    else:
        readable = refuse_collisions(screened, args.ext, out_dir, report)
    if readable:
        inputs = {source.resolve() for source, _ in found}
        headers = {source: header for source, _, header in screened}
        _upscale_files(args, options, readable, inputs, output, single_file, headers, report)
    seconds = time.perf_counter() - report.started
    if single_file and report.done:
        log.info("wrote %s", output.resolve())
    elif report.done:
        log.info("wrote %d image(s) to %s", report.done, out_dir.resolve())
    log.info(
        "upscaled %d, skipped %d, failed %d in %.1f s (%.2f img/s)",
        report.done,
        report.skipped,
        report.failed,
        seconds,
        report.done / max(seconds, 1e-9),
    )
    return report.status()


def _upscale_files(
    args: argparse.Namespace,
    options: EngineOptions,
    found: list[tuple[Path, Path]],
    inputs: set[Path],
    output: Path,
    single_file: bool,
    headers: dict[Path, ImageHeader],
    report: Report,
) -> None:
    """Load the model and upscale ``found`` (the inputs whose headers passed), here or on workers; the output
    sizes checked at the model's scale before the engine is prepared."""
    net, scale, name = _load_network(args)
    outscale = args.outscale if args.outscale is not None else float(scale)
    factor = max(float(scale), outscale)
    kept = screen_output_sizes([(s, b, headers[s]) for s, b in found], factor, args.max_output_pixels, report)
    found = [(source, base) for source, base, _ in kept]
    if not found:
        return
    pixels = {source: headers[source].pixels for source, _ in found}
    suffix = args.suffix if args.suffix is not None else f"_x{outscale:g}"
    out_dir = output.parent if single_file else output
    tasks = [
        (source, target or out_dir / stem, target is None)
        for source, target, stem in plan_jobs(found, output, suffix, single_file)
    ]
    if wants_workers(args):
        _run_on_workers(args, net, options, tasks, outscale, factor, inputs, report)
    else:
        _run_here(args, net, name, options, tasks, outscale, inputs, pixels, report)


Task = tuple[Path, Path, bool]  # source, output file (without its extension when the bool is set), name only
STREAM = "-"  # as an input: standard input; as -o: standard output


def _run_stream(args: argparse.Namespace) -> int:
    """One image from standard input (``-``) or to standard output (``-o -``), or both: a filter in a pipe.

    Standard output then carries the encoded image only (format: --ext, or the input's with ``auto``); logs and
    progress go to standard error. Files named on the command line are read and written as usual."""
    import sys

    from esrgan.errors import LimitError
    from esrgan.image import IMAGE_EXTENSIONS, check_encoded, write_encoded
    from esrgan.inference.limits import InputTooLargeError, OutputTooLargeError, check_sizes

    if len(args.inputs) != 1:
        what = "- (standard input)" if STREAM in args.inputs else "-o - (standard output)"
        raise OptionsError(f"{what} takes exactly one image; {len(args.inputs)} inputs were given")
    if wants_workers(args):
        raise OptionsError("standard input and output are upscaled here: drop --ray / --workers / the device list")
    source = args.inputs[0]
    if source == STREAM:
        if sys.stdin.isatty():
            raise OptionsError("- reads an image from standard input, which is a terminal: pipe one in (< photo.jpg)")
        data, name = sys.stdin.buffer.read(), "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(f"{source}: no such file")
        data, name = path.read_bytes(), path.stem
    header = check_encoded(data, name)  # before the model loads: a bomb or another format is refused at once

    def check(factor: float) -> None:
        try:
            check_sizes(header, Path(name), max_pixels=args.max_pixels, max_output_pixels=args.max_output_pixels,
                        factor=factor)  # fmt: skip
        except (InputTooLargeError, OutputTooLargeError) as exc:
            raise LimitError(_message(exc)) from exc

    check(_known_factor(args))
    options = engine_options(args)
    target = None if args.output == STREAM else Path(args.output)
    ext = args.ext
    if target is not None and target.suffix.lower() in IMAGE_EXTENSIONS:
        ext = target.suffix.lower()  # -o FILE: its own format
    net, scale, _ = _load_network(args)
    outscale = args.outscale if args.outscale is not None else float(scale)
    check(max(float(scale), outscale))  # before the engine is prepared

    from esrgan.inference import Upscaler
    from esrgan.inference.files import upscale_bytes

    progress = _ImageProgress(args.quiet)
    upscaler = Upscaler.from_options(net, options, on_tile=progress.on_tile)
    progress.start(name, 0.0)
    try:
        result = upscale_bytes(
            data,
            upscaler,
            name=name,
            ext=ext,
            outscale=outscale,
            alpha_mode=args.alpha,
            quality=args.quality,
            max_pixels=args.max_pixels,
            max_output_pixels=args.max_output_pixels,
            keep_metadata=not args.strip_metadata,
        )
    except (InputTooLargeError, OutputTooLargeError) as exc:
        raise LimitError(_message(exc)) from exc
    finally:
        progress.close()
    if target is None:
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
        log.info("%s -> standard output (%dx%d %s)", source, result.width, result.height, result.ext.lstrip("."))
        return 0
    if target.suffix.lower() not in IMAGE_EXTENSIONS:  # a folder
        suffix = args.suffix if args.suffix is not None else f"_x{outscale:g}"
        target = target / f"{name}{suffix}{result.ext}"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_encoded(target, result.data)
    log.info("%s -> %s (%dx%d)", source, target, result.width, result.height)
    return 0


def _run_here(
    args: argparse.Namespace,
    net: nn.Module,
    name: str,
    options: EngineOptions,
    tasks: list[Task],
    outscale: float,
    inputs: set[Path],
    pixels: dict[Path, int],
    report: Report,
) -> None:
    """The files one by one on this process's device, each with its tile bar; the job's estimate (the model
    ``name``'s cost, the speed of the first tile) before a long one."""
    from esrgan.commands.progress import Status
    from esrgan.inference import Upscaler

    progress = _ImageProgress(args.quiet)
    with Status("preparing the engine", args.quiet):  # a compiled backend exports and compiles here (once)
        upscaler = Upscaler.from_options(net, options, on_tile=progress.on_tile)
    progress.estimate = _estimate(upscaler, name, [pixels[s] for s, _, _ in tasks], options.ensemble)
    report.started = time.perf_counter()
    written: set[Path] = set()  # outputs of this run: a later input never replaces one (find_collisions plans it)
    for number, (source, target, name_only) in enumerate(tasks, start=1):
        label = source.name if len(tasks) == 1 else f"{source.name} ({number}/{len(tasks)})"
        progress.start(label, pixels[source] * progress.estimate.flops_per_pixel)
        try:
            result = _upscale_one(args, upscaler, source, target, name_only, outscale, inputs, written)
        except Exception as exc:  # one bad file must not stop the batch: reported with its path, and on we go
            report.file(source, None, exc)
        else:
            report.file(source, result, None)
            if not result.skipped:
                written.add(result.target.resolve())
        finally:
            progress.close()


def _run_on_workers(
    args: argparse.Namespace,
    net: nn.Module,
    options: EngineOptions,
    tasks: list[Task],
    outscale: float,
    factor: float,
    inputs: set[Path],
    report: Report,
) -> None:
    """The files over several workers (--ray, or a device list): read and written here, upscaled and encoded by
    the workers (:mod:`esrgan.cluster.images`), reported in input order as :func:`_run_here` reports them."""
    from esrgan.cluster.engine import EngineSpec, NetworkRecipe
    from esrgan.cluster.images import FileTask, ImageJob, upscale_files_on
    from esrgan.cluster.worker import replay
    from esrgan.commands.progress import WorkBar

    job = ImageJob(
        EngineSpec(NetworkRecipe.of(net), options), outscale, args.alpha, args.quality, not args.strip_metadata
    )
    files = [FileTask(source, target, args.ext if name_only else None) for source, target, name_only in tasks]
    with scheduler_from(args, job) as scheduler:
        info = scheduler.stats[0].info
        log.info("%d workers: %s", len(scheduler.stats), ", ".join(f"{k} {v}" for k, v in info.settings.items()))
        report.started = time.perf_counter()
        with WorkBar("images", len(files), "image", quiet=args.quiet) as bar:

            def one_done() -> None:
                bar.update(bar.done + 1)

            outcomes = upscale_files_on(
                scheduler,
                files,
                max_pixels=args.max_pixels,
                max_output_pixels=args.max_output_pixels,
                factor=factor,
                existing="skip" if args.skip_existing else "overwrite",
                inputs=inputs,
                on_done=one_done,
            )
            for outcome in outcomes:
                replay(outcome.records)
                report.file(outcome.task.source, outcome.result, outcome.error)
        log_summary(scheduler, "images")


def _known_factor(args: argparse.Namespace) -> float:
    """What is known of the upscale factor before the model loads (0: nothing): ``-s``, and a built-in model's
    scale (the factor is the larger of the two)."""
    from esrgan.models import zoo

    factor = args.outscale or 0.0
    if not args.interp and not Path(args.model).expanduser().exists():
        builtin = zoo.find_builtin(args.model)
        if builtin is not None:
            factor = max(factor, float(builtin.scale))
    return factor


def _load_network(args: argparse.Namespace) -> tuple[nn.Module, int, str]:
    """The network of ``-m`` or ``--interp``, its scale and its name, logged."""
    from esrgan.commands.progress import Status

    with Status(f"loading {args.interp or args.model}", args.quiet) as loading:
        net, info = _read_network(args)
    log.info(
        "model %s (%s x%d, %.1fM parameters, %s) loaded in %.1f s",
        info.name or info.path,
        info.arch,
        info.scale,
        info.num_params / 1e6,
        info.source_format,
        loading.seconds,
    )
    return net, info.scale, str(info.name or Path(info.path).name)


def _read_network(args: argparse.Namespace) -> tuple[nn.Module, Any]:
    from esrgan.models import load_model

    if args.interp:
        from esrgan.models.interpolate import interpolate_models, parse_interp_spec

        try:
            specs, weights = parse_interp_spec(args.interp)
        except OptionsError as exc:
            raise OptionsError(f"--interp: {exc}") from None
        net, infos = interpolate_models(specs, weights)
        info = infos[0]
    else:
        net, info = load_model(args.model)
    return net, info


def _upscale_one(
    args: argparse.Namespace,
    upscaler: Upscaler,
    source: Path,
    target: Path,
    name_only: bool,
    outscale: float,
    inputs: set[Path],
    written: set[Path],
) -> UpscaledFile:
    """One file through :func:`esrgan.inference.upscale_file` with the command's flags (``name_only``: ``target``
    lacks its extension, which ``--ext`` and the image decide). ``written``: outputs of this run so far, which
    are never replaced."""
    from esrgan.inference import upscale_file

    return upscale_file(
        source,
        target,
        upscaler,
        ext=args.ext if name_only else None,
        outscale=outscale,
        alpha_mode=args.alpha,
        quality=args.quality,
        max_pixels=args.max_pixels,
        max_output_pixels=args.max_output_pixels,
        existing="skip" if args.skip_existing else "overwrite",
        inputs=inputs,
        written=written,
        keep_metadata=not args.strip_metadata,
    )


def _message(exc: BaseException) -> str:
    """The error line of a file, in terms of this command's flags where the library's names its arguments."""
    from esrgan.inference.limits import InputTooLargeError, OutputTooLargeError, OverwritesInputError

    if isinstance(exc, InputTooLargeError):
        return (
            f"{exc.path}: {exc.pixels / 1e6:.1f} MP is above --max-pixels {exc.limit}; pass --max-pixels 0 to allow it"
        )
    if isinstance(exc, OutputTooLargeError):
        return (
            f"{exc.path}: the output would be {exc.width}x{exc.height} ({exc.pixels / 1e6:.1f} MP), above "
            f"--max-output-pixels {exc.limit}; lower -s/--outscale, or pass --max-output-pixels 0 to allow it"
        )
    if isinstance(exc, OverwritesInputError):
        return f"{exc.source}: output {exc.target} would overwrite an input; change -o or --suffix"
    if isinstance(exc, OutputExistsError) and "written by this run" in str(exc):
        return f"{exc}; upscale these inputs into different -o folders"
    return " ".join(str(exc).split())


class _ImageProgress:
    """The tile bar of the image being upscaled, and the job's time estimate.

    The engine calls :meth:`on_tile` with ``(0, total)`` before its first network call, whole numbers after each
    call and fractions while one runs; a new ``(0, total)`` starts its next call (the alpha plane). The speed of
    the first call of the first image upscaled is the job's measured speed.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.estimate: Estimate | None = None
        self.label = ""
        self.work = 0.0  # FLOPs of one network call on the current image
        self.bar: WorkBar | None = None
        self.call_started = 0.0
        self.calls = 0  # network calls started since the job began

    def start(self, label: str, work: float) -> None:
        self.label, self.work = label, work

    def on_tile(self, done: float, total: int) -> None:
        from esrgan.commands.progress import WorkBar

        if done == 0:
            self.calls += 1
            self.call_started = time.perf_counter()
        if self.bar is None:
            self.bar = WorkBar(self.label, total, "tile", quiet=self.quiet)
        self.bar.update(done, total)
        if self.estimate is not None and self.calls == 1 and done > 0:
            seconds = time.perf_counter() - self.call_started
            self.estimate.measured(self.work * done / total, seconds, first_tile_done=done >= 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _estimate(upscaler: Upscaler, name: str, sizes: list[int], ensemble: bool) -> Estimate:
    """The job's time estimate: the inputs' pixels (``sizes``) x the model's cost per pixel."""
    from esrgan.commands.progress import Estimate
    from esrgan.defaults import FAST_PHOTO_MODEL
    from esrgan.models import zoo

    per_pixel = upscaler.flops_per_pixel * (8 if ensemble else 1)
    fast = zoo.find_builtin(FAST_PHOTO_MODEL)
    faster = ""
    if fast is not None and name != fast.name and upscaler.flops_per_pixel > 2 * fast.gflop_per_megapixel * 1e3:
        ratio = upscaler.flops_per_pixel / (fast.gflop_per_megapixel * 1e3)
        faster = f"-m {fast.name} is {ratio:.0f}x faster per pixel (realesrgan-x4plus distilled; softer fine texture)"
    return Estimate(sum(sizes) * per_pixel, name, per_pixel, upscaler.device.type == "cpu", faster)
