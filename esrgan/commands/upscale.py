"""``esrgan upscale``: upscale image files, folders and globs.

One bad file is reported with its path and the batch goes on; the exit status is 1 if anything failed (3 if a
failure was a bug). Outputs are written atomically, an input file is never overwritten, and two inputs that would
be written to the same output are both refused before any work (nothing is silently replaced).

Everything that can be checked without torch is checked before the model loads: the output folder, ``--suffix``,
the engine flags, and every input's header (format, size against ``--max-pixels``): refusing a 400-megapixel file
takes milliseconds and a few tens of MB.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esrgan.commands.common import add_engine_args, engine_options, positive_float
from esrgan.defaults import DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MAX_PIXELS, DEFAULT_MODEL, OUTPUT_FORMATS
from esrgan.errors import NotFoundError, OptionsError, OutputError, OutputExistsError, is_expected, quote
from esrgan.options import Range, arg_type

if TYPE_CHECKING:
    from torch import nn

    from esrgan.image.probe import ImageHeader
    from esrgan.inference import EngineOptions, UpscaledFile, Upscaler

log = logging.getLogger(__name__)

PIXELS = Range(0, None)  # --max-pixels, --max-output-pixels; 0: no limit
QUALITY = Range(1, 100)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale images, folders and globs",
        description="Upscale images with an ESRGAN-family model (default: the built-in realesrgan-x4plus).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", default="results", help="output folder (created) or, for one input, a file")
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
    p.set_defaults(func=run)


def collect_inputs(patterns: list[str], recursive: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders and globs into (file, base folder) pairs, plus one message per pattern that matched
    nothing. The base folder keeps sub-folder structure in the output for recursive runs."""
    from esrgan.image.probe import IMAGE_EXTENSIONS

    found: list[tuple[Path, Path]] = []
    missing: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, base: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append((path, base))

    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            walker = path.rglob("*") if recursive else path.iterdir()
            files = sorted(f for f in walker if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                missing.append(f"{path}: folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
            for f in files:
                add(f, path)
        elif path.is_file():
            add(path, path.parent)
        else:
            matches = sorted(glob.glob(pattern, recursive=recursive))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                missing.append(f"{pattern}: no such file, folder or matching files")
            for f in files:
                add(f, f.parent)
    return found, missing


def plan_jobs(
    found: list[tuple[Path, Path]], output: Path, suffix: str, single_file: bool
) -> Iterator[tuple[Path, Path | None, str]]:
    """Yield (source, output file or None, output folder-relative stem). The extension is decided per image
    after reading it (alpha and bit depth matter), so only the folder and name are planned here."""
    for source, base in found:
        if single_file:
            yield source, output, ""
            continue
        try:
            rel = source.relative_to(base).parent
        except ValueError:
            rel = Path()
        yield source, None, str(rel / f"{source.stem}{suffix}")


def find_collisions(found: list[tuple[Path, Path, ImageHeader]], ext: str) -> list[list[Path]]:
    """Groups of inputs that would be written to the same output file (``a/img.png`` and ``b/img.png`` into one
    folder; ``img.png`` and ``img.jpg`` with ``--ext png``), in input order.

    With ``--ext auto`` the output's format depends on what the image has (alpha or deep samples need PNG or
    TIFF): it is planned from each input's header, and where the header does not tell (BMP's channels) the input
    claims every name it could get, so that no collision is missed.
    """
    from esrgan.inference.naming import extension_for

    claims: dict[tuple[str, str], list[Path]] = {}
    pairs = [(source, base) for source, base, _ in found]
    for (source, _, stem), (_, _, header) in zip(plan_jobs(pairs, Path(), "", False), found, strict=True):
        alphas = [header.channels in (2, 4)] if header.channels is not None else [False, True]
        deeps = [header.bit_depth > 8] if header.bit_depth is not None else [False, True]
        for e in {extension_for(source, a, d, ext) for a in alphas for d in deeps}:
            claims.setdefault((stem, e), []).append(source)
    groups: dict[Path, list[Path]] = {}
    for sources in claims.values():
        if len(sources) > 1:
            group = groups.setdefault(sources[0], [sources[0]])
            group.extend(s for s in sources[1:] if s not in group)
    return list(groups.values())


class _Failures:
    """Per-file failures of a batch: each input reported once, in one line (expected) or with its traceback
    (a bug)."""

    def __init__(self) -> None:
        self.count = self.bugs = 0

    def line(self, message: str, inputs: int = 1) -> None:
        self.count += inputs
        log.error("%s", message)

    def report(self, source: Path, exc: Exception) -> None:
        if not is_expected(exc):
            self.count += 1
            self.bugs += 1
            log.critical("%s: unexpected error", source, exc_info=True)
            return
        message = _message(exc)
        self.line(message if str(source) in message else f"{source}: {message}")

    def status(self) -> int:
        """Exit status: 3 if any failure was a bug, 1 if any file failed, else 0."""
        from esrgan.exits import EXIT_BUG, EXIT_FAILED, EXIT_OK, report_bug

        if self.bugs:
            log.critical("%d of the failures above were unexpected errors (tracebacks above)", self.bugs)
            report_bug(with_traceback=False)
            return EXIT_BUG
        return EXIT_FAILED if self.count else EXIT_OK


def run(args: argparse.Namespace) -> int:
    from esrgan.fileio import ensure_writable_folder
    from esrgan.image.probe import IMAGE_EXTENSIONS

    # Cheap checks first, before torch and the model load: paths, names, flags and every input's header.
    if args.suffix is not None:
        check_suffix(args.suffix)
    found, missing = collect_inputs(args.inputs, args.recursive)
    failures = _Failures()
    for message in missing:
        failures.line(message)
    if not found:
        raise NotFoundError("nothing to upscale: no input exists")
    output = Path(args.output)
    single_file = output.suffix.lower() in IMAGE_EXTENSIONS
    if single_file and len(found) > 1:
        raise OptionsError(f"-o {output} is a single file but {len(found)} inputs were given; pass a folder")
    if single_file and output.resolve() == found[0][0].resolve():
        raise OutputError(f"{output}: output would overwrite the input; choose another -o")
    options = engine_options(args)
    out_dir = output.parent if single_file else output
    ensure_writable_folder(out_dir)
    screened = _screen_headers(found, args.max_pixels, failures)
    if single_file:
        readable = [(source, base) for source, base, _ in screened]
    else:
        readable = _refuse_collisions(screened, args.ext, out_dir, failures)
    done = skipped = 0
    if readable:
        inputs = {source.resolve() for source, _ in found}
        done, skipped = _upscale_files(args, options, readable, inputs, output, single_file, failures)
    log.info("upscaled %d, skipped %d, failed %d", done, skipped, failures.count)
    return failures.status()


def _screen_headers(
    found: list[tuple[Path, Path]], max_pixels: int, failures: _Failures
) -> list[tuple[Path, Path, ImageHeader]]:
    """The inputs whose header is an image the package reads within ``--max-pixels``, with their headers; the
    others reported."""
    from esrgan.image.probe import check_image_file

    readable = []
    for source, base in found:
        try:
            header = check_image_file(source)
        except Exception as exc:
            failures.report(source, exc)
            continue
        if max_pixels and header.pixels > max_pixels:
            failures.line(
                f"{source}: {header.width}x{header.height} is {header.pixels / 1e6:.1f} MP, above --max-pixels "
                f"{max_pixels}; pass --max-pixels 0 to allow any size"
            )
            continue
        readable.append((source, base, header))
    return readable


def _refuse_collisions(
    found: list[tuple[Path, Path, ImageHeader]], ext: str, out_dir: Path, failures: _Failures
) -> list[tuple[Path, Path]]:
    """``found`` without the inputs that would share an output file: each group reported in one line, and none
    of its inputs upscaled (which one would win is no choice to make for the user)."""
    refused: set[Path] = set()
    for group in find_collisions(found, ext):
        names = ", ".join(str(s) for s in group)
        failures.line(
            f"{names}: would be written to the same file in {out_dir}; none of them is upscaled (upscale them into "
            "different -o folders, or their common folder with -r, which keeps sub-folders)",
            inputs=len(group),
        )
        refused.update(group)
    return [(source, base) for source, base, _ in found if source not in refused]


def _upscale_files(
    args: argparse.Namespace,
    options: EngineOptions,
    found: list[tuple[Path, Path]],
    inputs: set[Path],
    output: Path,
    single_file: bool,
    failures: _Failures,
) -> tuple[int, int]:
    """Load the model and upscale ``found`` (files whose headers passed), reporting each failure and going on.

    Returns:
        (images written, images skipped because their output exists).
    """
    from tqdm import tqdm

    from esrgan.inference import Upscaler

    net, scale = _load_network(args)
    outscale = args.outscale if args.outscale is not None else float(scale)
    suffix = args.suffix if args.suffix is not None else f"_x{outscale:g}"
    tiles = _TileBar(args.quiet)
    upscaler = Upscaler.from_options(net, options, on_tile=tiles.update)
    log.info("device %s, precision %s, tile %s", upscaler.device, str(upscaler.dtype).replace("torch.", ""), args.tile)
    out_dir = output.parent if single_file else output
    done = skipped = 0
    written: set[Path] = set()  # outputs of this run: a later input never replaces one (find_collisions plans it)
    bar = tqdm(list(plan_jobs(found, output, suffix, single_file)), desc="images", unit="img", disable=args.quiet)
    for source, target, stem in bar:
        try:
            result = _upscale_one(args, upscaler, source, target or out_dir / stem, target is None, outscale, inputs,
                                  written)  # fmt: skip
        except Exception as exc:  # one bad file must not stop the batch: reported with its path, and on we go
            failures.report(source, exc)
            continue
        finally:
            tiles.close()
        if result.skipped:
            skipped += 1
            log.info("%s: skipped, %s exists", source, result.target)
        else:
            done += 1
            written.add(result.target.resolve())
            log.info("%s -> %s (%dx%d)", source, result.target, result.width, result.height)
    if single_file and done:
        log.info("wrote %s", output.resolve())
    elif done:
        log.info("wrote %d image(s) to %s", done, out_dir.resolve())
    return done, skipped


def _load_network(args: argparse.Namespace) -> tuple[nn.Module, int]:
    """The network of ``-m`` or ``--interp`` and its scale, logged."""
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
    log.info(
        "model %s (%s x%d, %.1fM parameters, %s)",
        info.name or info.path,
        info.arch,
        info.scale,
        info.num_params / 1e6,
        info.source_format,
    )
    return net, info.scale


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
    )


def _message(exc: BaseException) -> str:
    """The error line of a file, in terms of this command's flags where the library's names its arguments."""
    from esrgan.inference.files import InputTooLargeError, OutputTooLargeError, OverwritesInputError

    if isinstance(exc, InputTooLargeError):
        return (
            f"{exc.path}: {exc.pixels / 1e6:.1f} MP is above --max-pixels {exc.limit}; pass --max-pixels 0 to allow it"
        )
    if isinstance(exc, OutputTooLargeError):
        return (
            f"{exc.path}: the output would be {exc.width}x{exc.height} ({exc.pixels / 1e6:.1f} MP), above "
            f"--max-output-pixels {exc.limit}; "
            "lower -s/--outscale, or pass --max-output-pixels 0 to allow it"
        )
    if isinstance(exc, OverwritesInputError):
        return f"{exc.source}: output {exc.target} would overwrite an input; change -o or --suffix"
    if isinstance(exc, OutputExistsError) and "written by this run" in str(exc):
        return f"{exc}; upscale these inputs into different -o folders"
    return " ".join(str(exc).split())


def check_suffix(suffix: str) -> None:
    """Refuse a ``--suffix`` that would move outputs out of their folder (a path separator or a lone '..')."""
    if any(sep in suffix for sep in ("/", "\\", os.sep, os.altsep or "/")) or "\0" in suffix:
        raise OptionsError(f"--suffix {quote(suffix)} must not contain a path separator: it is added to file names")


class _TileBar:
    """A progress bar over the tiles of one image, shown only for images of more than one tile."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self.quiet or total <= 1:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="tiles", unit="tile", leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
