"""Planning and running benchmark jobs: each (model, configuration, size) in a fresh child process of its own.

A child (``python -m esrgan.bench JOB.json RESULT.json``) gets a clean allocator, its own oneDNN primitive cache
and its own peak memory. The plain job of each (model, size) saves its output; the later jobs of that (model,
size) compare theirs with it. A job that fails, or is killed, becomes a row that says so; the others go on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from esrgan.bench.configs import Config, unavailable_reason
from esrgan.bench.measurement import FAILED, OK, SKIPPED, Job, Measurement, measure
from esrgan.errors import one_line

log = logging.getLogger(__name__)

__all__ = ["child_main", "plan", "run_jobs"]


def plan(
    models: Sequence[str] | Mapping[str, Sequence[tuple[int, int]]],
    sizes: Sequence[tuple[int, int]] | None,
    configs: Sequence[Config],
    *,
    repeats: int = 3,
    warmup: int = 1,
    threads: int | None = None,
    device: str = "cpu",
) -> list[Job]:
    """Jobs for every model x size x configuration, the plain reference first within each (model, size).

    Args:
        models: model specs, or a mapping of model spec to its own sizes (then ``sizes`` must be None).
        sizes: (width, height) pairs for every model.
    """
    if isinstance(models, Mapping):
        per_model = {m: list(s) for m, s in models.items()}
    else:
        if sizes is None:
            raise ValueError("sizes are needed when models is a list")
        per_model = {m: list(sizes) for m in models}
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    ordered = sorted(configs, key=lambda c: not c.plain)  # stable: the reference first, then as given
    jobs = []
    for model, model_sizes in per_model.items():
        for width, height in model_sizes:
            for config in ordered:
                jobs.append(Job(model, config, width, height, repeats, warmup, threads, device))
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    *,
    isolate: bool = True,
    on_start: Callable[[Job], None] | None = None,
    on_done: Callable[[Job, Measurement], None] | None = None,
) -> list[Measurement]:
    """Run jobs in order, each in a fresh child process (``isolate``) or in this one.

    The plain job of each (model, size) saves its output to a temporary folder; the later jobs of that
    (model, size) compare theirs with it. Unavailable configurations are skipped without starting a process;
    a job that fails (exception, killed by the OOM killer) is reported as failed and the others go on.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="esrgan-bench-") as tmp:
        references: dict[tuple[str, int, int], str] = {}
        for n, job in enumerate(jobs):
            if on_start is not None:
                on_start(job)
            key = (job.model, job.width, job.height)
            if job.config.plain:
                job = Job(**{**vars(job), "save_output": os.path.join(tmp, f"reference-{n}.pt")})
            elif key in references:
                job = Job(**{**vars(job), "reference": references[key]})
            reason = unavailable_reason(job.config)
            if reason is not None:
                result = Measurement(job.model, job.config.name, job.width, job.height, SKIPPED, reason)
            elif isolate:
                result = _run_child(job, Path(tmp), n)
            else:
                result = _run_here(job)
            if job.config.plain and result.status == OK and job.save_output:
                references[key] = job.save_output
            log.debug("%s %s %dx%d: %s", job.model, job.config.name, job.width, job.height, result.status)
            results.append(result)
            if on_done is not None:
                on_done(job, result)
    return results


def _run_here(job: Job) -> Measurement:
    try:
        return measure(job, isolated=False)
    except (RuntimeError, ValueError, OSError, ImportError, TypeError) as exc:
        log.debug("job failed", exc_info=True)
        return Measurement(job.model, job.config.name, job.width, job.height, FAILED, one_line(exc))


def _run_child(job: Job, tmp: Path, n: int) -> Measurement:
    job_path, result_path = tmp / f"job-{n}.json", tmp / f"result-{n}.json"
    job_path.write_text(json.dumps(job.to_dict()))
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # so the child imports this same package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "esrgan.bench", str(job_path), str(result_path)]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    output = done.stdout.strip()
    if output:
        log.debug("child output (%s %s):\n%s", job.model, job.config.name, output)
    failed = Measurement(job.model, job.config.name, job.width, job.height, FAILED)
    if done.returncode < 0:
        signal = -done.returncode
        failed.reason = f"killed by signal {signal}" + (" (out of memory?)" if signal == 9 else "")
        return failed
    if done.returncode != 0 or not result_path.exists():
        lines = [line for line in output.splitlines() if line.strip()]
        failed.reason = lines[-1].strip() if lines else f"child exited with status {done.returncode}"
        return failed
    return Measurement(**json.loads(result_path.read_text()))


def child_main(argv: Sequence[str]) -> int:
    """``python -m esrgan.bench JOB.json RESULT.json``: run one job, write its Measurement as JSON."""
    from esrgan.fileio import write_text_atomic

    if len(argv) != 2:
        raise SystemExit("usage: python -m esrgan.bench JOB.json RESULT.json (run by esrgan bench)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    job = Job.from_dict(json.loads(Path(argv[0]).read_text()))
    try:
        result = measure(job, isolated=True)
    except Exception as exc:  # any failure becomes one row of the table; the traceback goes to the log
        log.debug("job failed", exc_info=True)
        result = Measurement(job.model, job.config.name, job.width, job.height, FAILED, one_line(exc))
    write_text_atomic(argv[1], json.dumps(asdict(result)))
    return 0
