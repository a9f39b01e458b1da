"""The allocator tuning the command line applies at start (torch-free)."""

from __future__ import annotations

import pytest


def test_allocator_tuning_opt_out_and_idempotence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-out, the two mallopt() calls and idempotence, against a fake libc: the real mallopt() late in a
    process full of OpenVINO/TBB and video threads crashed the test run (the esrgan command calls it at start)."""
    import ctypes

    import esrgan.allocator as allocator

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
    import subprocess
    import sys

    code = "import esrgan.allocator as a; print(a.tune_cpu_allocator())"
    env = {k: v for k, v in __import__("os").environ.items() if k != "ESRGAN_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.strip() in ("True", "False")


def test_the_allocator_module_imports_no_torch() -> None:
    """The command line tunes the allocator before a refused input could ever need torch."""
    import os
    import subprocess
    import sys

    code = "import sys, esrgan.allocator; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ)
    assert out.stdout.strip() == "False", out.stderr
