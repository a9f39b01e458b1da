from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from esrgan.train.distributed import DistInfo, ResumableBatchSampler, SeededDataset, all_finite, mean_across


def test_sampler_splits_global_batches_across_ranks() -> None:
    """Rank r's batch is the r-th slice of the single-process batch of batch_size * world_size."""
    single = ResumableBatchSampler(10, 6, total_iter=7, seed=3)
    ranks = [ResumableBatchSampler(10, 3, total_iter=7, seed=3, rank=r, world_size=2) for r in range(2)]
    for it in range(1, 8):
        assert single.batch(it) == ranks[0].batch(it) + ranks[1].batch(it)


def test_sampler_epochs_are_permutations_with_distinct_sample_seeds() -> None:
    s = ResumableBatchSampler(12, 4, total_iter=9, seed=0)
    batches = list(s)
    assert len(batches) == len(s) == 9
    flat = [item for b in batches for item in b]
    for epoch in range(3):
        assert sorted(i for i, _ in flat[12 * epoch : 12 * (epoch + 1)]) == list(range(12))
    assert [i for i, _ in flat[:12]] != [i for i, _ in flat[12:24]]  # each epoch is shuffled anew
    assert len({seed for _, seed in flat}) == len(flat)  # every sample position has its own seed
    assert [i for i, _ in flat[:12]] != [i for i, _ in ResumableBatchSampler(12, 4, 9, seed=1).batch(1)] * 3


def test_sampler_resumes_by_skipping_consumed_batches() -> None:
    straight = list(ResumableBatchSampler(7, 3, total_iter=10, seed=5))
    resumed = list(ResumableBatchSampler(7, 3, total_iter=10, seed=5, start_iter=4))
    assert resumed == straight[4:]


class _Draw:
    """A dataset whose items are random numbers drawn from its own generator (like esrgan.data's crops)."""

    def __init__(self) -> None:
        self.rng = torch.Generator()

    def reseed(self, seed: int) -> None:
        self.rng.manual_seed(seed)

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> float:
        return float(torch.rand(1, generator=self.rng)) + index


def test_seeded_dataset_makes_samples_a_function_of_their_seed() -> None:
    ds = SeededDataset(_Draw())  # type: ignore[arg-type]
    a, b = ds[(2, 11)], ds[(3, 12)]
    assert ds[(2, 11)] == a and ds[(3, 12)] == b and a != b - 1
    with pytest.raises(TypeError, match="no reseed"):
        SeededDataset([1, 2, 3])  # type: ignore[arg-type]


def test_single_process_collectives() -> None:
    info = DistInfo()
    assert info.is_main and not info.enabled
    assert all_finite({"a": torch.tensor(1.0), "b": torch.tensor([2.0, 3.0])}, info)
    assert not all_finite({"a": torch.tensor(1.0), "b": torch.tensor(float("inf"))}, info)
    assert mean_across({"x": 2.0}, info, torch.device("cpu")) == {"x": 2.0}


WORKER = """
import json, sys, torch
from esrgan.options import from_dict
from esrgan.train.distributed import init_from_env, shutdown
from esrgan.train.loop import fit
from esrgan.train.options import TrainOptions

opts = from_dict(TrainOptions, json.loads(open(sys.argv[1]).read()))
dist, device = init_from_env(torch.device("cpu"))
result = fit(opts, dist=dist, device=device)
nets = {"g": result.net_g.state_dict(), "ema": result.net_g_ema.state_dict()}
if result.net_d is not None:
    nets["d"] = result.net_d.state_dict()
torch.save(nets, sys.argv[2] + f"/rank{dist.rank}.pt")
shutdown(dist)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(tmp_path: Path, opts: dict[str, Any], nproc: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    opts_file = tmp_path / f"opts_{opts['name']}.json"
    opts_file.write_text(json.dumps(opts))
    out = tmp_path / opts["name"]
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1"]
    cmd += [f"--master_port={_free_port()}", str(script), str(opts_file), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch_home")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["psnr", "gan"])
def test_two_gloo_processes_hold_identical_weights(
    stage: str, make_options: Callable[..., dict[str, Any]], tmp_path: Path, no_vgg_weights: Path
) -> None:
    """torchrun with 2 CPU processes (gloo): after a few steps both ranks hold the same G, EMA and D; only rank 0
    writes checkpoints. In the PSNR stage DDP with 2 x batch 2 also equals one process with batch 4."""
    changes = {"train": {"total_iter": 3}, "data": {"val": None}, "checkpoint": {"every": 3}}
    opts = make_options(stage, name=f"ddp_{stage}", **changes)
    _torchrun(tmp_path, opts, nproc=2)
    r0 = torch.load(tmp_path / opts["name"] / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / opts["name"] / "rank1.pt", weights_only=True)
    assert r0.keys() == r1.keys() == ({"g", "ema", "d"} if stage == "gan" else {"g", "ema"})
    for net in r0:
        for k in r0[net]:
            assert torch.equal(r0[net][k], r1[net][k]), f"{net}.{k} differs between ranks"
    ckpts = tmp_path / "exp" / opts["name"] / "checkpoints"
    assert [p.name for p in ckpts.iterdir()] == ["state_00000003.pth"]
    state = torch.load(ckpts / "state_00000003.pth", weights_only=True)
    assert len(state["rng"]) == 2  # one RNG record per rank
    if stage == "psnr":
        single = make_options(stage, name="single", **changes)
        single["data"]["train"]["batch_size"] = 4
        _torchrun(tmp_path, single, nproc=1)
        ref = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
        for k in ref["g"]:
            torch.testing.assert_close(r0["g"][k], ref["g"][k], rtol=1e-4, atol=1e-6, msg=k)
