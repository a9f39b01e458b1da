from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pytest

from esrgan.options import (
    OptionsError,
    Range,
    apply_overrides,
    arg_type,
    field_arg_type,
    flat,
    from_dict,
    load_options,
    to_dict,
)


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


# --- flat fields: a shared options class whose keys sit in the enclosing section --------------------------------


@dataclass(frozen=True)
class Engine:
    tile: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        if self.tile < 0:
            raise ValueError(f"tile must be >= 0, got {self.tile}")


@dataclass(frozen=True)
class Section:
    every: int = 10
    engine: Engine = flat(Engine(tile=256))  # this section's own default tile


@dataclass(frozen=True)
class WithSection:
    name: str
    val: Section | None = None
    engine: Engine = flat(Engine())


def test_flat_field_reads_its_keys_from_the_enclosing_section() -> None:
    o = from_dict(WithSection, {"name": "x", "tile": 64, "val": {"every": 5, "precision": "bf16"}})
    assert o.engine == Engine(tile=64)
    assert o.val == Section(every=5, engine=Engine(tile=256, precision="bf16"))  # unset keys keep the default
    assert from_dict(WithSection, {"name": "x", "val": {}}).val == Section()
    # Written back flat, and read back the same.
    assert to_dict(o) == {"name": "x", "tile": 64, "precision": "fp32",
                          "val": {"every": 5, "tile": 256, "precision": "bf16"}}  # fmt: skip
    assert from_dict(WithSection, to_dict(o)) == o


def test_flat_field_errors_name_the_key_and_section(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match=r"unknown key 'val\.tiles'; did you mean 'tile'\?"):
        from_dict(WithSection, {"name": "x", "val": {"tiles": 1}})
    with pytest.raises(OptionsError, match=r"'val\.precision' must be one of 'fp32', 'bf16', got 'fp16'"):
        from_dict(WithSection, {"name": "x", "val": {"precision": "fp16"}})
    with pytest.raises(OptionsError, match=r"<options>: 'val': tile must be >= 0, got -1"):
        from_dict(WithSection, {"name": "x", "val": {"tile": -1}})
    # The field's own name is not a key: the section stays flat.
    with pytest.raises(OptionsError, match=r"unknown key 'engine'"):
        from_dict(WithSection, {"name": "x", "engine": {"tile": 1}})
    p = tmp_path / "o.yml"
    p.write_text("name: x\nval: {every: 1}\n")
    assert load_options(WithSection, p, ["val.tile=8"]).val == Section(every=1, engine=Engine(tile=8))


def test_flat_keys_must_not_collide() -> None:
    @dataclass(frozen=True)
    class Clash:
        tile: int = 1
        engine: Engine = flat(Engine())

    with pytest.raises(TypeError, match="declared twice"):
        from_dict(Clash, {})
    with pytest.raises(TypeError, match="dataclass instance"):
        flat(Engine)


# ------------------------------------------------------------------------------ declared numeric ranges
@dataclass(frozen=True)
class Ranged:
    count: Annotated[int, Range(1, 100)] = 1
    rate: Annotated[float, Range(0, 1, lo_open=True)] = 0.5
    tile: Annotated[int, Range(16, 4096, also=(0,))] | Literal["auto"] = "auto"
    sizes: list[Annotated[int, Range(1, 8)]] = field(default_factory=list)
    ratio: float = 1.0  # no declared range: any finite number


def test_range_describes_and_checks() -> None:
    assert [Range(1, 100).describe(), Range(0).describe(), Range(0, 1, lo_open=True).describe()] == [
        "1..100",
        ">= 0",
        "> 0 and <= 1",
    ]
    assert Range(16, 4096, also=(0,)).describe() == "0 or 16..4096"
    assert Range(1, 100).contains(1) and Range(1, 100).contains(100) and not Range(1, 100).contains(101)
    assert not Range(0, 1, lo_open=True).contains(0) and not Range().contains(float("nan"))


def test_range_errors_name_file_key_range_and_value(tmp_path: Path) -> None:
    p = tmp_path / "o.yml"
    p.write_text("count: 1000\n")
    with pytest.raises(OptionsError, match=r"o\.yml: 'count' must be 1\.\.100, got 1000$"):
        load_options(Ranged, p)
    with pytest.raises(OptionsError, match=r"'rate' must be > 0 and <= 1, got 0"):
        from_dict(Ranged, {"rate": 0})
    with pytest.raises(OptionsError, match=r"'sizes\[1\]' must be 1\.\.8, got 9"):
        from_dict(Ranged, {"sizes": [2, 9]})
    # The right type out of range says so (not "must be int or Literal"); the other member still works.
    with pytest.raises(OptionsError, match=r"'tile' must be 0 or 16\.\.4096, got 8"):
        from_dict(Ranged, {"tile": 8})
    assert from_dict(Ranged, {"tile": 0, "count": 100, "rate": "1e-3"}).tile == 0


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
def test_non_finite_numbers_are_refused_everywhere(tmp_path: Path, value: str) -> None:
    p = tmp_path / "o.yml"
    p.write_text(f"ratio: {value}\n")
    with pytest.raises(OptionsError, match="'ratio' must be a finite number"):
        load_options(Ranged, p)


def test_flag_types_come_from_the_same_declarations() -> None:
    count = field_arg_type(Ranged, "count")
    assert count("7") == 7
    for bad in ("0", "101", "seven", "1e3"):
        with pytest.raises(argparse.ArgumentTypeError):
            count(bad)
    rate = arg_type(float, Range(0, 1, lo_open=True))
    assert rate("0.25") == 0.25
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0 and <= 1, got 'nan'"):
        rate("nan")
    with pytest.raises(TypeError, match="declares no Range"):
        field_arg_type(Ranged, "ratio")
