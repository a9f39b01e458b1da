"""Fixtures of the backend tests: a private compiled-model cache and tiny random networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from torch import nn

from esrgan.archs import RRDBNet, SRVGGNetCompact

# Small random networks of every exported layout: SRVGG (pixel shuffle + nearest residual), RRDBNet x4 (nearest
# upsampling convs), and RRDBNet x2 / x1 (pixel-unshuffle by 2 / 4 in front of the trunk).
TINY_NETS: dict[str, Callable[[], nn.Module]] = {
    "srvgg_x4": lambda: SRVGGNetCompact(num_feat=8, num_conv=2),
    "rrdb_x4": lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4),
    "rrdb_x2_unshuffle": lambda: RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4),
    "rrdb_x1_unshuffle": lambda: RRDBNet(scale=1, num_feat=8, num_block=1, num_grow_ch=4),
}


@pytest.fixture
def tiny_nets() -> dict[str, Callable[[], nn.Module]]:
    """Factories of the tiny networks by name (fresh random weights each call)."""
    return TINY_NETS


@pytest.fixture(params=sorted(TINY_NETS))
def any_tiny_net(request: pytest.FixtureRequest) -> nn.Module:
    """Each tiny network in turn (a parametrised fixture: tests using it run once per layout)."""
    return TINY_NETS[request.param]()


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ESRGAN_CACHE_DIR: nothing is read from or written to ~/.cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ESRGAN_CACHE_DIR", str(root))
    return root / "compiled"
