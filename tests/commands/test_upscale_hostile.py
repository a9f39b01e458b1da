"""`esrgan upscale` against hostile inputs (issue 12): every good file of a batch written, every bad one named
once in one line, nothing written over (outputs of one run never collide), limits checked before the work, and a
400-megapixel file refused by the whole command in well under 2 s and 300 MB."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from esrgan.archs import SRVGGNetCompact
from esrgan.cli import main
from esrgan.models import save_model
from tests.commands.images import photo, png_declaring, save_rgb, valid_1bit_png


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random x2 SRVGGNetCompact: fast, and its output depends on the input (not an identity)."""
    path = tmp_path_factory.mktemp("model") / "tiny_x2.pth"
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), path)
    return path


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_batch_of_good_and_hostile_files_does_every_good_one(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    save_rgb(src / "a.png", photo())
    save_rgb(src / "b.jpg", photo())
    (src / "c.jpg").write_bytes(cv2.imencode(".png", photo())[1].tobytes())  # a PNG named .jpg: read by content
    bad = {
        "bomb.png": png_declaring(50000, 50000),  # 57 bytes; OpenCV raised cv2.error and stopped the batch
        "wide.tif": png_declaring(30000, 1000),  # above --max-pixels: refused from the header
        "trunc.png": (src / "a.png").read_bytes()[:60],
        "empty.webp": b"",
        "noise.bmp": np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
        "ppm.png": b"P6\n4 4\n255\n" + bytes(48),  # a format OpenCV decodes but the package does not read
    }
    for name, data in bad.items():
        (src / name).write_bytes(data)
    # A collision: two inputs named dup.png from different folders would both be written to out/dup_x2.png.
    (tmp_path / "other").mkdir()
    save_rgb(src / "dup.png", photo(24, 40))
    save_rgb(tmp_path / "other" / "dup.png", photo(32, 24))
    out = tmp_path / "out"
    argv = ["upscale", str(src), str(tmp_path / "other" / "dup.png"), "-o", str(out), "-m", str(tiny_model), "-q"]
    with caplog.at_level(logging.INFO):
        status = main([*argv, "--max-pixels", "1000000"])
    assert status == 1  # some inputs failed, every other one was done
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.jpg", "c_x2.jpg"]
    errors = _errors(caplog)
    assert not [r for r in caplog.records if r.exc_info]  # one line each, no traceback
    assert len(errors) == len(bad) + 1  # the two colliding inputs share one line that names both
    for name in [*bad, "in/dup.png", "other/dup.png"]:
        assert sum(name in m for m in errors) == 1, name
    assert any("wide.tif" in m and "above --max-pixels 1000000; pass --max-pixels 0" in m for m in errors)
    assert any("would be written to the same file" in m and "-r" in m for m in errors)


def test_a_bug_in_one_file_is_shown_and_the_batch_goes_on(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import esrgan.inference.files

    real = esrgan.inference.files.upscale_image

    def buggy(upscaler: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        if x.shape[-1] == 40:
            raise RuntimeError("a bug in the engine")
        return real(upscaler, x, *args, **kwargs)

    monkeypatch.setattr(esrgan.inference.files, "upscale_image", buggy)
    src = tmp_path / "in"
    src.mkdir()
    save_rgb(src / "a_bug.png", photo(24, 40))
    save_rgb(src / "b_fine.png", photo(24, 32))
    status = main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", str(tiny_model), "-q"])
    assert status == 3  # a bug happened: not "some inputs were bad"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b_fine_x2.png"]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "a_bug.png" in tracebacks[0].getMessage()
    assert "this is a bug in esrgan" in caplog.text


def test_suffix_cannot_leave_the_output_folder(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "in").mkdir()
    src = save_rgb(tmp_path / "in" / "a.png", photo())
    out = tmp_path / "deep" / "out"
    for suffix in ("/../..", "/x", "\\..\\.."):
        status = main(["upscale", str(src), "-o", str(out), "--suffix", suffix, "-m", str(tiny_model), "-q"])
        assert status == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.png"]  # nothing written anywhere


def test_unwritable_output_folder_is_one_line_before_the_model_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import esrgan.models

    src = save_rgb(tmp_path / "a.png", photo())
    out = tmp_path / "ro" / "out"
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.is_relative_to(tmp_path / "ro"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    monkeypatch.setattr(esrgan.models, "load_model", lambda *a, **k: pytest.fail("loaded the model first"))
    assert main(["upscale", str(src), "-o", str(out), "-q"]) == 2
    assert _errors(caplog) == [f"{out}: cannot write output files there (Read-only file system)"]


def test_output_equal_to_the_input_is_refused_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import esrgan.models

    src = save_rgb(tmp_path / "a.png", photo())
    before = src.read_bytes()
    monkeypatch.setattr(esrgan.models, "load_model", lambda *a, **k: pytest.fail("loaded the model first"))
    assert main(["upscale", str(src), "-o", str(src), "-q"]) == 2
    assert src.read_bytes() == before


def test_missing_inputs_only_is_a_user_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["upscale", str(tmp_path / "nope.png"), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert any("nope.png: no such file" in m for m in _errors(caplog))


# ------------------------------------------------------------------------------------- output name collisions
def test_same_names_from_two_folders_are_refused_before_any_work(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both went to out/img_x2.png: "wrote 2 image(s)" and one was lost."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        save_rgb(tmp_path / folder / "img.png", photo())
    save_rgb(tmp_path / "a" / "other.png", photo())
    out = tmp_path / "out"
    args = [str(tmp_path / "a" / "img.png"), str(tmp_path / "b" / "img.png"), str(tmp_path / "a" / "other.png")]
    assert main(["upscale", *args, "-o", str(out), "-m", str(tiny_model), "-q"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["other_x2.png"]  # neither img is written: no silent winner
    (line,) = _errors(caplog)
    assert f"{tmp_path / 'a' / 'img.png'}, {tmp_path / 'b' / 'img.png'}: would be written to the same file" in line
    # The way out the message names: their common folder with -r keeps the sub-folders apart.
    caplog.clear()
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "a"),
                str(tmp_path / "b"),
                "-o",
                str(out / "r"),
                "-r",
                "-m",
                str(tiny_model),
                "-q",
            ]
        )
        == 1
    )  # fmt: skip  (two roots: still one folder each)
    assert main(["upscale", str(tmp_path), "-r", "-o", str(out / "all"), "-m", str(tiny_model), "-q",
                 "--max-pixels", "0"]) == 0  # fmt: skip
    assert {p.relative_to(out / "all").as_posix() for p in (out / "all").rglob("*.png")} >= {
        "a/img_x2.png",
        "b/img_x2.png",
    }


def test_formats_count_in_the_output_name(tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    save_rgb(tmp_path / "img.png", photo())
    save_rgb(tmp_path / "img.jpg", photo())
    out = tmp_path / "out"
    # --ext auto: img_x2.png and img_x2.jpg, no collision.
    assert main(["upscale", str(tmp_path / "img.png"), str(tmp_path / "img.jpg"), "-o", str(out), "-m",
                 str(tiny_model), "-q"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["img_x2.jpg", "img_x2.png"]
    # --ext png: both would be img_x2.png.
    assert main(["upscale", str(tmp_path / "img.png"), str(tmp_path / "img.jpg"), "-o", str(out / "p"), "--ext",
                 "png", "-m", str(tiny_model), "-q"]) == 1  # fmt: skip
    assert not (out / "p").exists() or not any((out / "p").iterdir())
    assert any("would be written to the same file" in m for m in _errors(caplog))


def test_an_output_written_by_this_run_is_never_replaced(tmp_path: Path, tiny_model: Path) -> None:
    """The library's backstop when a plan could not tell (upscale_file's ``written``)."""
    from esrgan.errors import OutputExistsError
    from esrgan.inference import EngineOptions, Upscaler, upscale_file
    from esrgan.models import load_model

    save_rgb(tmp_path / "a.png", photo())
    save_rgb(tmp_path / "b.png", photo(24, 40))
    upscaler = Upscaler.from_options(load_model(tiny_model)[0], EngineOptions())
    first = upscale_file(tmp_path / "a.png", tmp_path / "o.png", upscaler)
    before = first.target.read_bytes()
    with pytest.raises(OutputExistsError, match="was written by this run for another input"):
        upscale_file(tmp_path / "b.png", tmp_path / "o.png", upscaler, written={first.target.resolve()})
    assert first.target.read_bytes() == before


# ------------------------------------------------------------------------------------------------ output size
def test_output_size_is_bounded_before_the_network_runs(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model may declare any scale: the output (input x scale or x outscale) is checked against a limit first:
    before the model loads when the scale is known (-s), else once it is loaded, before the engine is prepared
    (a compiled backend's calibration took 150 s before the refusal, on a 2-core machine)."""
    import esrgan.inference.files
    import esrgan.models
    from esrgan.inference.upscaler import Upscaler

    src = save_rgb(tmp_path / "a.png", photo())  # 32x24: x2 is 64x48 = 3072 pixels
    monkeypatch.setattr(esrgan.inference.files, "upscale_image", lambda *a, **k: pytest.fail("ran the network"))
    monkeypatch.setattr(Upscaler, "from_options", lambda *a, **k: pytest.fail("prepared the engine"))
    argv = ["upscale", str(src), "-o", str(tmp_path / "o"), "-m", str(tiny_model), "-q", "--max-output-pixels"]
    assert main([*argv, "3000"]) == 1
    assert _errors(caplog) == [
        f"{src}: the output would be 64x48 (0.0 MP), above --max-output-pixels 3000; lower -s/--outscale, or pass "
        "--max-output-pixels 0 to allow it"
    ]
    caplog.clear()
    monkeypatch.setattr(esrgan.models, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    assert main([*argv, "4000", "-s", "4"]) == 1  # 128x96 = 12288 pixels at outscale 4: known before the load
    assert "above --max-output-pixels 4000" in caplog.text


def test_standard_output_checks_the_output_size_before_the_engine(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o -`` (a filter in a pipe): the same limits, as early: -s before the model loads, the model's scale
    before the engine is prepared; its one input refused is a user error (exit 2), as with --max-pixels."""
    import esrgan.models
    from esrgan.inference.upscaler import Upscaler

    src = save_rgb(tmp_path / "a.png", photo())
    monkeypatch.setattr(Upscaler, "from_options", lambda *a, **k: pytest.fail("prepared the engine"))
    argv = ["upscale", str(src), "-o", "-", "-m", str(tiny_model), "-q", "--max-output-pixels", "3000"]
    assert main(argv) == 2
    assert "the output would be 64x48 (0.0 MP), above --max-output-pixels 3000" in caplog.text
    caplog.clear()
    monkeypatch.setattr(esrgan.models, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    assert main([*argv, "-s", "4"]) == 2
    assert "the output would be 128x96 (0.0 MP), above --max-output-pixels 3000" in caplog.text


# ------------------------------------------------------------------------------- the whole command, measured
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc for the peak memory")
@pytest.mark.parametrize("extra", [(), ("--max-pixels", "0")], ids=["input", "output"])
def test_a_400_megapixel_file_is_refused_fast_and_small_by_the_whole_command(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """The real command in a fresh interpreter: parsing, the allocator tuning, the header screen. Torch is never
    imported on this path (2 s and 275 MB of its own here), nor is the file decoded (12 GB and 92 s before)."""
    big = tmp_path / "big.png"
    big.write_bytes(valid_1bit_png(20000, 20000))
    refused = {
        (): "20000x20000 is 400.0 MP, above --max-pixels 25000000",
        # the input allowed: the output at the built-in model's scale is refused, before the model loads too
        ("--max-pixels", "0"): "the output would be 80000x80000 (6400.0 MP), above --max-output-pixels 400000000",
    }[extra]
    code = (
        "import resource, sys, time; t = time.perf_counter(); from esrgan.cli import main; "
        "status = main(sys.argv[1:]); "
        "u = resource.getrusage(resource.RUSAGE_SELF); "
        # VmHWM: this program's peak (ru_maxrss would count the forked pytest process it was made from)
        "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')); "
        "print('torch' in sys.modules, time.perf_counter() - t, u.ru_utime + u.ru_stime, hwm / 1024); "
        "sys.exit(status)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("ESRGAN_MALLOC_TUNING", None)  # as users run it
    proc = subprocess.run([sys.executable, "-c", code, "upscale", str(big), "-o", str(tmp_path / "out"), *extra],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert refused in proc.stderr
    torch_imported, seconds, cpu, peak_mb = proc.stdout.split()
    assert torch_imported == "False"
    # CPU time (the wall time of this shared machine depends on its other users; measured 0.4 s wall, 54 MB).
    assert float(cpu) < 2.0 and float(peak_mb) < 300, proc.stdout
    assert float(seconds) < 10.0, proc.stdout  # a hang or a decode would take minutes
