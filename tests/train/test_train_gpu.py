"""Training on a real CUDA device: a few iterations of each stage under autocast (fp16 with a grad scaler, bf16).

Marked ``gpu`` (skipped without CUDA; run by ``make gpu-check``). The CPU tests cover the same loop in fp32 and
bf16; here the fp16 grad scaler and CUDA autocast meet real kernels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from esrgan.cli import main

pytestmark = pytest.mark.gpu
MakeOptions = Callable[..., dict[str, Any]]


def _train(tmp_path: Path, opts: dict[str, Any]) -> list[dict[str, Any]]:
    path = tmp_path / f"{opts['name']}.yml"
    path.write_text(yaml.safe_dump(opts))
    assert main(["train", "-opt", str(path), "-q"]) == 0
    log = Path(opts["experiments_root"]) / opts["name"] / "train_log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_both_stages_train_on_cuda_with_autocast(
    make_options: MakeOptions, tmp_path: Path, no_vgg_weights: Path, precision: str
) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    common = {"device": "cuda", "precision": precision, "channels_last": True, "train": {"total_iter": 6}}
    psnr = make_options("psnr", name=f"psnr-{precision}", **common)
    records = _train(tmp_path, psnr)
    train = [r for r in records if r["kind"] == "train"]
    assert [r["iter"] for r in train] == list(range(1, 7))
    assert all(math.isfinite(r["l_pix"]) for r in train)
    exported = Path(psnr["experiments_root"]) / psnr["name"] / "models" / "net_g_latest.pth"
    gan = make_options("gan", name=f"gan-{precision}", network_g={"pretrained": str(exported)}, **common)
    train = [r for r in _train(tmp_path, gan) if r["kind"] == "train"]
    for key in ("l_pix", "l_percep", "l_g_gan", "l_d"):
        assert all(math.isfinite(r[key]) for r in train), key
