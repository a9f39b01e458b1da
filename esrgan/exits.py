"""Exit statuses and the user/bug boundary of every command line of the package (``esrgan`` and the data
preparation scripts ``python -m esrgan.datasets.<name>``).

0 done; 1 some inputs of a batch failed (each named once, the rest done); 2 a user error, one line (an
:class:`~esrgan.errors.EsrganError`, or the system refusing: permission, disk full); 3 a bug (a traceback, and a line
saying so); 130 interrupted (Ctrl-C); 141 stdout closed early (``| head``). The README's table lists the same.
Torch-free, like :mod:`esrgan.errors`.
"""

from __future__ import annotations

import logging
import re

from esrgan import __version__
from esrgan.errors import EsrganError, is_expected

__all__ = [
    "BUG_LINE",
    "EXIT_BROKEN_PIPE",
    "EXIT_BUG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USER",
    "exit_status_of",
    "report_bug",
    "report_user_error",
    "user_message",
]

EXIT_OK = 0
EXIT_FAILED = 1  # some inputs of a batch failed; the others were done
EXIT_USER = 2  # a user error: bad arguments, options, files or paths (one line)
EXIT_BUG = 3  # an unexpected exception: a bug of esrgan (traceback)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: whoever read stdout stopped reading

BUG_LINE = (
    "this is a bug in esrgan {version}, not a problem with your files: please report it to the project's "
    "issue tracker with the command line and the traceback above"
)

log = logging.getLogger("esrgan")


# torch re-raises an exception of a DataLoader worker process as the same class with the worker's whole traceback
# as its message ("Caught InputError in DataLoader worker process 0.\nOriginal Traceback ...\n<module.Class>: text").
_WORKER_TRACEBACK = "Original Traceback (most recent call last):"
_CLASS_PREFIX = re.compile(r"^[A-Za-z_][\w.]*: ")


def user_message(exc: BaseException) -> str:
    """The one line a user sees for an expected failure: its text, whitespace collapsed; for an exception a
    DataLoader worker raised, the original exception's text without the worker's traceback."""
    text = str(exc)
    if _WORKER_TRACEBACK in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = _CLASS_PREFIX.sub("", last.strip(), count=1)
    return " ".join(text.split()) or type(exc).__name__


def report_user_error(exc: BaseException, verbose: int = 0) -> None:
    """Log an expected failure as one line (with its traceback at ``verbose >= 2``)."""
    message = user_message(exc)
    if isinstance(exc, OSError) and not isinstance(exc, EsrganError) and exc.filename is not None:
        message = f"{exc.filename}: {exc.strerror or message}"
    log.error("%s", message, exc_info=True if verbose >= 2 else None)


def report_bug(*, with_traceback: bool = True) -> None:
    """Log the exception being handled with its traceback, and say it is a bug and where to report it."""
    if with_traceback:
        log.critical("unexpected error", exc_info=True)
    log.critical(BUG_LINE.format(version=__version__))


def exit_status_of(exc: Exception, verbose: int = 0) -> int:
    """Report ``exc`` (being handled) on the right side of the boundary and return the exit status: one line and
    :data:`EXIT_USER` for an expected failure, its traceback and :data:`EXIT_BUG` for anything else."""
    if not is_expected(exc):
        report_bug()
        return EXIT_BUG
    report_user_error(exc, verbose)
    return EXIT_USER
