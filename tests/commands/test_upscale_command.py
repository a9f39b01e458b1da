"""`esrgan upscale` end to end, in-process, with a tiny random model (fast) and once with the built-in default."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from esrgan.archs import RRDBNet, SRVGGNetCompact
from esrgan.cli import main
from esrgan.models import save_model
from tests.commands.images import photo, save_rgb


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random x2 SRVGGNetCompact: fast, and its output depends on the input (not an identity)."""
    path = tmp_path_factory.mktemp("model") / "tiny_x2.pth"
    save_model(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2), path)
    return path


def test_folder_with_bad_files_goes_on_and_reports(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    save_rgb(src / "a.png", photo())
    save_rgb(src / "b.jpg", photo())
    (src / "empty.png").write_bytes(b"")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        status = main(["upscale", str(src), "-o", str(out), "-m", str(tiny_model)])
    assert status == 1  # something failed
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.jpg"]
    assert cv2.imread(str(out / "a_x2.png")).shape == (48, 64, 3)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("empty.png" in m for m in errors) and any("corrupt.png" in m for m in errors)
    assert "upscaled 2, skipped 0, failed 2" in caplog.text


def test_single_file_output_and_outscale(tmp_path: Path, tiny_model: Path) -> None:
    src = save_rgb(tmp_path / "a.png", photo(20, 30))
    out = tmp_path / "res" / "big.webp"
    assert main(["upscale", str(src), "-o", str(out), "-m", str(tiny_model), "-s", "3.5", "-q"]) == 0
    assert cv2.imread(str(out)).shape == (70, 105, 3)
    # several inputs cannot go to one file
    src2 = save_rgb(tmp_path / "b.png", photo())
    assert main(["upscale", str(src), str(src2), "-o", str(out), "-m", str(tiny_model), "-q"]) == 2


def test_keeps_16bit_alpha_and_gray(tmp_path: Path, tiny_model: Path) -> None:
    rgb16 = (photo().astype(np.uint16) * 257)[..., ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), np.ascontiguousarray(rgb16))
    rgba = np.dstack([photo(), np.tile(np.linspace(0, 255, 32), (24, 1)).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "gray.png"), photo()[..., 0])
    Image.fromarray(rgba).save(tmp_path / "alpha_jpgsource.webp", lossless=True)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path), "-o", str(out), "-m", str(tiny_model), "-q"]) == 0
    deep = cv2.imread(str(out / "deep_x2.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (48, 64, 3)
    alpha = np.asarray(Image.open(out / "alpha_x2.png"))
    assert alpha.shape == (48, 64, 4)
    # the alpha ramp survives the network: left columns transparent-ish, right opaque-ish
    assert alpha[:, :4, 3].mean() < 80 and alpha[:, -4:, 3].mean() > 175
    gray = cv2.imread(str(out / "gray_x2.png"), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 2 and gray.shape == (48, 64)
    assert np.asarray(Image.open(out / "alpha_jpgsource_x2.webp")).shape[2] == 4


def test_never_overwrites_an_input(tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    before = src.read_bytes()
    status = main(["upscale", str(src), "-o", str(tmp_path), "--suffix", "", "-m", str(tiny_model), "-q"])
    assert status == 1
    assert src.read_bytes() == before
    assert f"{src}: output {src} would overwrite an input; change -o or --suffix" in caplog.text


def test_skip_existing_recursive_and_max_pixels(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    save_rgb(tmp_path / "in" / "a.png", photo())
    save_rgb(tmp_path / "in" / "sub" / "b.png", photo())
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "in"), "-r", "-o", str(out), "-m", str(tiny_model), "-q"]) == 0
    assert (out / "sub" / "b_x2.png").is_file()
    mtime = (out / "a_x2.png").stat().st_mtime_ns
    args = ["upscale", str(tmp_path / "in"), "-r", "-o", str(out), "-m", str(tiny_model), "-q", "--skip-existing"]
    assert main(args) == 0
    assert (out / "a_x2.png").stat().st_mtime_ns == mtime
    big = ["upscale", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "o2"), "-m", str(tiny_model), "-q"]
    assert main([*big, "--max-pixels", "100"]) == 1
    message = f"{tmp_path / 'in' / 'a.png'}: 32x24 is 0.0 MP, above --max-pixels 100; pass --max-pixels 0 to allow"
    assert message in caplog.text
    assert main([*big, "--max-pixels", "0"]) == 0


def test_glob_and_missing_pattern(tmp_path: Path, tiny_model: Path) -> None:
    save_rgb(tmp_path / "x1.png", photo())
    save_rgb(tmp_path / "x2.png", photo())
    out = tmp_path / "out"
    status = main(["upscale", str(tmp_path / "x*.png"), str(tmp_path / "nope.png"), "-o", str(out), "-m",
                   str(tiny_model), "-q"])  # fmt: skip
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["x1_x2.png", "x2_x2.png"]


def test_unknown_model_name_suggests_closest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "-m", "realesrgan-x4plu", "-q"]) == 2
    assert "realesrgan-x4plus" in caplog.text


def test_output_matches_library_call(tmp_path: Path) -> None:
    """The command's PNG equals the engine's output quantised: no colour swap, shift or rescale on the way."""
    import torch

    from esrgan.image import read_image, to_tensor
    from esrgan.inference import Upscaler
    from esrgan.models import load_model

    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    save_model(net, tmp_path / "r.pth")
    src = save_rgb(tmp_path / "a.png", photo(16, 20))
    out = tmp_path / "o.png"
    assert main(["upscale", str(src), "-o", str(out), "-m", str(tmp_path / "r.pth"), "--precision", "fp32",
                 "--tile", "0", "-q"]) == 0  # fmt: skip
    loaded, _ = load_model(tmp_path / "r.pth")
    expected = Upscaler(loaded, tile=0, precision="fp32")(to_tensor(read_image(src).pixels))
    expected_u8 = (expected[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    got = cv2.imread(str(out))[..., ::-1]
    assert np.abs(got.astype(int) - expected_u8.astype(int)).max() <= 1
    assert torch.is_tensor(expected)


def test_default_builtin_model_on_a_real_photo(tmp_path: Path) -> None:
    """The built-in realesrgan-x4plus upscales a real photo: the result, shrunk back, resembles the input."""
    rgb = photo(32, 32)
    src = save_rgb(tmp_path / "p.png", rgb)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "-q"]) == 0
    sr = cv2.imread(str(tmp_path / "o.png"))[..., ::-1]
    assert sr.shape == (128, 128, 3)
    back = cv2.resize(sr, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    mse = np.mean((back - rgb.astype(np.float64)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 25


def test_upscale_with_interp_equals_interpolated_file(
    model_pair: tuple[Path, Path, torch.nn.Module, torch.nn.Module], tmp_path: Path
) -> None:
    pa, pb, _, _ = model_pair
    img = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "i.png"), img)
    assert main(["interp", str(pa), str(pb), "--alpha", "0.4", "-o", str(tmp_path / "m.pth")]) == 0
    common = ["--precision", "fp32", "--tile", "0", "-q"]
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "x.png"), "-m", str(tmp_path / "m.pth"),
                 *common]) == 0  # fmt: skip
    assert main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "y.png"), "--interp",
                 f"{pa}:{pb}:0.4", *common]) == 0  # fmt: skip
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "x.png")), cv2.imread(str(tmp_path / "y.png")))


def test_profile_and_exif_are_kept_unless_stripped(tmp_path: Path, tiny_model: Path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Canon", 6  # rotated 90° clockwise for display
    exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003] = 32, 24
    src = tmp_path / "cam.jpg"
    Image.fromarray(photo(24, 32)).save(src, exif=exif.tobytes(), icc_profile=icc, quality=95)

    assert main(["upscale", str(src), "-o", str(tmp_path / "kept.jpg"), "-m", str(tiny_model), "-q"]) == 0
    with Image.open(tmp_path / "kept.jpg") as im:
        kept = im.getexif()
        assert im.size == (48, 64)  # upright (orientation applied), x2
        assert im.info.get("icc_profile") == icc and kept[0x010F] == "Canon" and kept[0x0112] == 1
        assert (kept.get_ifd(0x8769)[0xA002], kept.get_ifd(0x8769)[0xA003]) == (48, 64)

    argv = ["upscale", str(src), "-o", str(tmp_path / "bare.jpg"), "-m", str(tiny_model), "-q", "--strip-metadata"]
    assert main(argv) == 0
    with Image.open(tmp_path / "bare.jpg") as im:
        assert im.size == (48, 64) and "icc_profile" not in im.info and not im.getexif()


def test_bad_interp_spec_names_the_flag(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--interp", "a.pth:0.5", "-q"]) == 2
    assert "--interp: interpolation spec 'a.pth:0.5' must look like A:B:ALPHA" in caplog.text


def test_upscale_file_is_what_the_command_does_per_file(tmp_path: Path, tiny_model: Path) -> None:
    """The library function gives the command's file, byte for byte, from Python."""
    from esrgan.inference import EngineOptions, Upscaler, upscale_file
    from esrgan.models import load_model

    rgba = np.dstack([photo(), np.full((24, 32), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.webp", lossless=True)
    assert main(["upscale", str(tmp_path / "a.webp"), "-o", str(tmp_path / "cli"), "-m", str(tiny_model), "-q"]) == 0
    net, _ = load_model(tiny_model)
    result = upscale_file(tmp_path / "a.webp", tmp_path / "lib" / "a_x2", Upscaler.from_options(net, EngineOptions()),
                          ext="auto")  # fmt: skip
    assert result.target == tmp_path / "lib" / "a_x2.webp" and (result.width, result.height) == (64, 48)
    assert result.target.read_bytes() == (tmp_path / "cli" / "a_x2.webp").read_bytes()


def test_v_shows_the_engine_decisions_and_q_silences(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    argv = ["upscale", str(src), "-o", str(tmp_path / "out"), "-m", str(tiny_model), "--precision", "fp32"]
    decisions = ["device cpu (auto: no CUDA or Apple MPS here)", "precision fp32 (asked for)", "backend torch ("]
    with caplog.at_level(logging.DEBUG):
        assert main([*argv, "-v"]) == 0
    assert all(d in caplog.text for d in decisions), caplog.text
    assert "tile off: whole images (auto: the whole 32x24 input fits in one tile)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert main([*argv, "--skip-existing"]) == 0  # default: what the command does, not why
    assert "skipped" in caplog.text and not any(d in caplog.text for d in decisions)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert main([*argv, "-q"]) == 0
    assert not [r for r in caplog.records if r.levelno < logging.WARNING and r.name.startswith("esrgan")]


def test_the_bar_exists_before_the_first_tile_and_long_jobs_get_an_estimate(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from esrgan.commands import progress

    updates: list[tuple[float, float | None]] = []

    class Recorded(progress.WorkBar):
        def update(self, done: float, total: float | None = None) -> None:
            updates.append((done, total))
            super().update(done, total)

    monkeypatch.setattr(progress, "WorkBar", Recorded)
    monkeypatch.setattr(progress, "LONG_JOB_SECONDS", -1.0)  # every job is long
    src = save_rgb(tmp_path / "a.png", photo(48, 64))
    argv = ["upscale", str(src), "-o", str(tmp_path / "out"), "-m", str(tiny_model), "--tile", "16"]
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    assert updates[0] == (0, 12) and updates[-1] == (12, 12)  # 3 x 4 tiles, from 0 before the first ends
    assert "this will take about" in caplog.text and "GFLOP per input megapixel" in caplog.text


def test_help_says_where_results_go(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Without -o, results go to ./results/" in text and "(default: results/ in the current folder)" in text


# ---- several workers (issue 17): the same files, bytes, report and exit status as a local run


def mixed_folder(root: Path) -> Path:
    """Good and bad images of every kind the engine keeps apart: RGB, JPEG, 16-bit gray, RGBA, an empty and a
    corrupt file, one over the pixel limit."""
    src = root / "in"
    src.mkdir()
    save_rgb(src / "a.png", photo())
    save_rgb(src / "b.jpg", photo(20, 28))
    cv2.imwrite(str(src / "g16.png"), (np.linspace(0, 65535, 24 * 32).reshape(24, 32)).astype(np.uint16))
    rgba = np.dstack([photo(16, 16), np.linspace(0, 255, 256).reshape(16, 16).astype(np.uint8)])
    cv2.imwrite(str(src / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    save_rgb(src / "big.png", photo(60, 50))
    (src / "empty.png").write_bytes(b"")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    save_rgb(src / "c.png", photo(8, 8))
    return src


def run_upscale(src: Path, out: Path, model: Path, extra: list[str], caplog: pytest.LogCaptureFixture) -> tuple:
    """Exit status, the output files (name -> bytes) and the report: the per-file lines and warnings, in order,
    with the output folder and the timing masked. In the output folder before the run: a_x2.png (skipped with
    --ext auto) and c_x2.png, given as an input too (c.png's output would replace it)."""
    out.mkdir()
    save_rgb(out / "a_x2.png", photo(4, 4))
    save_rgb(out / "c_x2.png", photo(6, 6))
    args = ["upscale", str(src), str(out / "c_x2.png"), "-o", str(out), "-m", str(model), "--max-pixels", "2000"]
    args += ["--skip-existing", "--tile", "0", "--precision", "fp32", "--backend", "torch", *extra]  # no -q: the report
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status = main(args)
    report = [
        (r.name, r.levelno, r.getMessage().replace(str(out), "OUT").split(" in ")[0])
        for r in caplog.records
        if r.name in ("esrgan.commands.upscale", "esrgan.image.io")
        and not r.getMessage().startswith(("model ", "device ", "2 workers:"))
    ]
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    return status, files, report


@pytest.mark.parametrize("ext", ["auto", "jpg"])
def test_two_local_workers_end_every_file_as_a_local_run(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, ext: str
) -> None:
    src = mixed_folder(tmp_path)
    local = run_upscale(src, tmp_path / "local", tiny_model, ["--ext", ext, "--device", "cpu"], caplog)
    spread = run_upscale(src, tmp_path / "two", tiny_model, ["--ext", ext, "--device", "cpu,cpu"], caplog)
    assert spread[0] == local[0] == 1
    assert spread[1] == local[1]
    assert spread[2] == local[2]
    files, report = local[1], [m for _, _, m in local[2]]
    made = {"a_x2.png", "b_x2.jpg", "g16_x2.png", "rgba_x2.png", "c_x2_x2.png"} if ext == "auto" else None
    if made is not None:
        assert set(files) == made | {"c_x2.png"}
        assert sum(m.endswith("exists") for m in report) == 1
    errors = [m for _, level, m in local[2] if level >= logging.ERROR]
    if ext == "auto":  # (with --ext jpg, c.png's output is c_x2.jpg: no clash)
        assert len(errors) == 4 and any("would overwrite an input" in m for m in errors)
    if ext == "jpg":  # the worker's encoder warned: replayed just before the file's line
        warn = next(i for i, (_, level, m) in enumerate(local[2]) if level == logging.WARNING and "g16_x2.jpg" in m)
        assert "g16.png -> " in local[2][warn + 1][2]
    summary = [r.getMessage() for r in caplog.records if r.name == "esrgan.commands.workers"]
    assert [m.split(" ")[0] for m in summary] == ["w0", "w1"]


def test_worker_flags_are_checked_before_anything_runs(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from importlib.util import find_spec

    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "-m", str(tiny_model), "--workers", "2"]) == 2
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--ray", "--device", "cuda:0,1"]) == 2
    assert not (tmp_path / "o").exists()
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "-m", str(tiny_model), "--ray"]) == 2
    assert "--ray needs Ray: pip install" in caplog.text
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):  # an input is not a Ray address: inputs go before --ray
        main(["upscale", "--ray", str(src), "-o", str(tmp_path / "o")])


@pytest.mark.ray
def test_two_ray_workers_end_every_file_as_a_local_run(
    ray_instance: object, tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = mixed_folder(tmp_path)
    local = run_upscale(src, tmp_path / "local", tiny_model, ["--device", "cpu"], caplog)
    on_ray = run_upscale(src, tmp_path / "ray", tiny_model, ["--ray", "--workers", "2", "--device", "cpu"], caplog)
    assert on_ray == local
    summary = [r.getMessage() for r in caplog.records if r.name == "esrgan.commands.workers"]
    assert len([m for m in summary if m.startswith(("w0 ", "w1 "))]) == 2


@pytest.mark.ray
def test_a_ray_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(
    ray_instance: Any,
    tmp_path: Path,
    tiny_model: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from esrgan.cluster import images, ray_pool

    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        save_rgb(src / f"p{i:02d}.png", photo(24 + i, 32))
    local = run_upscale(src, tmp_path / "local", tiny_model, ["--device", "cpu"], caplog)

    submit, submitted = ray_pool.RayPool.submit, []

    def submit_then_kill(self: Any, worker: int, index: int, payload: Any) -> Any:
        ticket = submit(self, worker, index, payload)
        submitted.append(index)
        if len(submitted) == 5:  # w1 holds items now
            ray_instance.kill(self.actors[1])
        return ticket

    finish, writes = images.finish_file, []

    def counted_finish(source: Path, target: Path, *args: Any, **kwargs: Any) -> Any:
        writes.append(target.name)
        return finish(source, target, *args, **kwargs)

    monkeypatch.setattr(ray_pool.RayPool, "submit", submit_then_kill)
    monkeypatch.setattr(images, "finish_file", counted_finish)
    on_ray = run_upscale(src, tmp_path / "ray", tiny_model, ["--ray", "--workers", "2", "--device", "cpu"], caplog)
    assert on_ray == local
    assert len(writes) == len(set(writes)), "no file written twice"
    assert set(writes) == set(on_ray[1]) - {"a_x2.png", "c_x2.png"}, "every output written (those two were there)"
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert any(m.startswith("worker w1 lost") for m in lost)


# ---- standard input and output


class _Stream:
    """A text stream over bytes, as sys.stdin / sys.stdout are (their .buffer carries the bytes)."""

    def __init__(self, data: bytes = b"", tty: bool = False) -> None:
        import io

        self.buffer = io.BytesIO(data)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_stdin_to_stdout_is_the_files_result(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), "-o", str(tmp_path / "file.png"), "-m", str(tiny_model), "-q"]) == 0
    stdout = _Stream()
    monkeypatch.setattr("sys.stdin", _Stream(src.read_bytes()))
    monkeypatch.setattr("sys.stdout", stdout)
    assert main(["upscale", "-", "-o", "-", "-m", str(tiny_model), "-q"]) == 0
    assert stdout.buffer.getvalue() == (tmp_path / "file.png").read_bytes()  # the input's format: PNG

    monkeypatch.setattr("sys.stdin", _Stream(src.read_bytes()))
    assert main(["upscale", "-", "-o", str(tmp_path / "out"), "-m", str(tiny_model), "-q"]) == 0
    assert (tmp_path / "out" / "stdin_x2.png").read_bytes() == (tmp_path / "file.png").read_bytes()

    stdout = _Stream()
    monkeypatch.setattr("sys.stdout", stdout)
    assert main(["upscale", str(src), "-o", "-", "--ext", "jpg", "-m", str(tiny_model), "-q"]) == 0
    jpg = cv2.imdecode(np.frombuffer(stdout.buffer.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert stdout.buffer.getvalue()[:3] == b"\xff\xd8\xff" and jpg.shape == (48, 64, 3)


def test_stream_misuse_is_one_line(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    src = save_rgb(tmp_path / "a.png", photo())
    assert main(["upscale", str(src), str(src), "-o", "-", "-m", str(tiny_model)]) == 2
    assert "-o - (standard output) takes exactly one image; 2 inputs were given" in caplog.text
    monkeypatch.setattr("sys.stdin", _Stream(tty=True))
    assert main(["upscale", "-", "-o", str(tmp_path / "o"), "-m", str(tiny_model)]) == 2
    assert "standard input, which is a terminal" in caplog.text
    monkeypatch.setattr("sys.stdin", _Stream(b""))
    assert main(["upscale", "-", "-o", str(tmp_path / "o"), "-m", str(tiny_model)]) == 2
    assert "stdin: empty file" in caplog.text


def test_a_real_pipe_carries_only_the_image(tmp_path: Path, tiny_model: Path) -> None:
    """`esrgan upscale - -o - < in.png > out.png` in a real process: standard output holds the PNG, nothing else."""
    import subprocess
    import sys

    src = save_rgb(tmp_path / "a.png", photo())
    argv = [sys.executable, "-m", "esrgan", "upscale", "-", "-o", "-", "-m", str(tiny_model), "--tile", "0"]
    run = subprocess.run(argv, input=src.read_bytes(), capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()
    out = cv2.imdecode(np.frombuffer(run.stdout, np.uint8), cv2.IMREAD_UNCHANGED)
    assert run.stdout[:8] == b"\x89PNG\r\n\x1a\n" and out.shape == (48, 64, 3)
    assert b"-> standard output (64x48 png)" in run.stderr
