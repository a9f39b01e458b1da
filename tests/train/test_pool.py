"""The training pair pool: Real-ESRGAN's fill-then-swap rule, keys that follow the pixels, exact restore."""

from __future__ import annotations

import itertools

import pytest
import torch

from esrgan.train.pool import Key, PairPool

B = 2


def _keys(iteration: int) -> list[Key]:
    return [(iteration, b) for b in range(B)]


def _batch(iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch whose pixels name its keys: lr = iteration, hr = 10 * iteration + sample."""
    lr = torch.full((B, 3, 2, 2), float(iteration))
    hr = torch.stack([torch.full((3, 8, 8), 10.0 * iteration + b) for b in range(B)])
    return lr, hr


def _key_of(lr: torch.Tensor, hr: torch.Tensor) -> Key:
    it = int(lr[0, 0, 0].item())
    return it, int(hr[0, 0, 0].item()) - 10 * it


def test_fills_then_swaps_and_the_keys_follow_the_pixels() -> None:
    pool = PairPool(6, seed=0, rank=0, keys_of=_keys)
    for it in (1, 2, 3):  # filling: each batch is trained on as loaded
        lr, hr = _batch(it)
        out_lr, out_hr = pool.swap(it, lr, hr)
        assert torch.equal(out_lr, lr) and torch.equal(out_hr, hr)
    assert pool.keys == [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    served: list[Key] = []
    for it in range(4, 30):
        out_lr, out_hr = pool.swap(it, *_batch(it))
        served += [_key_of(out_lr[i], out_hr[i]) for i in range(B)]
        assert pool.lr is not None and pool.hr is not None
        assert [_key_of(pool.lr[i], pool.hr[i]) for i in range(6)] == pool.keys  # slots and keys agree
        assert set(_keys(it)) <= set(pool.keys)
    assert len(set(served)) == len(served)  # every sample is served at most once
    assert sorted(served + pool.keys) == sorted(k for it in range(1, 30) for k in _keys(it))  # none is lost
    assert any(a[0] < b[0] - 1 for a, b in itertools.pairwise(served))  # batches mix iterations


def test_shuffles_are_a_function_of_seed_iteration_and_rank() -> None:
    def run(seed: int, rank: int) -> list[Key]:
        pool = PairPool(4, seed, rank, _keys)
        for it in range(1, 12):
            pool.swap(it, *_batch(it))
        return pool.keys

    assert run(0, 0) == run(0, 0)
    assert run(0, 0) != run(1, 0) and run(0, 0) != run(0, 1)


def test_state_and_restore_give_the_same_future() -> None:
    straight = PairPool(6, 3, 0, _keys)
    for it in range(1, 8):
        straight.swap(it, *_batch(it))
    state = straight.state()
    assert state["size"] == 6 and state["keys"].dtype == torch.int64 and state["keys"].shape == (6, 2)

    def load(keys: list[Key]) -> tuple[torch.Tensor, torch.Tensor]:
        lr = torch.stack([torch.full((3, 2, 2), float(i)) for i, _ in keys])
        hr = torch.stack([torch.full((3, 8, 8), 10.0 * i + s) for i, s in keys])
        return lr, hr

    resumed = PairPool(6, 3, 0, _keys)
    resumed.restore(state, load)
    for it in range(8, 15):
        a, b = straight.swap(it, *_batch(it)), resumed.swap(it, *_batch(it))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # A half-full pool restores half-full; a pool of another size is refused.
    partial = PairPool(6, 3, 0, _keys)
    partial.swap(1, *_batch(1))
    refilled = PairPool(6, 3, 0, _keys)
    refilled.restore(partial.state(), load)
    assert refilled.keys == [(1, 0), (1, 1)]
    out = refilled.swap(2, *_batch(2))
    assert torch.equal(out[0], _batch(2)[0])  # still filling
    with pytest.raises(ValueError, match="holds 6 pairs but queue_size is 4"):
        PairPool(4, 3, 0, _keys).restore(state, load)


def test_checks_and_memory_format() -> None:
    with pytest.raises(ValueError, match="multiple of the batch size 2"):
        PairPool(5, 0, 0, _keys).swap(1, *_batch(1))
    with pytest.raises(ValueError, match="3 sample keys for a batch of 2"):
        PairPool(4, 0, 0, lambda it: [(0, 0)] * 3).swap(1, *_batch(1))
    pool = PairPool(2, 0, 0, _keys)
    lr, hr = (t.contiguous(memory_format=torch.channels_last) for t in _batch(1))
    pool.swap(1, lr, hr)
    lr, hr = (t.contiguous(memory_format=torch.channels_last) for t in _batch(2))
    out_lr, out_hr = pool.swap(2, lr, hr)
    assert out_lr.is_contiguous(memory_format=torch.channels_last)
    assert out_hr.is_contiguous(memory_format=torch.channels_last)
