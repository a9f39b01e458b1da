"""glibc allocator tuning (torch-free, called by the command at start)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

import esrgan.allocator as allocator


def test_allocator_tuning_opt_out_and_idempotence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-out, the two mallopt() calls and idempotence, against a fake libc: the real mallopt() late in a
    process full of OpenVINO/TBB and video threads crashed the test run (the esrgan command calls it at start)."""
    calls: list[tuple[int, int]] = []

    class FakeLibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(allocator, "_ALLOCATOR_TUNED", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda *_a, **_k: FakeLibc())
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setenv("ESRGAN_MALLOC_TUNING", "0")
    assert allocator.tune_cpu_allocator() is False and not calls
    monkeypatch.delenv("ESRGAN_MALLOC_TUNING")
    assert allocator.tune_cpu_allocator() is True
    assert calls == [(-1, 1 << 30), (-3, 1 << 30)]  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    assert allocator.tune_cpu_allocator() is True and len(calls) == 2  # second call: no-op


@pytest.mark.slow
def test_allocator_tuning_with_the_real_libc() -> None:
    """The real glibc accepts the thresholds (in a fresh interpreter, as the esrgan command does at start)."""
    code = "import esrgan.allocator as d; print(d.tune_cpu_allocator())"
    env = {k: v for k, v in os.environ.items() if k != "ESRGAN_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.strip() in ("True", "False")


def test_allocator_env_opt_out_platform_and_existing_tunables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setenv("ESRGAN_MALLOC_TUNING", "0")
    assert allocator.allocator_env() == {}
    monkeypatch.delenv("ESRGAN_MALLOC_TUNING")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    ours = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=1073741824"
    assert allocator.allocator_env() == {"GLIBC_TUNABLES": ours}
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert allocator.allocator_env() == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{ours}"}
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.allocator_env() == {}


def test_allocator_env_keeps_freed_memory_in_a_new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process started with allocator_env() reuses a freed 50 MB block instead of faulting it in again."""
    import platform

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    monkeypatch.delenv("ESRGAN_MALLOC_TUNING", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    code = (
        "import resource, numpy as np\n"
        "f = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "a = np.ones(6_250_000); del a\n"
        "f0 = f()\n"
        "for _ in range(5):\n    a = np.ones(6_250_000); del a\n"
        "print(f() - f0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "ESRGAN_MALLOC_TUNING")}
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    tuned = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, **allocator.allocator_env()},
        timeout=60,
    )
    assert int(tuned.stdout) < 50 < int(plain.stdout), (plain.stdout, tuned.stdout)
