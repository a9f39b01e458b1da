from __future__ import annotations

import datetime
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from esrgan.train.state import (
    capture_rng,
    latest_state,
    list_states,
    load_state,
    make_state,
    prune_states,
    restore_rng,
    save_state,
    state_path,
)


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    rng = capture_rng()
    expected = _draws()
    path = tmp_path / "rng.pth"
    torch.save(rng, path)
    restore_rng(torch.load(path, weights_only=True))
    assert _draws() == expected


def test_states_save_atomically_load_safely_and_prune(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    for it in (5, 10, 15):
        state = make_state(
            meta={"arch": "RRDBNet", "hparams": {"num_feat": 8}, "version": "0"},
            params_ema={"w": torch.full((2,), float(it))},
            params={"w": torch.zeros(2)},
            net_d=None,
            net_d_meta=None,
            optimizers={"g": {"state": {}, "param_groups": []}, "d": None},
            scaler=None,
            iteration=it,
            rng=[capture_rng()],
            options={"name": "x"},
        )
        save_state(state_path(folder, it), state)
    assert [i for i, _ in list_states(folder)] == [5, 10, 15]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    assert latest_state(folder) == folder / "state_00000015.pth"
    loaded = load_state(folder / "state_00000015.pth")
    assert loaded["esrgan"]["kind"] == "training_state" and loaded["esrgan"]["iteration"] == 15
    assert torch.equal(loaded["params_ema"]["w"], torch.full((2,), 15.0))
    prune_states(folder, keep=2)
    assert [i for i, _ in list_states(folder)] == [10, 15]
    prune_states(folder, keep=0)
    assert len(list_states(folder)) == 2


def test_load_state_refuses_other_files(tmp_path: Path) -> None:
    torch.save({"params_ema": {}}, tmp_path / "model.pth")
    with pytest.raises(ValueError, match=r"model\.pth: not an esrgan training state \(missing esrgan"):
        load_state(tmp_path / "model.pth")
    with pytest.raises(FileNotFoundError, match="training state not found"):
        load_state(tmp_path / "none.pth")

    torch.save({"x": datetime.date(2020, 1, 1)}, tmp_path / "pickle.pth")  # an object, not weights-only data
    with pytest.raises(ValueError, match="cannot load as a training state"):  # weights_only refuses objects
        load_state(tmp_path / "pickle.pth")
