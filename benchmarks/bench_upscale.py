"""Speed, fidelity and memory of the Upscaler against the plain forward pass.

The reference is what the original Real-ESRGAN inference code (and spandrel) does on the CPU: one float32
``model(x)`` on a contiguous NCHW tensor. Configurations run interleaved, ``--repeat`` rounds, and the best
time of each is reported, because other processes share the machine: compare the ratios, not the seconds.

    python -m benchmarks.bench_upscale                       # 256x256 speed, 512x512 tiling, 2048x2048 memory
    python -m benchmarks.bench_upscale --sweep 64,128,256    # also the speed of each tile size
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from esrgan.device import tune_cpu_allocator
from esrgan.inference import Upscaler
from esrgan.models import load_model

DEFAULT_MODEL = "realesrgan-x4plus"


def photo(size: int) -> torch.Tensor:
    """A (1, 3, size, size) RGB float crop of skimage's astronaut (tiled when size > 512)."""
    import skimage.data

    img = skimage.data.astronaut()
    reps = -(-size // img.shape[0])
    img = np.tile(img, (reps, reps, 1))[:size, img.shape[1] * reps - size :]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def plain_forward(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reference: fp32, contiguous NCHW, one call, clamped (Real-ESRGAN's RealESRGANer without tiles)."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x.contiguous()).clamp(0, 1)

    return run


def time_interleaved(
    configs: dict[str, Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor, repeat: int
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, torch.Tensor]]:
    """Run every configuration once per round; return (wall, CPU) seconds per run and each one's output.

    CPU time (user + system, all threads) is the steadier figure when other processes compete for the cores.
    """
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    outputs: dict[str, torch.Tensor] = {}
    for round_ in range(repeat):
        for name, fn in configs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            outputs[name] = fn(x)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            times[name].append((wall, cpu))
            print(f"  round {round_ + 1}/{repeat}  {name:<30} wall {wall:7.2f} s  CPU {cpu:7.2f} s", flush=True)
    return times, outputs


def plain_child(model: str, size: int, repeat: int, out: str) -> None:
    """The reference in a process of its own, with glibc's default allocator as Real-ESRGAN's scripts run."""
    net, _ = load_model(model)
    x = photo(size)
    times, outputs = time_interleaved({"plain": plain_forward(net)}, x, repeat)
    torch.save({"times": times["plain"], "output": outputs["plain"]}, out)


def speed(model: str, size: int, repeat: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/plain.pt"
        cmd = [sys.executable, "-m", "benchmarks.bench_upscale", "--plain-child", model, str(size), str(repeat), out]
        cmd += ["--threads", str(torch.get_num_threads())]
        print("speed: reference in its own process (default allocator):", flush=True)
        subprocess.run(cmd, check=True)
        child = torch.load(out, weights_only=True)
    # Everything below runs as the `esrgan` command runs: allocator tuned (see esrgan.device.tune_cpu_allocator).
    tuned = tune_cpu_allocator()
    net, _info = load_model(model)
    reference = copy.deepcopy(net)  # the Upscaler converts its network to channels_last in place
    x = photo(size)
    fp32 = Upscaler(net, precision="fp32", device="cpu")
    auto = Upscaler(net, precision="auto", device="cpu")
    configs: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "plain fp32 NCHW model(x)": lambda _x: child["output"],
        "plain, tuned allocator": plain_forward(reference),
        f"Upscaler fp32 (tile {fp32.tile_for(x) or 'none'})": fp32,
        f"Upscaler auto = {str(auto.dtype).removeprefix('torch.')}": auto,
    }
    print(f"allocator tuned in this process: {tuned}")
    print(f"speed: {model}, {size}x{size} photo crop, {torch.get_num_threads()} threads, best of {repeat}")
    with torch.inference_mode():
        auto(x[..., :32, :32])  # warm up oneDNN kernels
    times, outputs = time_interleaved(dict(list(configs.items())[1:]), x, repeat)
    base_name = next(iter(configs))
    times[base_name] = [tuple(t) for t in child["times"]]
    outputs[base_name] = child["output"]
    base_wall = min(w for w, _ in times[base_name])
    base_cpu = min(c for _, c in times[base_name])
    base = outputs[base_name]
    print(
        f"\n| {'configuration':<30} | {'wall s':>7} | {'speed-up':>8} | {'CPU s':>7} | {'speed-up':>8} "
        f"| {'PSNR vs fp32':>12} | {'max diff':>9} |"
    )
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 10}|{'-' * 9}|{'-' * 10}|{'-' * 14}|{'-' * 11}|")
    for name in configs:
        wall = min(w for w, _ in times[name])
        cpu = min(c for _, c in times[name])
        diff = float((outputs[name] - base).abs().max()) * 255
        print(
            f"| {name:<30} | {wall:7.2f} | {base_wall / wall:7.2f}x | {cpu:7.2f} | {base_cpu / cpu:7.2f}x "
            f"| {psnr(outputs[name], base):9.1f} dB | {diff:5.2f}/255 |"
        )
    print()


def tiling_fidelity(model: str, size: int, tile: int) -> None:
    net, _info = load_model(model)
    x = photo(size)
    results = {}
    for name, t in (("untiled", 0), (f"tile {tile}", tile)):
        start = time.perf_counter()
        results[name] = Upscaler(net, tile=t, precision="fp32", device="cpu")(x)
        print(f"  {name:<10} {time.perf_counter() - start:8.1f} s", flush=True)
    untiled, tiled_ = results.values()
    print(
        f"tiling: {model}, {size}x{size}, tile {tile}, pad 16, fp32: PSNR {psnr(tiled_, untiled):.1f} dB, "
        f"max diff {float((tiled_ - untiled).abs().max()) * 255:.2f}/255 vs untiled\n"
    )


def tile_sweep(model: str, tiles: Sequence[int], repeat: int, pad: int = 16) -> None:
    """Speed of each tile size: one window of side tile + 2 * pad, per window pixel and per core pixel."""
    net, _info = load_model(model)
    up = Upscaler(net, tile=0, precision="fp32", device="cpu")
    best: dict[int, tuple[float, float]] = {}
    print(f"tile sweep: {model}, fp32 channels_last, pad {pad}, one window per tile size, best of {repeat}")
    for round_ in range(repeat):
        for t in tiles:
            x = photo(t + 2 * pad)
            wall, cpu = time.perf_counter(), time.process_time()
            up(x)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            old_wall, old_cpu = best.get(t, (math.inf, math.inf))
            best[t] = (min(old_wall, wall), min(old_cpu, cpu))
            print(
                f"  round {round_ + 1}/{repeat}  tile {t:<4} window {t + 2 * pad:<4} "
                f"wall {wall:7.2f} s  CPU {cpu:7.2f} s"
            )
    print(
        f"\n| {'tile':>5} | {'window':>6} | {'wall s':>7} | {'wall us/window px':>17} | {'wall us/core px':>15} "
        f"| {'CPU us/core px':>14} |"
    )
    print(f"|{'-' * 7}|{'-' * 8}|{'-' * 9}|{'-' * 19}|{'-' * 17}|{'-' * 16}|")
    for t in tiles:
        wall, cpu = best[t]
        window = t + 2 * pad
        print(
            f"| {t:>5} | {window:>6} | {wall:7.2f} | {wall / window**2 * 1e6:17.0f} | {wall / t**2 * 1e6:15.0f} "
            f"| {cpu / t**2 * 1e6:14.0f} |"
        )
    print("(per core px counts the overlap an interior tile pays; border tiles pay half of it or none)\n")


def memory(model: str, size: int) -> None:
    """Peak RSS while upscaling a size x size image with tile auto, in a fresh process (Linux /proc)."""
    cmd = [sys.executable, "-m", "benchmarks.bench_upscale", "--memory-child", model, str(size)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        print(f"memory: child failed ({done.returncode}):\n{done.stderr.strip()}")
        return
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"memory: {model}, {size}x{size} -> {size * r['scale']}x{size * r['scale']}, tile auto = {r['tile']}: "
        f"peak RSS {r['peak_mib']:.0f} MiB, of which {r['before_mib']:.0f} MiB before the call (model, input) and "
        f"{r['output_mib']:.0f} MiB the float32 output; {r['seconds']:.0f} s\n"
    )


def memory_child(model: str, size: int) -> None:
    tune_cpu_allocator()  # as the esrgan command runs
    net, _info = load_model(model)
    x = photo(size)
    up = Upscaler(net, device="cpu")
    tile = up.tile_for(x)
    gc.collect()
    before = _reset_peak_rss()
    start = time.perf_counter()
    y = up(x)
    seconds = time.perf_counter() - start
    result = {
        "scale": up.scale,
        "tile": tile,
        "before_mib": before,
        "peak_mib": _peak_rss(),
        "output_mib": y.numel() * 4 / 2**20,
        "seconds": seconds,
    }
    print(json.dumps(result))


def _reset_peak_rss() -> float:
    """Reset this process's RSS high-water mark (Linux >= 4.0) and return the current RSS in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _proc_status_mib("VmRSS")


def _peak_rss() -> float:
    return _proc_status_mib("VmHWM")


def _proc_status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_upscale", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="built-in name or file (default %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="speed test input side (0 skips)")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the best is reported")
    parser.add_argument("--tiling-size", type=int, default=512, help="tiled-vs-untiled input side (0 skips)")
    parser.add_argument("--tile", type=int, default=128, help="tile of the tiled-vs-untiled test")
    parser.add_argument("--memory-size", type=int, default=2048, help="peak-memory input side (0 skips)")
    parser.add_argument(
        "--memory-model",
        default="realesr-animevideov3",
        help="model of the memory test (default %(default)s: 2048x2048 through realesrgan-x4plus takes ~30 min)",
    )
    parser.add_argument("--sweep", default="", help="comma-separated tile sizes to time, e.g. 64,128,256,512")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--plain-child", nargs=4, metavar=("MODEL", "SIZE", "REPEAT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.plain_child:
        model, size, repeat, out = args.plain_child
        plain_child(model, int(size), int(repeat), out)
        return 0
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return 0
    if args.size:
        speed(args.model, args.size, args.repeat)
    if args.sweep:
        tile_sweep(args.model, [int(t) for t in args.sweep.split(",")], args.repeat)
    if args.tiling_size:
        tiling_fidelity(args.model, args.tiling_size, args.tile)
    if args.memory_size:
        memory(args.memory_model, args.memory_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
