"""Command-line entry point: ``esrgan <verb> ...``.

The CLI turns arguments into calls. Each verb lives in ``esrgan/commands/<verb>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a ``run(args) -> int`` function. Verb modules
keep heavy imports (torch, av) inside ``run`` so that ``esrgan --help`` stays fast. Progress bars and exit codes
belong here and in ``commands/``; library code only logs.

Exit status (the README's table, :mod:`esrgan.exits`): 0 done; 1 some inputs of a batch failed (each named once,
the rest done); 2 a user error, one line (an :class:`~esrgan.errors.EsrganError`, or the system refusing:
permission, disk full); 3 a bug (a traceback, and a line saying so); 130 interrupted (Ctrl-C); 141 stdout closed
early (``| head``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from esrgan import __version__
from esrgan.exits import (
    EXIT_BROKEN_PIPE,
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USER,
    exit_status_of,
    report_bug,
    report_user_error,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_BUG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USER",
    "build_parser",
    "main",
    "report_bug",
    "report_user_error",
]

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
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits 2
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER
    setup_logging(args.verbose, getattr(args, "quiet", False))
    # OpenCV prints its own multi-line reports of damaged files on stderr; the package reports them in one line.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT" if args.verbose < 2 else "INFO")
    from esrgan.allocator import tune_cpu_allocator

    tune_cpu_allocator()  # the CLI owns the process: reuse freed activations instead of page-faulting them in
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
        return status
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        # The user's arguments, files or paths, or the system refusing (permission, disk full, read-only file
        # system): one line, no traceback (-vv shows one). Anything else is a bug: its traceback.
        return exit_status_of(exc, args.verbose)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass
