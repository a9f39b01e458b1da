"""A batch of image files for ``esrgan upscale``, planned before the model loads: the inputs collected from files,
folders and globs, their output names, every input's header screened (format, ``--max-pixels``), inputs that would
be written to the same output refused, and the per-file report with the exit status (torch-free).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from esrgan.errors import OptionsError, is_expected, quote

if TYPE_CHECKING:
    from esrgan.image.probe import ImageHeader
    from esrgan.inference import UpscaledFile

log = logging.getLogger("esrgan.commands.upscale")

__all__ = [
    "Report",
    "check_suffix",
    "collect_inputs",
    "find_collisions",
    "plan_jobs",
    "refuse_collisions",
    "screen_headers",
]


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


def check_suffix(suffix: str) -> None:
    """Refuse a ``--suffix`` that would move outputs out of their folder (a path separator or a lone '..')."""
    if any(sep in suffix for sep in ("/", "\\", os.sep, os.altsep or "/")) or "\0" in suffix:
        raise OptionsError(f"--suffix {quote(suffix)} must not contain a path separator: it is added to file names")


class Report:
    """Counts and the per-file lines of a batch, the same whether the files were done here or on workers;
    ``started``: when the first file began (the engine or the workers ready). Each input is reported once: in one
    line when its failure is an expected one (``describe(error)``), with its traceback when it is a bug."""

    def __init__(self, describe: Callable[[BaseException], str] = str) -> None:
        self.done = self.skipped = self.failed = self.bugs = 0
        self.started = time.perf_counter()
        self.describe = describe  # an expected failure's line, in the command's words

    def line(self, message: str, inputs: int = 1) -> None:
        """A failure of ``inputs`` inputs, said in one line."""
        self.failed += inputs
        log.error("%s", message)

    def file(self, source: Path, result: UpscaledFile | None, error: BaseException | None) -> None:
        if error is not None and not is_expected(error):
            self.failed += 1
            self.bugs += 1
            log.critical("%s: unexpected error", source, exc_info=(type(error), error, error.__traceback__))
        elif error is not None:
            # One bad file must not stop the batch: report it with its path and go on.
            message = self.describe(error)
            self.line(message if str(source) in message else f"{source}: {message}")
        elif result is not None and result.skipped:
            self.skipped += 1
            log.info("%s: skipped, %s exists", source, result.target)
        elif result is not None:
            self.done += 1
            log.info("%s -> %s (%dx%d)", source, result.target, result.width, result.height)

    def status(self) -> int:
        """Exit status: 3 if any failure was a bug, 1 if any input failed, else 0."""
        from esrgan.exits import EXIT_BUG, EXIT_FAILED, EXIT_OK, report_bug

        if self.bugs:
            log.critical("%d of the failures above were unexpected errors (tracebacks above)", self.bugs)
            report_bug(with_traceback=False)
            return EXIT_BUG
        return EXIT_FAILED if self.failed else EXIT_OK


def screen_headers(
    found: list[tuple[Path, Path]], max_pixels: int, report: Report
) -> list[tuple[Path, Path, ImageHeader]]:
    """The inputs whose header is an image the package reads within ``--max-pixels``, with their headers; the
    others reported."""
    from esrgan.image.probe import check_image_file

    readable = []
    for source, base in found:
        try:
            header = check_image_file(source)
        except Exception as exc:
            report.file(source, None, exc)
            continue
        if max_pixels and header.pixels > max_pixels:
            report.line(
                f"{source}: {header.width}x{header.height} is {header.pixels / 1e6:.1f} MP, above --max-pixels "
                f"{max_pixels}; pass --max-pixels 0 to allow any size"
            )
            continue
        readable.append((source, base, header))
    return readable


def screen_output_sizes(
    found: list[tuple[Path, Path, ImageHeader]], factor: float, max_output_pixels: int, report: Report
) -> list[tuple[Path, Path, ImageHeader]]:
    """``found`` without the inputs whose output would have more than ``max_output_pixels`` pixels at ``factor``
    (the larger of the network's scale and the output scale, or what is known of it before the model loads: a
    lower bound refuses nothing that would pass), each reported; 0 for either: nothing refused."""
    from esrgan.inference.limits import check_sizes

    kept = []
    for source, base, header in found:
        try:
            check_sizes(header, source, max_output_pixels=max_output_pixels, factor=factor)
        except Exception as exc:
            report.file(source, None, exc)
        else:
            kept.append((source, base, header))
    return kept


def refuse_collisions(
    found: list[tuple[Path, Path, ImageHeader]], ext: str, out_dir: Path, report: Report
) -> list[tuple[Path, Path]]:
    """``found`` without the inputs that would share an output file: each group reported in one line, and none
    of its inputs upscaled (which one would win is no choice to make for the user)."""
    refused: set[Path] = set()
    for group in find_collisions(found, ext):
        names = ", ".join(str(s) for s in group)
        report.line(
            f"{names}: would be written to the same file in {out_dir}; none of them is upscaled (upscale them into "
            "different -o folders, or their common folder with -r, which keeps sub-folders)",
            inputs=len(group),
        )
        refused.update(group)
    return [(source, base) for source, base, _ in found if source not in refused]
