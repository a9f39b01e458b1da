"""Real-ESRGAN's high-order degradation of one HR image into its LR image, recording every random draw.

Order (Real-ESRGAN's ``feed_data``; the names are :class:`DegradationOptions` fields):

1. the source: the HR image, USM-sharpened when ``gt_usm``;
2. first order: blur (``kernel_list`` / ``sinc_prob``), random resize by a factor of the image
   (``resize_prob``, ``resize_range``), Gaussian or Poisson noise, JPEG (``jpeg_range``);
3. second order, with ``second_order_prob``: blur with ``second_blur_prob``, random resize to a factor of the LR
   size (``resize_range2``), noise;
4. final, in one of two orders with p = 0.5 each: [resize to the LR size + sinc filter (``final_sinc_prob``)]
   then JPEG (``jpeg_range2``), or JPEG then [resize + sinc] (other orders give twisted lines, says Real-ESRGAN);
5. rounding to 8 bits.

With ``clean_prob`` (an extension, 0 by default) a sample skips 2-4: its LR is the MATLAB-bicubic downscale of the
source, the benchmarks' clean LR.

Real-ESRGAN draws the resize, noise type and order once per batch on the GPU (hence its pair pool); here every
sample draws its own, in a DataLoader worker (see the README, "Real-world degradations").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from esrgan.degradations.kernels import random_blur_kernel, random_sinc_kernel
from esrgan.degradations.ops import filter2d, random_jpeg, random_noise, random_resize, resize
from esrgan.degradations.options import MAX_RESIZED_SIDE, DegradationOptions
from esrgan.degradations.usm import usm_sharp
from esrgan.errors import LimitError
from esrgan.image.convert import to_uint8
from esrgan.image.resize import imresize

FINAL_SINC_SIZE = 21  # the final sinc's side is drawn from 7..21 whatever blur_kernel_size is (Real-ESRGAN)

__all__ = ["check_resizable", "degrade", "describe"]


def _blur(
    img: np.ndarray, rng: np.random.Generator, opts: DegradationOptions, suffix: str
) -> tuple[np.ndarray, dict[str, Any]]:
    kernel, record = random_blur_kernel(
        rng,
        max_size=getattr(opts, f"blur_kernel_size{suffix}"),
        kernel_list=getattr(opts, f"kernel_list{suffix}"),
        kernel_prob=getattr(opts, f"kernel_prob{suffix}"),
        sinc_prob=getattr(opts, f"sinc_prob{suffix}"),
        sigma_range=getattr(opts, f"blur_sigma{suffix}"),
        betag_range=getattr(opts, f"betag_range{suffix}"),
        betap_range=getattr(opts, f"betap_range{suffix}"),
    )
    return filter2d(img, kernel), record


def _noise(
    img: np.ndarray, rng: np.random.Generator, opts: DegradationOptions, suffix: str
) -> tuple[np.ndarray, dict[str, Any]]:
    return random_noise(
        img,
        rng,
        getattr(opts, f"gaussian_noise_prob{suffix}"),
        getattr(opts, f"noise_range{suffix}"),
        getattr(opts, f"poisson_scale_range{suffix}"),
        getattr(opts, f"gray_noise_prob{suffix}"),
    )


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread: for these small per-image resizes, waking threads costs more than it
    saves (measured on a busy 2-core machine: 0.03 ms with one thread, 6.5 ms with two, for a 96 -> 24 area
    resize). DataLoader workers already run one thread; this covers calls from the main process."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def degrade(
    hr: np.ndarray, opts: DegradationOptions, scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Degrade ``hr`` into an LR image ``scale`` times smaller.

    Args:
        hr: (H, W, 3) float32 RGB in [0, 1], H and W multiples of ``scale``.
        opts: the degradation model.
        scale: the integer downscaling factor.
        rng: the generator every random choice is drawn from (the same state gives the same LR and record).

    Returns:
        (LR (H / scale, W / scale, 3) float32 RGB in [0, 1] on the 8-bit grid, record). The record maps each
        step that ran (``blur1``, ``resize1``, ``noise1``, ``jpeg1``, ``blur2``, ``resize2``, ``noise2``,
        ``final_sinc``, ``jpeg2``) to its draws, plus ``second_order`` (bool), ``final_order`` and
        ``final_mode``; a sample drawn clean (``clean_prob``) records only ``{"clean": True, "usm": gt_usm}``. See
        :func:`describe`.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale or h < scale or w < scale:
        raise ValueError(f"the HR image is {h}x{w}; its sides must be positive multiples of the scale {scale}")
    check_resizable(h, w, opts)
    with _one_torch_thread():
        return _degrade(hr, opts, scale, rng)


def check_resizable(height: int, width: int, opts: DegradationOptions) -> None:
    """LimitError if the block's up-resizes could make an image of this size over :data:`MAX_RESIZED_SIDE` pixels a
    side (whole images of a test set; the options bound ``crop_pad_size`` regions themselves)."""
    grow = max(opts.resize_range[1], opts.resize_range2[1], 1.0)
    if max(height, width) * grow > MAX_RESIZED_SIDE:
        raise LimitError(
            f"the HR image is {height}x{width}; resized up to x{grow:g} it would be over {MAX_RESIZED_SIDE} pixels "
            "a side (lower resize_range / resize_range2, or degrade smaller images)"
        )


def _degrade(
    hr: np.ndarray, opts: DegradationOptions, scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    h, w = hr.shape[:2]
    record: dict[str, Any] = {}
    out = usm_sharp(hr) if opts.gt_usm else hr.astype(np.float32)
    # Drawn only when the option is on, so blocks without it keep every sample's draws (and old runs' data).
    if opts.clean_prob > 0 and rng.random() < opts.clean_prob:
        return _clean_lr(out, scale), {"clean": True, "usm": opts.gt_usm}

    out, record["blur1"] = _blur(out, rng, opts, "")
    out, record["resize1"] = random_resize(out, rng, opts.resize_prob, opts.resize_range, opts.resize_modes)
    out, record["noise1"] = _noise(out, rng, opts, "")
    if rng.random() < opts.jpeg_prob:
        out, record["jpeg1"] = random_jpeg(out, rng, opts.jpeg_range)

    record["second_order"] = bool(rng.random() < opts.second_order_prob)
    if record["second_order"]:
        if rng.random() < opts.second_blur_prob:
            out, record["blur2"] = _blur(out, rng, opts, "2")
        lr_size = (h / scale, w / scale)
        out, record["resize2"] = random_resize(
            out, rng, opts.resize_prob2, opts.resize_range2, opts.resize_modes, size_of=lr_size
        )
        out, record["noise2"] = _noise(out, rng, opts, "2")

    sinc = None
    if rng.random() < opts.final_sinc_prob:
        sinc, record["final_sinc"] = random_sinc_kernel(rng, FINAL_SINC_SIZE)
    resize_first = bool(rng.random() < 0.5)
    record["final_order"] = "resize, jpeg" if resize_first else "jpeg, resize"
    record["final_mode"] = mode = str(opts.resize_modes[int(rng.integers(len(opts.resize_modes)))])
    if resize_first:
        out = _resize_back(out, (h // scale, w // scale), mode, sinc)
    if rng.random() < opts.jpeg_prob2:
        out, record["jpeg2"] = random_jpeg(out, rng, opts.jpeg_range2)
    if not resize_first:
        out = _resize_back(out, (h // scale, w // scale), mode, sinc)
    lr = (np.clip(np.round(out * 255.0), 0, 255) / 255.0).astype(np.float32)
    return lr, record


def _clean_lr(img: np.ndarray, scale: int) -> np.ndarray:
    # MATLAB's uint8 path (rounded after each pass) on the image rounded to 8 bits as the scorer rounds it
    # (to_uint8, in float64): the benchmarks' LR file bit for bit, for 8-bit, 16-bit and float sources alike.
    return imresize(to_uint8(img), 1 / scale).astype(np.float32) / 255.0


def _resize_back(img: np.ndarray, size: tuple[int, int], mode: str, sinc: np.ndarray | None) -> np.ndarray:
    out = resize(img, size, mode=mode)
    return filter2d(out, sinc) if sinc is not None else out


def _kernel_text(r: dict[str, Any]) -> str:
    if r["kind"] == "sinc":
        return f"sinc k{r['size']} wc{r['cutoff']:.2f}"
    text = f"{r['kind']} k{r['size']} s{r['sigma_x']:.2f}"
    if r["kind"].endswith("aniso"):
        text += f"/{r['sigma_y']:.2f} r{np.degrees(r['theta']):.0f}"
    return text + (f" b{r['beta']:.2f}" if "beta" in r else "")


def _noise_text(r: dict[str, Any]) -> str:
    gray = " gray" if r["gray"] else ""
    return f"gauss {r['sigma']:.1f}{gray}" if r["kind"] == "gaussian" else f"poisson {r['scale']:.2f}{gray}"


def describe(record: dict[str, Any]) -> list[str]:
    """Short caption lines (at most ~45 characters each) saying what :func:`degrade` drew.

    ``blur1: aniso k13 s2.10/0.80 r-35``, ``down 0.62 bicubic, gauss 12.3 gray, q57``, the same two for the
    second order (or ``second order skipped``), and the final steps in their order; one line for a clean sample.
    """
    if record.get("clean"):
        return ["clean: MATLAB bicubic" + (" of the USM-sharpened HR" if record.get("usm") else ", no degradation")]
    lines = []
    for n in ("1", "2"):
        if n == "2" and not record["second_order"]:
            lines.append("second order skipped")
            continue
        lines.append(f"blur{n}: " + (_kernel_text(record[f"blur{n}"]) if f"blur{n}" in record else "none"))
        r = record[f"resize{n}"]
        steps = [f"{r['direction']} {r['factor']:.2f} {r['mode']}", _noise_text(record[f"noise{n}"])]
        if n == "1":
            steps.append(f"q{record['jpeg1']['quality']}" if "jpeg1" in record else "no jpeg")
        lines.append(", ".join(steps))
    sinc = _kernel_text(record["final_sinc"]) if "final_sinc" in record else "no sinc"
    jpeg = f"q{record['jpeg2']['quality']}" if "jpeg2" in record else "no jpeg"
    steps = [f"{record['final_mode']} + {sinc}", jpeg]
    lines.append("final: " + " > ".join(steps if record["final_order"].startswith("resize") else steps[::-1]))
    return lines
