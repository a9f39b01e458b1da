from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from esrgan.options import OptionsError, apply_overrides, from_dict, load_options, to_dict


@dataclass(frozen=True)
class Optim:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    milestones: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Opts:
    name: str
    scale: int = 4
    kind: Literal["psnr", "gan"] = "psnr"
    weights: Path | None = None
    optim: Optim = field(default_factory=Optim)

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 4, 8):
            raise ValueError(f"scale must be 1, 2, 4 or 8, got {self.scale}")


def test_valid_nested_and_types() -> None:
    o = from_dict(Opts, {"name": "x", "optim": {"lr": "1e-4", "betas": [0.5, 0.9], "milestones": [1, 2]}})
    assert o.optim.lr == pytest.approx(1e-4)
    assert o.optim.betas == (0.5, 0.9)
    assert o.optim.milestones == [1, 2]
    assert to_dict(o)["optim"]["betas"] == [0.5, 0.9]


def test_unknown_key_names_closest(tmp_path: Path) -> None:
    p = tmp_path / "o.yml"
    p.write_text("name: x\noptim:\n  lrr: 0.1\n")
    with pytest.raises(OptionsError, match=r"o\.yml: unknown key 'optim\.lrr'; did you mean 'lr'\?"):
        load_options(Opts, p)


def test_missing_required_and_wrong_type() -> None:
    with pytest.raises(OptionsError, match="missing required key 'name'"):
        from_dict(Opts, {})
    with pytest.raises(OptionsError, match="'scale' must be an integer"):
        from_dict(Opts, {"name": "x", "scale": "four"})
    with pytest.raises(OptionsError, match="'kind' must be one of"):
        from_dict(Opts, {"name": "x", "kind": "gann"})
    with pytest.raises(OptionsError, match="scale must be 1, 2, 4 or 8"):
        from_dict(Opts, {"name": "x", "scale": 3})


def test_overrides_are_yaml_data_not_code(tmp_path: Path) -> None:
    p = tmp_path / "o.yml"
    p.write_text("name: x\n")
    o = load_options(Opts, p, ["optim.milestones=[10, 20]", "scale=8", "name=__import__('os')"])
    assert o.optim.milestones == [10, 20]
    assert o.scale == 8
    assert o.name == "__import__('os')"  # stays a string: nothing is evaluated
    with pytest.raises(OptionsError, match=r"unknown key 'optim\.betaz'; did you mean 'betas'"):
        load_options(Opts, p, ["optim.betaz=[0.1, 0.2]"])


def test_apply_overrides_does_not_mutate() -> None:
    data = {"a": {"b": 1}}
    out = apply_overrides(data, ["a.b=2", "c.d=true"])
    assert data == {"a": {"b": 1}}
    assert out == {"a": {"b": 2}, "c": {"d": True}}


@dataclass(frozen=True)
class WithOptional:
    optim: Optim | None = None


def test_unknown_key_inside_optional_section_keeps_its_message() -> None:
    with pytest.raises(OptionsError, match=r"unknown key 'optim\.lrr'; did you mean 'lr'\?"):
        from_dict(WithOptional, {"optim": {"lrr": 1.0}})
    assert from_dict(WithOptional, {"optim": None}).optim is None
