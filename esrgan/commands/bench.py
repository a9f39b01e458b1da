"""``esrgan bench``: time the engine against the plain fp32 forward, side by side in one run.

Prints the machine's measured convolution peaks, what backend ``auto`` chose for each model (measured once per
model and machine, then cached: :mod:`esrgan.backends.calibrate`), then a table per model: configuration, input
size, tile, time (median), warm-up, speed-up over ``plain`` (same run), achieved GFLOP/s, % of the conv peak of
the same dtype, PSNR and max difference against the plain fp32 output, and peak memory, and how ``default``
compares with the fastest rows within the fidelity bounds. ``--calibrate`` measures ``auto``'s candidates again
and stops there. ``--linear`` instead reports µs per
input pixel and memory over several sizes up to a tiled 1080p frame. The measurements are in
:mod:`esrgan.bench`; each configuration runs in a fresh process of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from esrgan.defaults import BACKENDS, DEFAULT_MODEL, FAST_MODEL
from esrgan.errors import OptionsError
from esrgan.options import Range, arg_type

if TYPE_CHECKING:
    from esrgan.backends.calibrate import Choice
    from esrgan.bench import Config, ConvPeak, Row, Scaling

DEFAULT_SIZES = {DEFAULT_MODEL: "256", FAST_MODEL: "320x180"}
# --linear: time per pixel and memory from small inputs to a tiled 1080p frame. The fast model by default:
# realesrgan-x4plus needs ~30x its time per pixel (minutes per 1080p frame on 2 cores).
LINEAR_MODEL = FAST_MODEL
LINEAR_SIZES = ("128", "256", "512", "1080p")
MISSING = "—"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="time the engine against the plain fp32 forward: speed-up, GFLOP/s, %% of peak, PSNR, memory",
        description="Time upscaling configurations side by side in one run, each in a fresh process, against "
        "the plain fp32 NCHW model(x) forward that reference implementations use. Without -m: "
        "realesrgan-x4plus at 256x256 and realesr-animevideov3 at 320x180.",
    )
    p.add_argument(
        "-m",
        "--model",
        dest="models",
        nargs="+",
        action="extend",
        metavar="MODEL",
        help="built-in names or model files (repeatable)",
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        metavar="SIZE",
        help="input sizes: N (square), WxH, or 480p/720p/1080p/1440p/2160p (default: 256 per model, "
        "320x180 for realesr-animevideov3)",
    )
    p.add_argument(
        "--configs",
        metavar="LIST",
        help="comma-separated configurations; each is tokens joined with +: plain (the reference), "
        "default (what `esrgan upscale` runs), auto/fp32/bf16, torch/onnxruntime/openvino, compile, "
        "tile=N. Default: plain,default,fp32, plus torch and each installed backend if any",
    )
    p.add_argument(
        "--repeats",
        type=arg_type(int, Range(1, 1000)),
        default=3,
        help="timed calls; the median is reported (default 3)",
    )
    p.add_argument(
        "--warmup",
        type=arg_type(int, Range(0, 100)),
        default=1,
        help="untimed calls first; the first one's time is reported (default 1)",
    )
    p.add_argument(
        "--threads", type=arg_type(int, Range(1, 1024)), help="torch threads (default: PyTorch's, one per core)"
    )
    p.add_argument("--device", default="cpu", help="where the networks run (default cpu)")
    p.add_argument(
        "--linear",
        action="store_true",
        help=f"linear-scaling check: µs per input pixel and peak memory at {', '.join(LINEAR_SIZES)} "
        f"(tiled), config default, model {LINEAR_MODEL}, unless -m/--sizes/--configs are given",
    )
    p.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    p.add_argument("--no-peak", action="store_true", help="skip the convolution peak (no %% peak column)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run every configuration in this process: starts faster, but memory figures and the "
        "allocator are then shared between configurations",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="measure the candidates of backend auto for each model again (replacing the cached result), show "
        "them, and stop (no benchmark). Without it, a model not yet calibrated on this machine is calibrated "
        "first. ESRGAN_CALIBRATE=0 turns calibration off everywhere, =force redoes it on every run",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    from esrgan.bench import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import torch

    from esrgan import bench
    from esrgan.device import resolve_device

    configs = _configs(args)
    per_model = _plan_sizes(args)
    try:  # before any measurement: --device cuda without CUDA is one line, not a traceback per job
        resolve_device(args.device)
    except OptionsError as exc:
        raise OptionsError(f"--device: {exc}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = bench.machine_info()
    _print(_machine_line(machine, args))
    if args.calibrate:
        _auto_choices(args, per_model, configs)
        return 0
    peaks: list[ConvPeak] = []
    if not args.no_peak and torch.device(args.device).type == "cpu":
        peaks = bench.conv_peaks(args.threads)
        _print(_peaks_table(peaks))
    _auto_choices(args, per_model, configs)
    all_rows = _run_tables(args, per_model, configs, peaks)
    scaling = bench.scaling(all_rows)  # only (model, config) pairs measured at two or more sizes
    if scaling:
        _print(_scaling_lines(scaling))
    if args.json:
        _write_json(args, machine, configs, peaks, all_rows, scaling)
    return 1 if any(r.status == bench.FAILED for r in all_rows) else 0


def _run_tables(
    args: argparse.Namespace,
    per_model: dict[str, list[tuple[int, int]]],
    configs: list[Config],
    peaks: list[ConvPeak],
) -> list[Row]:
    """Run every job under one progress bar, printing each model's table as soon as its jobs are done."""
    from tqdm import tqdm

    from esrgan import bench

    jobs = bench.plan(
        per_model, None, configs, repeats=args.repeats, warmup=args.warmup, threads=args.threads, device=args.device
    )
    bar = tqdm(total=len(jobs), unit="run", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
    all_rows: list[Row] = []

    def start(job: bench.Job) -> None:
        bar.set_description(f"{job.model} {job.config.name} {job.width}x{job.height}")

    def done(_job: bench.Job, _result: bench.Measurement) -> None:
        bar.update()

    try:
        for model in per_model:
            model_jobs = [j for j in jobs if j.model == model]
            results = bench.run_jobs(model_jobs, isolate=not args.in_process, on_start=start, on_done=done)
            rows = bench.summarise(results, peaks)
            all_rows += rows
            bar.clear()
            _print(_linear_table(model, rows) if args.linear else _model_table(model, rows) + _versus_lines(rows))
            bar.refresh()
    finally:
        bar.close()
    return all_rows


def _auto_choices(args: argparse.Namespace, per_model: dict[str, list[tuple[int, int]]], configs: list[Config]) -> None:
    """Decide backend auto for each model here, before the jobs (which then read the cached result), and print
    the candidates' timings: a calibration shows its progress here instead of inside a job. ``--calibrate``
    measures again even where a result is cached."""
    import torch

    from esrgan.backends.calibrate import decide
    from esrgan.inference.options import EngineOptions
    from esrgan.inference.upscaler import call_side
    from esrgan.models import load_model

    if torch.device(args.device).type != "cpu":
        if args.calibrate:
            raise OptionsError("--calibrate measures the CPU backends: use --device cpu")
        return
    options = [c.engine_options(args.device) for c in configs if not c.plain]
    sides = sorted({call_side(o.tile, o.tile_pad) for o in options if o.backend == "auto" and not o.compile})
    if args.calibrate and not sides:
        default = EngineOptions()
        sides = [call_side(default.tile, default.tile_pad)]
    for model in per_model if sides else ():
        net, _info = load_model(model)
        for side in sides:
            choice = decide(
                net,
                backend="auto",
                precision="auto",
                device=torch.device("cpu"),
                call_side=side,
                mode="force" if args.calibrate else None,
            )
            _print(_calibration_table(model, side, choice))


def _calibration_table(model: str, side: int, choice: Choice) -> str:
    from esrgan.backends.calibrate import choose, outside_bounds

    cal = choice.calibration
    if cal is None:
        return (
            f"backend auto for {model}: {choice.backend} (the fixed rule: calibration is off, or nothing to choose)\n"
        )
    when = f"measured now in {cal.seconds:.1f} s ({cal.cpu_seconds or 0:.1f} s CPU)"
    if choice.source != "measured":
        when = f"measured {cal.created} in {cal.seconds:.1f} s, cached"
    load = f", load {cal.load_average:.1f}" if cal.load_average is not None else ""
    lines = [
        f"backend auto for {model} (network calls of {side}x{side} px or less, {cal.threads} threads): "
        f"{choice.backend}+{choice.precision}; {when} on a {cal.side}x{cal.side} tile{load}",
        f"  ({choice.cache_file})",
        "",
        _row(["candidate", "s per tile", "max diff", "PSNR vs fp32", "build s", "verdict"]),
        _row(["---"] * 6),
    ]
    chosen = {"auto": choose(cal.timings), "fp32": choose(cal.timings, "fp32")}
    for t in cal.timings:
        reason = outside_bounds(t)
        picks = [f"chosen for precision {p}" for p, c in chosen.items() if c == t.candidate]
        verdict = "; ".join(picks) if picks else (f"out: {reason}" if reason else "eligible")
        lines.append(
            _row(
                [
                    t.candidate.name,
                    _num(t.seconds, "{:.3f}"),
                    _num(t.max_diff_255, "{:.2f}/255"),
                    _num(t.psnr_db, "{:.1f} dB"),
                    f"{t.build_seconds:.1f}",
                    verdict,
                ]
            )
        )
    return "\n".join(lines) + "\n"


# Rows compared with the fastest rows within the bounds: backend auto at the default precision, and at fp32 (the
# like-for-like check of the measured choice where the default runs bf16).
VERSUS_CONFIGS = ("default", "fp32")


def _versus_lines(rows: Sequence[Row]) -> str:
    """How ``default`` and ``fp32`` compare with the fastest fp32-exact row and the fastest row within the bounds."""
    from esrgan.bench import versus

    lines = []
    for v in (v for config in VERSUS_CONFIGS for v in versus(rows, config)):
        parts = []
        if v.exact is not None:
            parts.append(f"{v.vs_exact:.2f}x the time of the fastest fp32-exact row ({v.exact.config})")
        if v.bounded is not None and v.row.dtype != "fp32":  # an fp32 row is held to the exact rows only
            parts.append(f"{v.vs_bounded:.2f}x that of the fastest row within the bounds ({v.bounded.config})")
        if parts:
            lines.append(f"- {_label(v.row)} {v.size}: " + ", ".join(parts))
    return "\n".join(lines) + "\n" if lines else ""


def _write_json(
    args: argparse.Namespace,
    machine: dict[str, Any],
    configs: list[Config],
    peaks: list[ConvPeak],
    rows: list[Row],
    scaling: list[Scaling],
) -> None:
    from esrgan.fileio import write_text_atomic

    doc = {
        "machine": machine,
        "settings": {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "threads": args.threads,
            "device": args.device,
            "isolated": not args.in_process,
            "configs": [c.name for c in configs],
        },
        "conv_peaks": [vars(p) for p in peaks],
        "rows": [r.to_json() for r in rows],
        "scaling": [vars(s) for s in scaling],
    }
    write_text_atomic(args.json, json.dumps(doc, indent=2) + "\n")
    _print(f"figures written to {args.json}")


def _configs(args: argparse.Namespace) -> list[Config]:
    from esrgan.bench import default_configs, parse_config

    if args.configs:
        configs = [parse_config(c) for c in args.configs.split(",") if c.strip()]
        if not configs:
            raise OptionsError("--configs is empty: give e.g. plain,default,fp32")
        names = [c.name for c in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise OptionsError(f"--configs names {duplicates[0]!r} twice")
        return configs
    if args.linear:
        return [parse_config("default")]
    return default_configs(device=args.device)


def _plan_sizes(args: argparse.Namespace) -> dict[str, list[tuple[int, int]]]:
    """Model spec -> input sizes, from -m/--sizes/--linear and the defaults."""
    from esrgan.bench import parse_size

    if args.linear:
        models = args.models or [LINEAR_MODEL]
        sizes = args.sizes or [parse_size(s) for s in LINEAR_SIZES]
        return {m: list(sizes) for m in dict.fromkeys(models)}
    models = args.models or list(DEFAULT_SIZES)
    return {m: list(args.sizes or [parse_size(DEFAULT_SIZES.get(m, "256"))]) for m in dict.fromkeys(models)}


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _machine_line(machine: dict[str, Any], args: argparse.Namespace) -> str:
    load = machine.get("load_average")
    return (
        f"machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
        f"{machine['torch_threads']} threads, native bf16: {'yes' if machine['native_bf16'] else 'no'}"
        + (f", load average {load[0]:.1f}" if load else "")
        + (
            ""
            if args.calibrate
            else f"\nsettings: median of {args.repeats} timed call(s) after {args.warmup} warm-up call(s), "
            + ("all in this process" if args.in_process else "each configuration in a fresh process")
        )
        + "\n"
    )


def _peaks_table(peaks: Sequence[ConvPeak]) -> str:
    from esrgan.bench import CONV_CHANNELS, CONV_SIZE

    lines = [
        f"convolution peak (3x3, {CONV_CHANNELS}->{CONV_CHANNELS}, 1x{CONV_CHANNELS}x{CONV_SIZE}x{CONV_SIZE}):",
        "",
        "| dtype, layout | GFLOP/s |",
        "|---|---|",
    ]
    for p in peaks:
        value = f"{p.gflops:.1f}" if p.gflops is not None else f"unavailable: {p.reason}"
        lines.append(f"| {p.name} | {value} |")
    return "\n".join(lines) + "\n"


def _model_table(model: str, rows: Sequence[Row]) -> str:
    header = [
        "config",
        "size",
        "tile",
        "time s",
        "warm-up s",
        "speed-up",
        "GFLOP/s",
        "% peak",
        "PSNR vs fp32",
        "max diff",
        "peak MiB",
        "over base MiB",
    ]
    lines = [_model_header(model, rows), "", _row(header), _row(["---"] * len(header))]
    for r in rows:
        if r.status != "ok":
            continue
        if r.config == "plain":
            fidelity = ["reference", MISSING]
        else:
            fidelity = [_num(r.psnr_db, "{:.1f} dB"), _num(r.max_diff_255, "{:.2f}/255")]
        lines.append(
            _row(
                [
                    _label(r),
                    r.size,
                    _tile(r.tile),
                    _secs(r.seconds),
                    _secs(r.warmup_seconds),
                    _num(r.speedup, "{:.2f}x"),
                    _num(r.gflops, "{:.1f}"),
                    _num(r.pct_peak, "{:.0f}%"),
                    *fidelity,
                    _num(r.peak_mib, "{:.0f}"),
                    _num(r.over_baseline_mib, "{:.0f}"),
                ]
            )
        )
    lines += _not_run(rows)
    return "\n".join(lines) + "\n"


def _linear_table(model: str, rows: Sequence[Row]) -> str:
    header = ["config", "size", "pixels", "tile", "time s", "µs/px", "peak MiB", "over base MiB", "output MiB"]
    lines = [_model_header(model, rows), "", _row(header), _row(["---"] * len(header))]
    for r in rows:
        if r.status != "ok":
            continue
        lines.append(
            _row(
                [
                    _label(r),
                    r.size,
                    f"{r.width * r.height:,}",
                    _tile(r.tile),
                    _secs(r.seconds),
                    _num(r.us_per_pixel, "{:.1f}"),
                    _num(r.peak_mib, "{:.0f}"),
                    _num(r.over_baseline_mib, "{:.0f}"),
                    _num(r.output_mib, "{:.0f}"),
                ]
            )
        )
    lines += _not_run(rows)
    return "\n".join(lines) + "\n"


def _scaling_lines(scaling: Sequence[Scaling]) -> str:
    lines = ["scaling with image size:"]
    for s in scaling:
        memory = (
            f"; memory beyond the output at most {s.activations_mib_max:.0f} MiB"
            if s.activations_mib_max is not None
            else ""
        )
        lines.append(
            f"  {s.model} {s.config}: {s.us_per_pixel_min:.1f}-{s.us_per_pixel_max:.1f} µs per input pixel over "
            f"{', '.join(s.sizes)} (max/min {s.spread:.2f}; 1.00 = linear){memory}"
        )
    return "\n".join(lines) + "\n"


def _model_header(model: str, rows: Sequence[Row]) -> str:
    flops = next((r.flops_per_pixel for r in rows if r.flops_per_pixel), None)
    threads = next((r.threads for r in rows if r.threads), None)
    parts = [f"{flops / 1e6:.2f} MFLOP per input pixel" if flops else None, f"{threads} threads" if threads else None]
    return f"{model}: " + ", ".join(p for p in parts if p) if any(parts) else model


def _label(r: Row) -> str:
    """The configuration's name, plus the backend and dtype it resolved to where the name does not say them
    (``default (openvino bf16)``, ``fp32 (torch)``)."""
    if r.config == "plain":
        return r.config
    tokens = r.config.lower().split("+")
    backend = None if any(b in tokens for b in BACKENDS) else r.backend
    dtype = None if r.dtype in tokens else r.dtype
    shown = " ".join(v for v in (backend, dtype) if v)
    return f"{r.config} ({shown})" if shown else r.config


def _not_run(rows: Sequence[Row]) -> list[str]:
    return [f"- {r.status} {r.config} {r.size}: {r.reason}" for r in rows if r.status != "ok"]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _num(value: float | None, spec: str) -> str:
    if value is None:
        return MISSING
    if value == float("inf"):
        return "exact" if "dB" in spec else "inf"
    return spec.format(value)


def _secs(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}" if value >= 0.1 else f"{value:.4f}"


def _tile(tile: int | None) -> str:
    return MISSING if tile is None else "none" if tile == 0 else str(tile)
