"""The training pair pool (Real-ESRGAN's queue): batches drawn from a shuffled pool of recent samples.

Real-ESRGAN degrades a whole batch with one draw of the resize, noise type and order on the GPU, so it mixes
batches through a pool of ``queue_size`` pairs: while the pool fills, each batch is stored and trained on as it
is; once full, every iteration shuffles the pool, takes its first ``batch_size`` pairs as the batch and puts
the new batch in their place. (Here every sample draws its own degradation already; the pool still decorrelates
batches, and keeps Real-ESRGAN's training recipe.)

Exact resume: the shuffle of iteration ``i`` is a permutation seeded by (seed, i, rank), and every sample is a
pure function of its (dataset index, sample seed) key (:class:`esrgan.train.distributed.SeededDataset`), so the
pool is fully described by the keys in its slots. A checkpoint stores those keys (a few hundred integers, not
the pixels: 150 MB for Real-ESRGAN's 180 pairs of 256-pixel patches); on resume the samples are made again from
them, which gives the same tensors bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

Key = tuple[int, int]  # (dataset index, sample seed)

__all__ = ["Key", "PairPool"]


class PairPool:
    """A pool of ``size`` (LR, HR) training pairs on the training device.

    Args:
        size: pairs in the pool (a multiple of the batch size).
        seed: the run's seed; with ``rank``, it seeds the shuffles.
        rank: this process's rank (each process has its own pool, as in Real-ESRGAN).
        keys_of: the (index, seed) keys of the samples in the batch of an iteration
            (:meth:`esrgan.train.distributed.ResumableBatchSampler.batch`).
    """

    def __init__(self, size: int, seed: int, rank: int, keys_of: Callable[[int], Sequence[Key]]) -> None:
        if size <= 0:
            raise ValueError(f"the pool size must be positive, got {size}")
        self.size = size
        self.seed = seed
        self.rank = rank
        self.keys_of = keys_of
        self.keys: list[Key] = []  # the samples in the slots, in slot order
        self.lr: torch.Tensor | None = None
        self.hr: torch.Tensor | None = None

    def _permutation(self, iteration: int) -> np.ndarray:
        seq = np.random.SeedSequence([self.seed, 2, iteration, self.rank])  # stream 2: pool shuffles
        return np.random.default_rng(seq).permutation(self.size)

    def swap(self, iteration: int, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch to train on at ``iteration`` given the loaded batch ``lr`` (B, C, h, w), ``hr`` (B, C, H, W).

        Filling: the loaded batch is stored and returned. Full: the pool is shuffled, its first B pairs are
        returned (in the loaded batch's memory format) and the loaded batch takes their slots.
        """
        keys = list(self.keys_of(iteration))
        b = lr.shape[0]
        if len(keys) != b:
            raise ValueError(f"iteration {iteration}: {len(keys)} sample keys for a batch of {b}")
        if self.lr is None or self.hr is None:
            if self.size % b:
                raise ValueError(f"the pool size {self.size} must be a multiple of the batch size {b}")
            self.lr = lr.new_zeros((self.size, *lr.shape[1:]))
            self.hr = hr.new_zeros((self.size, *hr.shape[1:]))
        if len(self.keys) < self.size:
            n = len(self.keys)
            self.lr[n : n + b] = lr
            self.hr[n : n + b] = hr
            self.keys += keys
            return lr, hr
        perm = self._permutation(iteration)
        index = torch.from_numpy(perm).to(self.lr.device)
        self.lr, self.hr = self.lr[index], self.hr[index]
        self.keys = [self.keys[i] for i in perm]
        out_lr, out_hr = _like(self.lr[:b], lr), _like(self.hr[:b], hr)
        self.lr[:b], self.hr[:b] = lr, hr
        self.keys[:b] = keys
        return out_lr, out_hr

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: ``{"size", "keys": (n, 2) int64 tensor}`` (weights_only-safe)."""
        return {"size": self.size, "keys": torch.tensor(self.keys, dtype=torch.int64).reshape(-1, 2)}

    def restore(self, state: dict[str, Any], load: Callable[[list[Key]], tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Refill the pool from a :meth:`state`, making its samples again with ``load(keys) -> (lr, hr)`` (on the
        training device).

        Raises:
            ValueError: the state is of a pool of another size.
        """
        if int(state["size"]) != self.size:
            raise ValueError(f"the checkpoint's pool holds {state['size']} pairs but queue_size is {self.size}")
        keys = [(int(i), int(s)) for i, s in state["keys"].tolist()]
        self.keys, self.lr, self.hr = [], None, None
        if not keys:
            return
        lr, hr = load(keys)
        self.lr = lr.new_zeros((self.size, *lr.shape[1:]))
        self.hr = hr.new_zeros((self.size, *hr.shape[1:]))
        self.lr[: len(keys)], self.hr[: len(keys)] = lr, hr
        self.keys = keys
        log.info("training pair pool: %d of %d pairs made again from their keys", len(keys), self.size)


def _like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` in ``ref``'s memory format (channels_last batches stay channels_last)."""
    fmt = torch.channels_last if ref.dim() == 4 and ref.is_contiguous(memory_format=torch.channels_last) else None
    return t.clone(memory_format=fmt or torch.contiguous_format)
