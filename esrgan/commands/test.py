"""``esrgan test``: PSNR / SSIM of a model (or the bicubic baseline) on benchmark sets, as SR papers report them.

Protocol (see :mod:`esrgan.metrics`): the HR image is mod-cropped to a multiple of the scale; the LR image is read
from ``--lr`` (paired by file stem, ``stem`` or ``stem + 'x<scale>'``) or made with MATLAB-compatible bicubic
downscaling of the mod-cropped HR; the SR output is rounded to 8 bits (what a saved PNG holds) and scored on the
BT.601 Y channel with ``crop_border = scale``. ``-m bicubic`` scores MATLAB bicubic upscaling of the LR image,
the papers' baseline. Gray images are fed to the model as three equal channels; the output is turned back into
gray (BT.601 luma) and the gray values are scored directly.

    esrgan test -m realesrgan-x4plus --hr Set5/HR [--lr Set5/LR_bicubic/X4] --csv set5.csv
    esrgan test -opt options/test_bicubic_x4.yml [--set scale=2]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from esrgan.commands.common import add_engine_args, upscaler_from
from esrgan.errors import InputError, NotFoundError, OptionsError, OutputError, OutputExistsError
from esrgan.fileio import write_text_atomic
from esrgan.options import Range, field_arg_type

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

log = logging.getLogger(__name__)

BICUBIC = "bicubic"
MEAN_ROW = "(mean)"


# ----------------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class TestDatasetOptions:
    """One benchmark set."""

    name: str  # label in tables and output files, e.g. Set5
    hr: Path  # folder of HR (ground-truth) images
    lr: Path | None = None  # folder of LR images paired by stem; null: MATLAB bicubic of the mod-cropped HR


@dataclass(frozen=True, kw_only=True)
class TestOptions:
    """Schema of ``options/test_*.yml`` (and of the command-line flags, which fill the same fields)."""

    model: str  # built-in name, weights file, or "bicubic" for the bicubic baseline
    datasets: list[TestDatasetOptions]
    scale: Annotated[int, Range(1, 16)] | None = None  # default: the model's scale (required for bicubic)
    test_y_channel: bool = True  # score BT.601 Y (papers); false: all RGB channels
    crop_border: Annotated[int, Range(0, 1024)] | None = None  # pixels ignored at each edge; default: the scale
    save: Path | None = None  # save SR images as <save>/<dataset>/<stem>.png
    csv: Path | None = None  # per-image and mean scores as CSV
    json: Path | None = None  # the same as JSON (with the protocol and model description)
    overwrite: bool = False  # replace existing CSV / JSON / SR files
    # Engine tile size in LR pixels; 0: whole images.
    tile: Annotated[int, Range(16, 65536, also=(0,))] | Literal["auto"] = "auto"
    tile_pad: Annotated[int, Range(0, 1024)] = 16
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "fp32"  # fp32: scores comparable across machines
    device: str = "auto"
    ensemble: bool = False  # x8 self-ensemble
    backend: Literal["auto", "torch", "onnxruntime", "openvino"] = "auto"  # see esrgan.backends.auto_backend
    compile: bool = False  # torch.compile the network (torch backend)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise OptionsError("'datasets' lists no dataset")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise OptionsError(f"dataset names must be unique, got {names}")
        if self.model == BICUBIC and self.scale is None:
            raise OptionsError("'scale' is required for the bicubic baseline (e.g. --scale 4)")


# ------------------------------------------------------------------------------------------------------ results
@dataclass
class ImageScore:
    image: str  # file stem
    height: int  # of the mod-cropped HR image
    width: int
    psnr: float
    ssim: float
    seconds: float  # time to make the SR image


@dataclass
class DatasetScore:
    name: str
    hr: str
    lr: str | None
    images: list[ImageScore] = field(default_factory=list)

    @property
    def psnr(self) -> float:
        return sum(s.psnr for s in self.images) / len(self.images)

    @property
    def ssim(self) -> float:
        return sum(s.ssim for s in self.images) / len(self.images)


# -------------------------------------------------------------------------------------------------------- CLI
def register(sub: Any) -> None:
    p = sub.add_parser(
        "test",
        help="PSNR/SSIM on benchmark sets (papers' protocol)",
        description="Score a model, or the bicubic baseline (-m bicubic), with PSNR/SSIM on the Y channel as SR "
        "papers do. Give one set with --hr [--lr] or several in a YAML file with -opt.",
    )
    p.add_argument("-opt", "--opt", dest="opt", type=Path, help="YAML options file (options/test_*.yml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set any option, e.g. --set scale=2 (repeatable; applied last)")  # fmt: skip
    p.add_argument("-m", "--model", help="built-in model name, weights file, or 'bicubic'")
    p.add_argument("--hr", type=Path, help="folder of HR (ground-truth) images")
    p.add_argument("--lr", type=Path, help="folder of LR images paired by file stem (default: made by bicubic)")
    p.add_argument("--name", help="dataset label (default: the HR folder's name, or its parent's if that is HR)")
    p.add_argument("-s", "--scale", type=field_arg_type(TestOptions, "scale"),
                   help="scale factor (default: the model's)")  # fmt: skip
    p.add_argument("--rgb", action="store_true", help="score RGB channels instead of Y")
    p.add_argument("--crop-border", type=field_arg_type(TestOptions, "crop_border"),
                   help="pixels ignored at each edge (default: the scale)")  # fmt: skip
    p.add_argument("--save", type=Path, help="save SR images to SAVE/<dataset>/<stem>.png")
    p.add_argument("--csv", type=Path, help="write per-image and mean scores to this CSV file")
    p.add_argument("--json", type=Path, help="write the scores and protocol to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/JSON/SR files")
    add_engine_args(p, defaults=False)  # defaults come from TestOptions (precision fp32 for comparable scores)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _default_name(hr: Path) -> str:
    resolved = hr.resolve()
    return resolved.parent.name if resolved.name.upper() == "HR" and resolved.parent.name else resolved.name


def options_from_args(args: argparse.Namespace) -> TestOptions:
    """Merge the YAML file (if any), explicit flags, then ``--set`` overrides into validated :class:`TestOptions`."""
    from esrgan.options import apply_overrides, from_dict
    from esrgan.safe_yaml import read_yaml_file

    data: dict[str, Any] = {}
    source = "command line"
    if args.opt is not None:
        loaded = read_yaml_file(args.opt) or {}
        if not isinstance(loaded, dict):
            raise OptionsError(f"{args.opt}: expected a mapping of options at the top level")
        data, source = loaded, str(args.opt)
        if args.hr is not None or args.lr is not None:
            raise OptionsError(f"--hr/--lr cannot be combined with -opt {args.opt}: list the sets under 'datasets:'")
    if args.hr is not None:
        ds: dict[str, Any] = {"name": args.name or _default_name(args.hr), "hr": args.hr}
        if args.lr is not None:
            ds["lr"] = args.lr
        data["datasets"] = [ds]
    elif args.lr is not None:
        raise OptionsError("--lr needs --hr (the ground truth)")
    flags = {
        "model": args.model,
        "scale": args.scale,
        "crop_border": args.crop_border,
        "save": args.save,
        "csv": args.csv,
        "json": args.json,
        "tile": args.tile,
        "tile_pad": args.tile_pad,
        "precision": args.precision,
        "device": args.device,
        "backend": args.backend,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    for name, flag in (("overwrite", args.overwrite), ("ensemble", args.ensemble), ("compile", args.compile)):
        if flag:
            data[name] = True
    if args.rgb:
        data["test_y_channel"] = False
    if args.overrides:
        data = apply_overrides(data, args.overrides)
        source += " (with --set overrides)"
    if "model" not in data:
        raise OptionsError("no model: pass -m MODEL (a built-in name, a weights file or 'bicubic')")
    if "datasets" not in data:
        raise OptionsError("no images: pass --hr FOLDER, or -opt FILE listing 'datasets:'")
    return from_dict(TestOptions, data, source=source)


# ---------------------------------------------------------------------------------------------------- helpers
def _load_uint8(path: Path) -> np.ndarray:
    """An image file as uint8: (H, W) for gray, (H, W, 3) RGB. Other depths are rounded to 8 bits (warned)."""
    import numpy as np

    from esrgan.image import read_image

    img = read_image(path)
    if img.bit_depth != 8:
        log.warning("%s: %d-bit image scored at 8 bits, as the benchmark protocol defines", path, img.bit_depth)
    if img.alpha is not None:
        log.warning("%s: alpha channel ignored", path)
    u8 = np.floor(np.clip(img.pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return u8[:, :, 0] if img.is_gray else u8


def _luma_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 or float [0, 255] -> (H, W) uint8 BT.601 luma (gray stays gray: weights sum to 1)."""
    import numpy as np

    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.floor(np.clip(y, 0, 255) + 0.5).astype(np.uint8)


def list_pairs(ds: TestDatasetOptions, scale: int) -> list[tuple[str, Path, Path | None]]:
    """(stem, HR file, LR file or None) for every HR image of ``ds``, sorted by stem.

    Raises:
        FileNotFoundError, NotADirectoryError: a folder is missing.
        ValueError: no images, duplicate stems, an HR image without an LR partner or an LR image without an HR.
    """
    from esrgan.data import pair_by_stem
    from esrgan.image import IMAGE_EXTENSIONS

    def images(folder: Path, what: str) -> dict[str, Path]:
        if not folder.exists():
            raise NotFoundError(f"{ds.name}: {what} folder not found: {folder}")
        if not folder.is_dir():
            raise NotADirectoryError(f"{ds.name}: {what} path is not a folder: {folder}")
        found: dict[str, Path] = {}
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
                if p.stem in found:
                    raise InputError(f"{folder}: two images share the stem {p.stem!r}: {found[p.stem].name}, {p.name}")
                found[p.stem] = p
        if not found:
            raise InputError(f"{ds.name}: no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
        return found

    hr = images(ds.hr, "HR")
    if ds.lr is None:
        return [(stem, path, None) for stem, path in hr.items()]
    lr = images(ds.lr, "LR")
    lr_keys = pair_by_stem(list(hr), list(lr), scale, str(ds.lr))
    unpaired = sorted(set(lr) - set(lr_keys))
    if unpaired:
        raise InputError(f"LR image {lr[unpaired[0]]} has no HR image in {ds.hr} ({len(unpaired)} unpaired LR files)")
    return [(stem, hr[stem], lr[key]) for stem, key in zip(hr, lr_keys, strict=True)]


def _check_lr_size(lr: np.ndarray, hr: np.ndarray, scale: int, lr_path: Path, hr_path: Path) -> None:
    lh, lw = lr.shape[:2]
    hh, hw = hr.shape[:2]
    if (lh * scale, lw * scale) != (hh, hw):
        raise InputError(
            f"{lr_path}: LR is {lw}x{lh} (WxH); x{scale} gives {lw * scale}x{lh * scale}, but {hr_path} "
            f"mod-cropped to a multiple of {scale} is {hw}x{hh}"
        )


def _match_channels(lr: np.ndarray, gray: bool, lr_path: Path) -> np.ndarray:
    import numpy as np

    if gray and lr.ndim == 3:
        log.warning("%s: RGB LR image for a gray HR image: converted to gray (BT.601 luma)", lr_path)
        return _luma_u8(lr)
    if not gray and lr.ndim == 2:
        log.warning("%s: gray LR image for an RGB HR image: channels replicated", lr_path)
        return np.repeat(lr[:, :, None], 3, axis=2)
    return lr


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def _fmt(x: float, digits: int) -> str:
    return "inf" if math.isinf(x) else f"{x:.{digits}f}"


def format_table(result: DatasetScore) -> str:
    """Per-image and mean table of one dataset (PSNR in dB with 4 decimals, SSIM with 4)."""
    width = max([len(MEAN_ROW)] + [len(s.image) for s in result.images])
    lines = [f"{'image':<{width}}  {'WxH':>9}  {'PSNR':>8}  {'SSIM':>6}  {'time':>6}"]
    for s in result.images:
        size = f"{s.width}x{s.height}"
        row = f"{s.image:<{width}}  {size:>9}  {_fmt(s.psnr, 4):>8}  {_fmt(s.ssim, 4):>6}  {s.seconds:>5.2f}s"
        lines.append(row)
    total = sum(s.seconds for s in result.images)
    lines.append(f"{MEAN_ROW:<{width}}  {'':>9}  {_fmt(result.psnr, 4):>8}  {_fmt(result.ssim, 4):>6}  {total:>5.1f}s")
    return "\n".join(lines)


def results_csv(results: list[DatasetScore]) -> str:
    """CSV text: one row per image and one ``(mean)`` row per dataset (height/width/seconds empty there)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "image", "height", "width", "psnr", "ssim", "seconds"])
    for r in results:
        for s in r.images:
            writer.writerow([r.name, s.image, s.height, s.width, f"{s.psnr:.6f}", f"{s.ssim:.6f}", f"{s.seconds:.3f}"])
        writer.writerow([r.name, MEAN_ROW, "", "", f"{r.psnr:.6f}", f"{r.ssim:.6f}", ""])
    return buf.getvalue()


def results_json(results: list[DatasetScore], opts: TestOptions, scale: int, model: dict[str, Any] | None) -> str:
    """JSON text with the protocol, the model description and every score (an infinite PSNR is ``"inf"``)."""

    def num(x: float) -> float | str:
        return "inf" if math.isinf(x) else x

    doc = {
        "model": opts.model,
        "model_info": model,
        "scale": scale,
        "protocol": {
            "channel": "y" if opts.test_y_channel else "rgb",
            "crop_border": opts.crop_border if opts.crop_border is not None else scale,
            "ssim_window": "gaussian 11x11, sigma 1.5",
            "sr_rounded_to_uint8": True,
            "precision": opts.precision if opts.model != BICUBIC else None,
            "ensemble": opts.ensemble if opts.model != BICUBIC else None,
        },
        "datasets": [
            {
                "name": r.name,
                "hr": r.hr,
                "lr": r.lr if r.lr is not None else "matlab bicubic of the mod-cropped HR",
                "num_images": len(r.images),
                "psnr": num(r.psnr),
                "ssim": r.ssim,
                "images": [
                    {
                        "image": s.image,
                        "height": s.height,
                        "width": s.width,
                        "psnr": num(s.psnr),
                        "ssim": s.ssim,
                        "seconds": round(s.seconds, 4),
                    }
                    for s in r.images
                ],
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


# ------------------------------------------------------------------------------------------------------- run
def _make_upscale(opts: TestOptions) -> tuple[Callable[[np.ndarray], np.ndarray], int, dict[str, Any] | None]:
    """The SR function (uint8 LR (h, w[, 3]) -> uint8 SR (h*s, w*s[, 3])), its scale and a model description."""
    import numpy as np

    from esrgan.metrics import imresize

    if opts.model == BICUBIC:
        if opts.scale is None:
            raise ValueError("the bicubic baseline needs a scale (--scale)")  # TestOptions checks it too
        factor = opts.scale

        def bicubic(lr: np.ndarray) -> np.ndarray:
            return imresize(lr, float(factor))  # uint8 in, uint8 out: MATLAB's rounding per pass

        return bicubic, factor, None

    import torch

    from esrgan.models import load_model

    net, info = load_model(opts.model)
    if opts.scale is not None and opts.scale != info.scale:
        raise OptionsError(f"model {opts.model} upscales x{info.scale} but scale {opts.scale} was asked")
    if info.in_channels != 3 or info.out_channels != 3:
        raise OptionsError(f"model {opts.model} has {info.in_channels}->{info.out_channels} channels; need RGB (3->3)")
    upscaler = upscaler_from(net, opts)
    log.info(
        "model %s: %s x%d, %.2fM parameters; device %s, %s",
        info.name or info.path,
        info.arch,
        info.scale,
        info.num_params / 1e6,
        upscaler.device,
        str(upscaler.dtype).replace("torch.", ""),
    )

    def model_sr(lr: np.ndarray) -> np.ndarray:
        gray = lr.ndim == 2
        rgb = np.repeat(lr[:, :, None], 3, axis=2) if gray else lr
        x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        with torch.inference_mode():
            y = upscaler(x)[0].permute(1, 2, 0).numpy().astype(np.float64) * 255.0
        # A gray input gives (nearly) equal channels; luma turns them back into the gray the reference has.
        return _luma_u8(y) if gray else np.floor(np.clip(y, 0, 255) + 0.5).astype(np.uint8)

    description = {
        "name": info.name,
        "path": info.path,
        "arch": info.arch,
        "hparams": info.hparams,
        "num_params": info.num_params,
        "sha256": info.sha256,
    }
    return model_sr, info.scale, description


def _check_outputs(
    opts: TestOptions, plans: list[tuple[TestDatasetOptions, list[tuple[str, Path, Path | None]]]]
) -> None:
    if opts.overwrite:
        return
    targets = [p for p in (opts.csv, opts.json) if p is not None]
    if opts.save is not None:
        targets += [opts.save / ds.name / f"{stem}.png" for ds, pairs in plans for stem, _, _ in pairs]
    for p in targets:
        if p.exists():
            raise OutputExistsError(f"{p} already exists; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from esrgan.image import ImageData, write_image
    from esrgan.metrics import bicubic_degrade, calculate_psnr, calculate_ssim, mod_crop

    opts = options_from_args(args)
    upscale: Callable[[np.ndarray], np.ndarray] | None = None
    if opts.scale is None:  # the model tells the scale, which pairing ("0801x4") needs
        upscale, scale, model_description = _make_upscale(opts)
    else:
        scale = opts.scale
    # Pairing and output checks before loading a model: a typo fails in a second.
    plans = [(ds, list_pairs(ds, scale)) for ds in opts.datasets]
    _check_outputs(opts, plans)
    if upscale is None:
        upscale, scale, model_description = _make_upscale(opts)
    crop = opts.crop_border if opts.crop_border is not None else scale
    inputs = {p.resolve() for _, pairs in plans for _, hr_path, lr_path in pairs for p in (hr_path, lr_path) if p}

    results: list[DatasetScore] = []
    for ds, pairs in plans:
        result = DatasetScore(ds.name, str(ds.hr), str(ds.lr) if ds.lr is not None else None)
        if opts.save is not None:
            (opts.save / ds.name).mkdir(parents=True, exist_ok=True)
        for stem, hr_path, lr_path in tqdm(pairs, desc=ds.name, unit="img", disable=args.quiet, leave=False):
            hr_full = _load_uint8(hr_path)
            hr = mod_crop(hr_full, scale)
            if hr.shape[0] == 0 or hr.shape[1] == 0:
                raise InputError(f"{hr_path}: image is smaller than the scale {scale}")
            if lr_path is None:
                lr = bicubic_degrade(hr_full, scale)
            else:
                lr = _match_channels(_load_uint8(lr_path), hr.ndim == 2, lr_path)
                _check_lr_size(lr, hr, scale, lr_path, hr_path)
            start = time.perf_counter()
            sr = upscale(lr)
            seconds = time.perf_counter() - start
            psnr = calculate_psnr(sr, hr, crop, test_y_channel=opts.test_y_channel)
            ssim = calculate_ssim(sr, hr, crop, test_y_channel=opts.test_y_channel)
            result.images.append(ImageScore(stem, hr.shape[0], hr.shape[1], psnr, ssim, seconds))
            log.debug("%s/%s: %.4f dB, SSIM %.4f", ds.name, stem, psnr, ssim)
            if opts.save is not None:
                out = opts.save / ds.name / f"{stem}.png"
                if out.resolve() in inputs:
                    raise OutputError(f"{out}: refusing to overwrite an input image; choose another --save folder")
                pixels = (sr if sr.ndim == 3 else sr[:, :, None]).astype(np.float32) / 255.0
                write_image(out, ImageData(pixels=pixels), overwrite=opts.overwrite)
        results.append(result)
        channel = "Y" if opts.test_y_channel else "RGB"
        print(f"\n{ds.name}: {opts.model} x{scale}, {channel}, crop border {crop}, {len(result.images)} images")
        print(format_table(result))

    if len(results) > 1:
        width = max(len(r.name) for r in results)
        print(f"\n{'dataset':<{width}}  {'images':>6}  {'PSNR':>8}  {'SSIM':>6}")
        for r in results:
            print(f"{r.name:<{width}}  {len(r.images):>6}  {_fmt(r.psnr, 4):>8}  {_fmt(r.ssim, 4):>6}")
    if opts.csv is not None:
        _atomic_write_text(opts.csv, results_csv(results))
        log.info("wrote %s", opts.csv)
    if opts.json is not None:
        _atomic_write_text(opts.json, results_json(results, opts, scale, model_description))
        log.info("wrote %s", opts.json)
    return 0
