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
# The engine's loggers: its decisions (device, precision, backend, tile and why) are INFO records shown with -v.
ENGINE_LOGGERS = ("esrgan.inference", "esrgan.backends", "esrgan.device", "esrgan.models")
# ... except the progress of a long step among them: the calibration of backend "auto" (seconds to a minute, once).
SHOWN_BY_DEFAULT = ("esrgan.backends.calibrate",)

log = logging.getLogger("esrgan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esrgan",
        description="ESRGAN-family super-resolution: upscale images and videos, test and train models.",
    )
    parser.add_argument("--version", action="version", version=f"esrgan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"esrgan.commands.{name}").register(sub)
    for verb in sub.choices.values():  # -v and -q after the verb too: `esrgan upscale -v photo.jpg`
        if "-v" not in verb._option_string_actions:
            verb.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        if "-q" not in verb._option_string_actions:
            verb.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    return parser


VERBOSE_HELP = "also the engine's decisions (device, precision, backend, tile size and why); -vv: debug"
QUIET_HELP = "no progress bars; warnings and errors only"


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log records to stderr through the progress bars' writer (:class:`esrgan.commands.progress.LogHandler`).

    Default: esrgan's INFO records (what the command does, files written, estimates) but the engine's decisions
    (:data:`ENGINE_LOGGERS`) from WARNING up; ``-v``: those too; ``-vv``: DEBUG; ``-q``: warnings and errors only.
    Other libraries' records: WARNING and up.
    """
    from esrgan.commands.progress import LogHandler

    handler = LogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])  # once per process (tests call main often)
    package = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    logging.getLogger("esrgan").setLevel(package)
    engine = logging.WARNING if not quiet and verbose == 0 else logging.NOTSET
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(engine)
    for name in SHOWN_BY_DEFAULT:
        logging.getLogger(name).setLevel(logging.INFO if not quiet and verbose == 0 else logging.NOTSET)


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
