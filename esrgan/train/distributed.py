"""Processes and data order: torchrun/DDP set-up, collectives, and a resumable sampler shared by all ranks.

Under ``torchrun --nproc_per_node N`` the environment holds RANK, LOCAL_RANK and WORLD_SIZE; a plain run is one
process of rank 0. Rank 0 alone logs, validates and writes checkpoints; the others wait at barriers.

Data order is a pure function of (seed, iteration): the training stream is the concatenation of seeded
permutations of the dataset (one per epoch), iteration ``i`` takes the next ``batch_size * world_size`` entries,
and rank ``r`` the ``r``-th slice of them. Every entry also carries its own seed, with which the dataset's
random generator is restarted before the sample is loaded, so random crops and flips are the same whichever
worker loads the sample and whether or not the run was resumed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sized
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import Dataset, Sampler

from esrgan.errors import InputError, OptionsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes in the environment, if any.

    NCCL on CUDA (each process on ``cuda:LOCAL_RANK``), gloo on the CPU. Without WORLD_SIZE > 1 this is a
    single process and nothing is initialised.

    Args:
        device: the device the options ask for; on CUDA its index is replaced by LOCAL_RANK.

    Returns:
        (this process's DistInfo, the device it computes on).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(), device
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise OptionsError(f"distributed training supports cuda and cpu devices, not {device.type}")
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size, timeout=timedelta(minutes=30))
    log.info("process %d of %d (%s, %s)", rank, world_size, backend, device)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank), device


def shutdown(info: DistInfo) -> None:
    """Leave the process group (a no-op for a single process)."""
    if info.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch_dist.barrier()


def all_finite(values: dict[str, torch.Tensor], info: DistInfo) -> bool:
    """Whether every value is finite on every rank (one collective, so all ranks stop together)."""
    flag = torch.stack([torch.isfinite(v.detach().float()).all() for v in values.values()]).all().float()
    if info.enabled:
        torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MIN)
    return bool(flag.item())


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is True on any rank (one collective)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    if torch_dist.get_backend() == "nccl":
        t = t.cuda()
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())


def mean_across(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Average scalars over ranks (for logging); a copy of ``values`` for a single process."""
    if not info.enabled or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` in rank order (pickled through the process group)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    torch_dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(net: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts them at the start of each forward through the wrapper, but the last forwards of a step leave
    each rank with statistics of its own batch; this makes the ranks agree (with what rank 0 checkpoints).
    """
    if info.enabled:
        for buf in net.buffers():
            torch_dist.broadcast(buf, src=0)


def wrap(net: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``net`` when there are several processes; ``net`` itself otherwise."""
    if not info.enabled:
        return net
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids, output_device=ids[0] if ids else None)


def unwrap_ddp(net: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or ``net`` itself); torch.compile wrappers stay.

    Training keeps each network once and wraps it for DDP; this undoes only that. For saving any network, use
    :func:`esrgan.models.checkpoint.unwrap`, which also strips DataParallel and torch.compile.
    """
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


def _derived_seed(seed: int, stream: int, n: int) -> int:
    """A 32-bit seed for item ``n`` of ``stream`` (0: epoch permutations, 1: samples) of the run's ``seed``.

    SeedSequence mixes its entropy well, so neighbouring items get unrelated seeds."""
    return int(np.random.SeedSequence([seed, stream, n]).generate_state(1, dtype=np.uint32)[0])


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (dataset index, sample seed) for one rank, for iterations ``start_iter + 1 .. total_iter``.

    Args:
        dataset_size: number of samples; each epoch is a permutation of range(dataset_size) seeded by (seed, epoch).
        batch_size: samples per rank per iteration.
        total_iter: the last iteration (1-based) to serve.
        seed: the run's seed.
        rank, world_size: this process among all (each rank takes its slice of every global batch).
        start_iter: iterations already done (a resumed run skips exactly those batches).
    """

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        total_iter: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_iter: int = 0,
    ) -> None:
        if dataset_size <= 0:
            raise InputError("the training set is empty")
        self.n = dataset_size
        self.batch_size = batch_size
        self.total_iter = total_iter
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_iter = start_iter
        self._epoch = -1
        self._perm: list[int] = []

    def __len__(self) -> int:
        return max(0, self.total_iter - self.start_iter)

    def _index(self, position: int) -> int:
        epoch, offset = divmod(position, self.n)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(_derived_seed(self.seed, 0, epoch))
            self._perm = torch.randperm(self.n, generator=g).tolist()
            self._epoch = epoch
        return self._perm[offset]

    def batch(self, iteration: int) -> list[tuple[int, int]]:
        """The batch this rank loads for 1-based ``iteration``."""
        first = (iteration - 1) * self.batch_size * self.world_size + self.rank * self.batch_size
        return [(self._index(p), _derived_seed(self.seed, 1, p)) for p in range(first, first + self.batch_size)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for iteration in range(self.start_iter + 1, self.total_iter + 1):
            yield self.batch(iteration)


class SeededDataset(Dataset[Any]):
    """Wraps a dataset so that item ``(index, seed)`` is ``dataset[index]`` drawn after ``dataset.reseed(seed)``.

    The datasets of :mod:`esrgan.data` draw crops and flips from their own generator, which ``reseed`` restarts;
    reseeding per sample makes every sample a function of its stream position alone.
    """

    def __init__(self, dataset: Dataset[Any]) -> None:
        if not callable(getattr(dataset, "reseed", None)):
            raise TypeError(f"{type(dataset).__name__} has no reseed(seed) method; resumable sampling needs one")
        self.dataset = dataset

    def __len__(self) -> int:
        assert isinstance(self.dataset, Sized)
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        self.dataset.reseed(seed)  # type: ignore[attr-defined]  # checked in __init__
        return self.dataset[index]
