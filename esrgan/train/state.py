"""Training state on disk: what a checkpoint holds, atomic writes, safe loading, finding the latest one.

A training state is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code). Layout (top-level keys)::

    esrgan       {"arch", "hparams", "version", "kind": "training_state", "iteration", "stage", "name"}
    params_ema   generator EMA state dict (the weights to use; esrgan.models.load_model reads these two keys)
    params       generator state dict (the weights being optimised)
    net_d        discriminator state dict, or None (PSNR stage)
    net_d_meta   {"arch", "hparams"} of the discriminator, or None
    optimizers   {"g": Adam state dict, "d": Adam state dict or None}
    scaler       GradScaler state dict, or None (no fp16)
    iteration    completed iterations (int)
    rng          one dict per rank: {"torch", "numpy", "python", "cuda"}
    options      the run's options as a plain dict (esrgan.options.to_dict)
    feature      distillation: state dict of the feature-matching adapter, or None
    pool         one dict per rank, {"size", "keys": (n, 2) int64}: the samples in the training pair pool
                 (esrgan/train/pool.py), or None without a pool (absent in states written before it existed)

The learning-rate schedule is a pure function of ``iteration`` (esrgan/train/build.py), so ``iteration`` is the
whole scheduler state; the data order is a function of (seed, iteration) (esrgan/train/distributed.py).
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from esrgan.errors import InputError, NotFoundError
from esrgan.fileio import atomic_path

log = logging.getLogger(__name__)

STATE_PATTERN = re.compile(r"^state_(\d+)\.pth$")
REQUIRED_KEYS = ("esrgan", "params_ema", "params", "optimizers", "iteration", "rng", "options")


def state_path(folder: Path, iteration: int) -> Path:
    """``<folder>/state_<iteration, 8 digits>.pth``."""
    return folder / f"state_{iteration:08d}.pth"


def list_states(folder: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the training states in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STATE_PATTERN.match(p.name))]
    return sorted(found)


def latest_state(folder: Path) -> Path | None:
    """The state with the highest iteration in ``folder``, or None."""
    states = list_states(folder)
    return states[-1][1] if states else None


def prune_states(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest states (keep = 0: delete none)."""
    if keep <= 0:
        return
    for _, path in list_states(folder)[:-keep]:
        path.unlink(missing_ok=True)
        log.debug("deleted old training state %s", path)


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: a temporary file in the same folder, flushed to disk, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def load_state(path: Path) -> dict[str, Any]:
    """Load a training state safely (``weights_only=True``) onto the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a training state written by ``esrgan train`` (the message names the missing keys).
    """
    if not path.is_file():
        raise NotFoundError(f"training state not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot load as a training state ({exc})") from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(
            f"{path}: not an esrgan training state (missing {', '.join(missing)}); training states are the "
            "checkpoints/state_*.pth files of a run"
        )
    return state


def capture_rng() -> dict[str, Any]:
    """This process's random states (torch CPU, numpy, python, every CUDA device) as weights_only-safe values."""
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(rng: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(rng["torch"])
    n = rng["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = rng["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if rng["cuda"] and torch.cuda.is_available():
        if len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        else:
            log.warning("the checkpoint has CUDA RNG states for %d devices, this machine has %d: not restored",
                        len(rng["cuda"]), torch.cuda.device_count())  # fmt: skip


def make_state(
    *,
    meta: dict[str, Any],
    params_ema: dict[str, torch.Tensor],
    params: dict[str, torch.Tensor],
    net_d: dict[str, torch.Tensor] | None,
    net_d_meta: dict[str, Any] | None,
    optimizers: dict[str, Any],
    scaler: dict[str, Any] | None,
    iteration: int,
    rng: list[dict[str, Any]],
    options: dict[str, Any],
    feature: dict[str, torch.Tensor] | None = None,
    pool: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assemble a training state in the layout described in this module's docstring."""
    return {
        "esrgan": {**meta, "kind": "training_state", "iteration": iteration},
        "params_ema": params_ema,
        "params": params,
        "net_d": net_d,
        "net_d_meta": net_d_meta,
        "optimizers": optimizers,
        "scaler": scaler,
        "iteration": iteration,
        "rng": rng,
        "options": options,
        "feature": feature,
        "pool": pool,
    }
