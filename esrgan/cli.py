"""Command-line entry point: ``esrgan <verb> ...``.

The CLI turns arguments into calls. Each verb lives in ``esrgan/commands/<verb>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a ``run(args) -> int`` function. Verb modules
keep heavy imports (torch, av) inside ``run`` so that ``esrgan --help`` stays fast. Progress bars and exit codes
belong here and in ``commands/``; library code only logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from esrgan import __version__

# Verb modules in the order `esrgan --help` lists them.
COMMANDS = ("upscale", "video", "models", "info", "test", "train", "options", "interp", "export", "bench")

log = logging.getLogger("esrgan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esrgan",
        description="ESRGAN-family super-resolution: upscale images and videos, test and train models.",
    )
    parser.add_argument("--version", action="version", version=f"esrgan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"esrgan.commands.{name}").register(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.INFO if verbose <= 1 else logging.DEBUG)
    if verbose == 0 and not quiet:
        level = logging.INFO
    logging.basicConfig(level=level, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, getattr(args, "quiet", False))
    from esrgan.allocator import tune_cpu_allocator

    tune_cpu_allocator()  # the CLI owns the process: reuse freed activations instead of page-faulting them in
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as exc:
        # Expected user errors: one line, no traceback (run with -vv for one).
        if args.verbose >= 2:
            log.exception("%s", exc)
        else:
            log.error("%s", exc)
        return 2
