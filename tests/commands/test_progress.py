"""What the commands show while they work: logs between bars, bars that move without updates, plain lines off a
terminal, and the estimate of long jobs."""

from __future__ import annotations

import io
import logging
import re
import time

import pytest

from esrgan.commands import progress
from esrgan.commands.progress import Estimate, LogHandler, Status, WorkBar, format_duration


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("esrgan.test", level, __file__, 1, message, None, None)


def test_log_lines_never_glue_to_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm import tqdm

    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    handler = LogHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    bar = tqdm(total=4, desc="tiles", file=stream)
    bar.update(1)
    handler.emit(record("photo.jpg: output would overwrite an input"))
    bar.close()
    out = stream.getvalue()
    # The bar was cleared (carriage return) before the line, which ends with its own newline.
    assert re.search(r"\r\s*\r?E esrgan\.test: photo\.jpg: output would overwrite an input\n", out)
    assert "\033[" not in out


def test_colour_on_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Terminal()
    handler = LogHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(message)s"))
    handler.emit(record("bad"))
    handler.emit(record("fine", logging.INFO))
    assert stream.getvalue() == "\033[31mE\033[0m bad\nI fine\n"
    monkeypatch.setenv("NO_COLOR", "1")
    assert not LogHandler(Terminal()).colour
    assert not LogHandler(io.StringIO()).colour  # not a terminal


def test_a_bar_keeps_moving_while_nothing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single 60-second tile: the ticker redraws the elapsed time without any update."""
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(progress, "TICK", 0.05)
    with WorkBar("photo.jpg", 1, "tile") as bar:
        bar.update(0.25)
        drawn = stream.getvalue().count("\r")
        time.sleep(0.4)
        assert stream.getvalue().count("\r") >= drawn + 3
        assert "0.2/1 tiles" in stream.getvalue() and "photo.jpg" in stream.getvalue()


def test_off_a_terminal_a_plain_line_now_and_then(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    with caplog.at_level(logging.INFO), WorkBar("photo.jpg", 16, "tile") as bar:
        time.sleep(0.01)
        bar.update(4)
    assert re.search(r"photo\.jpg: 4\.0/16 tiles, \d+ s, ~\d+ s left", caplog.text)
    with caplog.at_level(logging.INFO), WorkBar("quiet.jpg", 16, "tile", quiet=True) as bar:
        bar.update(4)
    assert "quiet.jpg" not in caplog.text


def test_status_shows_a_step_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with Status("loading realesrgan-x4plus") as status:
        pass
    assert "loading realesrgan-x4plus" in stream.getvalue() and status.seconds >= 0
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    with Status("loading", quiet=True):
        pass
    assert quiet.getvalue() == ""


def test_estimate_is_said_once_for_long_cpu_jobs(caplog: pytest.LogCaptureFixture) -> None:
    faster = "-m realesr-animevideov3 is 29x faster per pixel"
    with caplog.at_level(logging.INFO):
        job = Estimate(100e12, "realesrgan-x4plus", 35.9e6, on_cpu=True, faster=faster)
        job.measured(1e12, 5.0, first_tile_done=False)  # not enough to go by yet
        assert job.rate is None
        job.measured(2e12, 10.0, first_tile_done=True)
        job.measured(3e12, 11.0, first_tile_done=True)  # said once
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and job.rate == pytest.approx(2e11)
    assert lines[0].startswith("this will take about 8 min 10 s more on this CPU: realesrgan-x4plus costs 35,900 GFLOP")
    assert "200 GFLOP/s on it (measured on the first tile)" in lines[0] and lines[0].endswith(faster)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        Estimate(1e12, "m", 1e6, on_cpu=True, faster="").measured(5e11, 1.0, True)  # 1 s left: not long
        Estimate(100e12, "m", 1e6, on_cpu=False, faster="").measured(1e12, 10.0, True)  # a GPU
    assert not caplog.records


def test_format_duration() -> None:
    assert [format_duration(s) for s in (4.4, 200, 7500)] == ["4 s", "3 min 20 s", "2 h 05 min"]


@pytest.mark.parametrize(
    ("verbose", "quiet", "command", "engine", "calibration"),
    [
        (0, False, logging.INFO, logging.WARNING, logging.INFO),  # what the command does; the calibration's wait
        (1, False, logging.INFO, logging.INFO, logging.INFO),  # -v: the engine's decisions too
        (2, False, logging.DEBUG, logging.DEBUG, logging.DEBUG),
        (0, True, logging.WARNING, logging.WARNING, logging.WARNING),  # -q
    ],
)
def test_levels_of_v_and_q(verbose: int, quiet: bool, command: int, engine: int, calibration: int) -> None:
    from esrgan.cli import setup_logging

    setup_logging(verbose, quiet)
    names = ("esrgan.commands.upscale", "esrgan.inference.upscaler", "esrgan.backends.calibrate", "esrgan.train.loop")
    level = {name: logging.getLogger(name).getEffectiveLevel() for name in names}
    assert level == {
        "esrgan.commands.upscale": command,
        "esrgan.inference.upscaler": engine,
        "esrgan.backends.calibrate": calibration,
        "esrgan.train.loop": command,  # training's progress is its command's output
    }


def test_upscale_estimate_names_the_fast_photo_model() -> None:
    from types import SimpleNamespace

    from esrgan.commands.upscale import _estimate

    heavy = SimpleNamespace(flops_per_pixel=35.85e6, device=SimpleNamespace(type="cpu"))
    job = _estimate(heavy, "realesrgan-x4plus", [1000, 2000], ensemble=True)  # type: ignore[arg-type]
    assert job.total_flops == pytest.approx(3000 * 35.85e6 * 8) and job.on_cpu
    assert job.faster.startswith("-m realesrgan-x4plus-fast is 29x faster per pixel")
    cheap = SimpleNamespace(flops_per_pixel=1.2384e9 / 1e3, device=SimpleNamespace(type="cpu"))
    assert _estimate(cheap, "realesrgan-x4plus-fast", [10], ensemble=False).faster == ""  # type: ignore[arg-type]
    assert _estimate(cheap, "other", [10], ensemble=False).faster == ""  # type: ignore[arg-type]  # not 2x cheaper
