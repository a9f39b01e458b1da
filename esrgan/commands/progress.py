"""What the commands show while they work: bars that move from the first second, logs that do not break them, and
an honest estimate of long jobs.

- :class:`LogHandler`: log records go through ``tqdm.write``, so a line never lands in the middle of a bar; level
  letters are coloured on a terminal unless ``NO_COLOR`` is set (https://no-color.org).
- :class:`Status`: one step of unknown length (loading a model, compiling a backend) with its elapsed time.
- :class:`WorkBar`: progress in units (tiles of an image, frames of a video) that may advance in fractions (the
  engine reports the work of the running network call, :mod:`esrgan.inference.progress`). A ticker thread
  redraws it every second, so the elapsed time runs even while one 60-second tile computes.
- :class:`Estimate`: the time a job will take, from the model's cost per pixel and the speed measured on the first
  tile, said once before a long job with the faster built-in model to use instead.

On a terminal these draw tqdm bars on stderr; elsewhere (a log file, CI) there are no bars and a :class:`WorkBar`
logs a plain progress line every :data:`PLAIN_INTERVAL` seconds instead. ``-q`` shows neither.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

log = logging.getLogger(__name__)

__all__ = ["Estimate", "LogHandler", "Status", "WorkBar", "format_duration", "on_terminal"]

# Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 30.0
# Seconds between two redraws of a bar by its ticker (the elapsed time and the estimate move with it).
TICK = 1.0
# A job expected to take longer than this on the CPU gets the estimate line.
LONG_JOB_SECONDS = 60.0
_COLOURS = {"E": "\033[31m", "C": "\033[31;1m", "W": "\033[33m"}


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is an interactive terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 05 min"``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class LogHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]  # generic in the stubs only
    """Writes records with ``tqdm.write`` (bars are cleared, the line printed, the bars redrawn), with the level
    letter coloured on a terminal unless ``NO_COLOR`` is set."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self.colour = on_terminal(self.stream) and not os.environ.get("NO_COLOR")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            message = self.format(record)
            if self.colour and message[:1] in _COLOURS:
                message = f"{_COLOURS[message[0]]}{message[0]}\033[0m{message[1:]}"
            tqdm.write(message, file=self.stream)
        except RecursionError:
            raise
        except Exception:  # as logging.StreamHandler does: a broken stream must not end the program
            self.handleError(record)


class _Ticker:
    """Calls ``tick`` every ``interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(self, tick: Any, interval: float | None = None) -> None:
        self._stop = threading.Event()
        args = (tick, TICK if interval is None else interval)
        self._thread = threading.Thread(target=self._run, args=args, daemon=True, name="esrgan-ticker")
        self._thread.start()

    def _run(self, tick: Any, interval: float) -> None:
        while not self._stop.wait(interval):
            tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * TICK)


class Status:
    """``with Status("loading realesrgan-x4plus", quiet):`` shows ``loading realesrgan-x4plus: 3s`` on a terminal
    until the block ends, and leaves nothing behind. :attr:`seconds` is the block's duration afterwards."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.label = label
        self.quiet = quiet
        self.seconds = 0.0
        self._bar: Any = None
        self._ticker: _Ticker | None = None

    def __enter__(self) -> Status:
        self._start = time.perf_counter()
        if not self.quiet and on_terminal():
            from tqdm import tqdm

            self._bar = tqdm(desc=self.label, bar_format="{desc}: {elapsed}", leave=False, file=sys.stderr)
            self._ticker = _Ticker(self._bar.refresh)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.seconds = time.perf_counter() - self._start
        if self._ticker is not None:
            self._ticker.stop()
        if self._bar is not None:
            self._bar.close()


class WorkBar:
    """Progress over ``total`` units (tiles, frames) that may advance in fractions.

    Args:
        label: what is being done (a file name).
        total: units in all; None when unknown (a video container that does not say).
        unit: "tile", "frame", ...
        quiet: show nothing.
        initial: units done before this run (a resumed video): shown, but not counted as speed.
    """

    def __init__(self, label: str, total: float | None, unit: str, *, quiet: bool = False, initial: float = 0) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.quiet = quiet
        self.done = float(initial)
        self._initial = float(initial)
        self._start = time.perf_counter()
        self._last_line = self._start
        self._bar: Any = None
        self._ticker: _Ticker | None = None
        if quiet:
            return
        if on_terminal():
            from tqdm import tqdm

            counts = "{n:.1f}/{total_fmt} {unit}s" if total else "{n:.1f} {unit}s"
            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=label,
                unit=unit,
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| " + counts + " [{elapsed}<{remaining}{postfix}]"
                if total
                else "{desc}: " + counts + " [{elapsed}{postfix}]",
            )
            self._ticker = _Ticker(self._bar.refresh)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def update(self, done: float, total: float | None = None) -> None:
        """``done`` units of ``total`` (a new total replaces the old one: the tiles of the next image)."""
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        self.done = float(done)
        if self._bar is not None:
            self._bar.n = self.done
            self._bar.refresh()
        elif not self.quiet and time.perf_counter() - self._last_line >= PLAIN_INTERVAL:
            self._last_line = time.perf_counter()
            log.info("%s", self.plain_line())

    def note(self, text: str) -> None:
        """A short text after the times (e.g. an estimate made before the first unit is done)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)

    def plain_line(self) -> str:
        """``photo.jpg: 3.4/16 tiles, 1 min 20 s, ~5 min 10 s left``."""
        counts = f"{self.done:.1f}/{self.total:g} {self.unit}s" if self.total else f"{self.done:.1f} {self.unit}s"
        line = f"{self.label}: {counts}, {format_duration(self.elapsed)}"
        rate = (self.done - self._initial) / max(self.elapsed, 1e-9)
        if self.total and rate > 0:
            line += f", ~{format_duration((self.total - self.done) / rate)} left"
        return line

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> WorkBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Estimate:
    """The time a job of ``total_flops`` will take, said once, when the speed is known.

    The engine reports how far its first network call has got; :meth:`measured` takes the work done and the
    seconds it took. Once the first tile is done (or 10 s of work have been measured within it), the remaining
    work divided by that speed is the estimate; on the CPU a job longer than :data:`LONG_JOB_SECONDS` gets one line
    saying so, with the model's cost and the faster built-in model.

    Args:
        total_flops: the job's work: pixels x the model's cost per pixel x passes (ensemble).
        model: the model's name (for the line).
        flops_per_pixel: its cost.
        on_cpu: whether the engine runs on the CPU (the line is for CPUs, where a job can take hours).
        faster: a line naming the faster model to use instead, or "" when there is none.
    """

    def __init__(self, total_flops: float, model: str, flops_per_pixel: float, on_cpu: bool, faster: str) -> None:
        self.total_flops = total_flops
        self.model = model
        self.flops_per_pixel = flops_per_pixel
        self.on_cpu = on_cpu
        self.faster = faster
        self.rate: float | None = None  # FLOP/s, once measured
        self.measured_on = ""
        self.said = False

    def measured(self, flops: float, seconds: float, first_tile_done: bool) -> None:
        """``flops`` of the first network call took ``seconds``; said once it is enough to go by."""
        if self.rate is not None or flops <= 0 or seconds <= 0 or not (first_tile_done or seconds >= 10.0):
            return
        self.rate = flops / seconds
        self.measured_on = "the first tile" if first_tile_done else f"the first {seconds:.0f} s of it"
        left = (self.total_flops - flops) / self.rate
        if self.on_cpu and left > LONG_JOB_SECONDS and not self.said:
            self.said = True
            log.info("%s", self.line(left))

    def line(self, left: float) -> str:
        rate = self.rate or 0.0
        text = (
            f"this will take about {format_duration(left)} more on this CPU: {self.model} costs "
            f"{self.flops_per_pixel * 1e6 / 1e9:,.0f} GFLOP per input megapixel, and this machine does "
            f"{rate / 1e9:.0f} GFLOP/s on it (measured on {self.measured_on})"
        )
        return f"{text}; {self.faster}" if self.faster else text
