"""``esrgan upscale``: upscale image files, folders and globs.

One bad file is reported with its path and the batch goes on; the exit status is 1 if anything failed. Outputs
are written atomically and an input file is never overwritten.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from esrgan.commands.common import OUTSCALE, add_engine_args, upscaler_from
from esrgan.errors import LimitError, NotFoundError, OptionsError, OutputError, is_expected, quote
from esrgan.options import Range, arg_type

log = logging.getLogger(__name__)

DEFAULT_MODEL = "realesrgan-x4plus"
DEFAULT_MAX_PIXELS = 25_000_000
MAX_PIXELS = Range(0, None)  # 0: no limit
QUALITY = Range(1, 100)
EXT_CHOICES = ("auto", "png", "jpg", "webp", "tif")


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
    p.add_argument(
        "-s", "--outscale", type=arg_type(float, OUTSCALE), default=None, help="final scale (default: model's)"
    )
    add_engine_args(p)
    p.add_argument("--suffix", default=None, help="added to output names (default: _x<scale>)")
    p.add_argument("--ext", default="auto", choices=EXT_CHOICES, help="output format (auto: as the input)")
    p.add_argument("--quality", type=arg_type(int, QUALITY), default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--alpha", default="model", choices=("model", "bicubic"), help="how to upscale transparency")
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument(
        "--max-pixels",
        type=arg_type(int, MAX_PIXELS),
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse inputs larger than this many pixels (default {DEFAULT_MAX_PIXELS}; 0 = no limit)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    p.set_defaults(func=run)


def collect_inputs(patterns: list[str], recursive: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders and globs into (file, base folder) pairs, plus one message per pattern that matched
    nothing. The base folder keeps sub-folder structure in the output for recursive runs."""
    from esrgan.image_probe import IMAGE_EXTENSIONS

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


def _output_ext(source: Path, requested: str, has_alpha: bool, bit_depth: int) -> str:
    if requested != "auto":
        return "." + requested
    ext = source.suffix.lower()
    ext = {".jpeg": ".jpg", ".tiff": ".tif"}.get(ext, ext)
    # Keep what the input had: transparency and 16-bit samples need a format that stores them.
    if has_alpha and ext not in (".png", ".webp", ".tif"):
        return ".png"
    if bit_depth > 8 and ext not in (".png", ".tif"):
        return ".png"
    return ext


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


class _Failures:
    """Per-file failures of a batch: each reported once, in one line (expected) or with its traceback (a bug)."""

    def __init__(self) -> None:
        self.count = self.bugs = 0

    def report(self, source: Path, exc: Exception) -> None:
        self.count += 1
        if is_expected(exc):
            message = " ".join(str(exc).split())
            if isinstance(exc, LimitError) and "max_pixels" in message:
                message += " (raise --max-pixels; 0: no limit)"
            log.error("%s", message if str(source) in message else f"{source}: {message}")
        else:
            self.bugs += 1
            log.critical("%s: unexpected error", source, exc_info=True)

    def status(self) -> int:
        """Exit status: 3 if any failure was a bug, 1 if any file failed, else 0."""
        from esrgan.cli import EXIT_BUG, EXIT_FAILED, EXIT_OK, report_bug

        if self.bugs:
            log.critical("%d of the failures above were unexpected errors (tracebacks above)", self.bugs)
            report_bug(with_traceback=False)
            return EXIT_BUG
        return EXIT_FAILED if self.count else EXIT_OK


def run(args: argparse.Namespace) -> int:
    from esrgan.fileio import ensure_writable_folder
    from esrgan.image_probe import IMAGE_EXTENSIONS, check_image_file

    # Cheap checks first, before torch and the model load: paths, names, and every input's header (a
    # 400-megapixel or undecodable file is refused here in microseconds, for tens of MB of memory).
    if args.suffix is not None:
        check_suffix(args.suffix)
    found, missing = collect_inputs(args.inputs, args.recursive)
    for message in missing:
        log.error("%s", message)
    if not found:
        raise NotFoundError("nothing to upscale: no input exists")
    output = Path(args.output)
    single_file = output.suffix.lower() in IMAGE_EXTENSIONS
    if single_file and len(found) > 1:
        raise OptionsError(f"-o {output} is a single file but {len(found)} inputs were given; pass a folder")
    if single_file and output.resolve() == found[0][0].resolve():
        raise OutputError(f"{output}: output would overwrite the input; choose another -o")
    out_dir = output.parent if single_file else output
    ensure_writable_folder(out_dir)
    failures = _Failures()
    failures.count += len(missing)
    readable = []
    for source, base in found:
        try:
            check_image_file(source, args.max_pixels)
            readable.append((source, base))
        except Exception as exc:
            failures.report(source, exc)
    done = skipped = 0
    if readable:
        done, skipped = _upscale_files(args, readable, {src.resolve() for src, _ in found}, output, single_file,
                                       failures)  # fmt: skip
    log.info("upscaled %d, skipped %d, failed %d", done, skipped, failures.count)
    return failures.status()


def _upscale_files(
    args: argparse.Namespace,
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
    import torch
    from tqdm import tqdm

    from esrgan.image import ImageData, from_tensor, read_image, to_tensor, write_image
    from esrgan.inference.pipeline import upscale_image
    from esrgan.models import load_model

    if args.interp:
        from esrgan.models.interpolate import interpolate_models, parse_interp_spec

        net, infos = interpolate_models(*parse_interp_spec(args.interp))
        info = infos[0]
    else:
        net, info = load_model(args.model)
    outscale = args.outscale if args.outscale is not None else float(info.scale)
    suffix = args.suffix if args.suffix is not None else f"_x{outscale:g}"
    log.info("model %s (%s x%d, %.1fM parameters, %s)", info.name or info.path, info.arch, info.scale,
             info.num_params / 1e6, info.source_format)  # fmt: skip
    tile_bar: list[Any] = [None]

    def on_tile(done: int, total: int) -> None:
        if args.quiet or total <= 1:
            return
        if tile_bar[0] is None:
            tile_bar[0] = tqdm(total=total, desc="tiles", unit="tile", leave=False)
        tile_bar[0].n = done
        tile_bar[0].refresh()

    upscaler = upscaler_from(net, args, on_tile=on_tile)
    log.info("device %s, precision %s, tile %s", upscaler.device, str(upscaler.dtype).replace("torch.", ""), args.tile)
    out_dir = output.parent if single_file else output
    done = skipped = 0
    bar = tqdm(list(plan_jobs(found, output, suffix, single_file)), desc="images", unit="img", disable=args.quiet)
    for source, target, stem in bar:
        try:
            image = read_image(source, max_pixels=args.max_pixels)
            if target is None:
                ext = _output_ext(source, args.ext, image.alpha is not None, image.bit_depth)
                target = out_dir / f"{stem}{ext}"
            if target.resolve() in inputs:
                raise OutputError(f"{source}: output {target} would overwrite an input; change -o or --suffix")
            if args.skip_existing and target.exists():
                skipped += 1
                log.info("%s: skipped, %s exists", source, target)
                continue
            alpha = to_tensor(image.alpha) if image.alpha is not None else None
            with torch.inference_mode():
                sr, sr_alpha = upscale_image(upscaler, to_tensor(image.pixels), alpha, net_channels=info.in_channels,
                                             scale=info.scale, outscale=outscale, alpha_mode=args.alpha)  # fmt: skip
            result = ImageData(
                pixels=from_tensor(sr),
                alpha=from_tensor(sr_alpha)[:, :, 0] if sr_alpha is not None else None,
                bit_depth=image.bit_depth,
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, result, quality=args.quality)
            done += 1
            log.info("%s -> %s (%dx%d)", source, target, result.width, result.height)
        except Exception as exc:  # one bad file must not stop the batch: reported with its path, and on we go
            failures.report(source, exc)
        finally:
            if tile_bar[0] is not None:
                tile_bar[0].close()
                tile_bar[0] = None
    if single_file and done:
        log.info("wrote %s", output.resolve())
    elif done:
        log.info("wrote %d image(s) to %s", done, out_dir.resolve())
    return done, skipped


def check_suffix(suffix: str) -> None:
    """Refuse a ``--suffix`` that would move outputs out of their folder (a path separator or a lone '..')."""
    if any(sep in suffix for sep in ("/", "\\", os.sep, os.altsep or "/")) or "\0" in suffix:
        raise OptionsError(f"--suffix {quote(suffix)} must not contain a path separator: it is added to file names")
