"""The registry's promise: every spec answers every question callers ask of an architecture, sensibly, for a
network it builds itself; and no module outside esrgan/archs compares architecture names."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import esrgan
from esrgan.archs import REGISTRY, ArchSpec, SRNetwork, find, get, names
from esrgan.backends import BACKENDS
from esrgan.models import load_model, save_model
from esrgan.models.ncnn import read_ncnn, write_ncnn

SPECS = pytest.mark.parametrize("spec", REGISTRY, ids=[spec.name for spec in REGISTRY])


def tiny(spec: ArchSpec) -> nn.Module:
    torch.manual_seed(0)
    return spec.build(spec.tiny_hparams, f"{spec.name}.tiny_hparams").eval()


def test_names_are_unique_and_found() -> None:
    assert len(set(names())) == len(REGISTRY) >= 2
    for spec in REGISTRY:
        assert find(spec.name) is spec and get(spec.name) is spec
    assert get("EDSR") is None
    with pytest.raises(ValueError, match=r"unknown architecture 'rrdbnet': use one of .*; did you mean 'RRDBNet'\?"):
        find("rrdbnet")


@SPECS
def test_the_network_carries_the_contract(spec: ArchSpec) -> None:
    net = tiny(spec)
    assert isinstance(net, SRNetwork) and isinstance(net, spec.net)
    assert net.arch_name == spec.name
    assert net.hparams() == dict(spec.tiny_hparams)
    assert spec.net(**net.hparams()).hparams() == net.hparams()  # type: ignore[operator]
    assert spec.scale_arg in inspect.signature(spec.net).parameters
    assert net.scale == spec.scale_of(net.hparams()) >= 1
    assert net.size_multiple >= 1 and net.min_size >= 1 and net.min_size % net.size_multiple == 0
    assert isinstance(net.supports_fp16, bool) and isinstance(net.supports_bf16, bool)
    for side in (net.min_size, 3 * net.size_multiple):
        with torch.no_grad():
            y = net(torch.rand(2, net.num_in_ch, side, side))
        assert y.shape == (2, net.num_out_ch, side * net.scale, side * net.scale)


@SPECS
def test_every_size_is_bounded(spec: ArchSpec) -> None:
    hparams = tiny(spec).hparams()  # type: ignore[operator]
    spec.validate_hparams(hparams, "<t>")
    sizes = [k for k, v in hparams.items() if isinstance(v, int) and not isinstance(v, bool)]
    assert sizes
    for key in sizes:
        for bad in (-1, 10**9, float(hparams[key]), str(hparams[key])):
            with pytest.raises(ValueError, match=f"^<t>: {key} "):
                spec.validate_hparams({**hparams, key: bad}, "<t>")
            with pytest.raises(ValueError, match=key):
                spec.build({**hparams, key: bad}, "<t>")


@SPECS
def test_it_detects_its_own_state_dict_and_nobody_else_does(spec: ArchSpec) -> None:
    net = tiny(spec)
    sd = net.state_dict()
    layout = spec.detect(frozenset(sd))
    assert layout is not None
    assert [other.name for other in REGISTRY if other.detect(frozenset(sd)) is not None] == [spec.name]
    canonical = spec.to_canonical(dict(sd), layout, "<t>")
    assert set(canonical) == set(sd)
    assert spec.hparams_from(canonical, "<t>") == net.hparams()  # type: ignore[operator]
    assert spec.shape_notes(net.hparams()) == []  # type: ignore[operator]


@SPECS
def test_save_load_round_trip(spec: ArchSpec, tmp_path: Path) -> None:
    net = tiny(spec)
    for name in ("m.pth", "m.safetensors"):
        save_model(net, tmp_path / name)
        loaded, info = load_model(tmp_path / name)
        assert (info.arch, info.hparams, info.scale) == (spec.name, net.hparams(), net.scale)  # type: ignore[operator]
        assert (info.in_channels, info.out_channels) == (net.num_in_ch, net.num_out_ch)
        assert info.summary().startswith(f"{name}: {spec.name} x{net.scale} ({spec.describe(info.hparams)})")
        x = torch.rand(1, net.num_in_ch, 4 * net.size_multiple, 4 * net.size_multiple)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), net(x))


@SPECS
def test_the_other_answers(spec: ArchSpec, tmp_path: Path) -> None:
    net = tiny(spec)
    hparams = net.hparams()  # type: ignore[operator]
    long, short = spec.describe(hparams), spec.describe(hparams, short=True)
    assert long and short and "\n" not in long and len(short) <= len(long)
    assert spec.feature_layer(net) in dict(net.named_modules())
    assert spec.cpu_backend is None or spec.cpu_backend in BACKENDS
    assert spec.supported_text and spec.name in spec.supported_text.replace("ESRGAN/", "")
    if spec.ncnn is not None:
        param, _ = write_ncnn(net, tmp_path / "m.param", fp16=False)
        model = read_ncnn(param)  # verify=True: the graph is run against the mapped network
        assert (model.arch, model.hparams) == (spec.name, hparams)


# ------------------------------------------------------------------------------ no architecture names outside


PACKAGE = Path(esrgan.__file__).parent
OUTSIDE = sorted(p for p in PACKAGE.rglob("*.py") if PACKAGE / "archs" not in p.parents)


def name_comparisons(source: str) -> list[str]:
    """Lines of ``source`` that compare something with an architecture name: ``arch == "..."``-style lines, and
    any comparison, membership test, dict key, match case or ``Literal[...]`` holding a registered name."""
    found = [line for line in source.splitlines() if re.search(r'arch.*== *"', line)]
    arch_names = set(names())

    def holds_name(node: ast.AST | None) -> bool:
        return any(isinstance(n, ast.Constant) and n.value in arch_names for n in ast.walk(node)) if node else False

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            suspects: list[ast.AST | None] = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            suspects = list(node.keys)
        elif isinstance(node, ast.match_case):
            suspects = [node.pattern]
        elif isinstance(node, ast.Subscript):
            suspects = [node.slice]
        else:
            continue
        if any(holds_name(s) for s in suspects):
            found.append(ast.get_source_segment(source, node) or ast.dump(node))
    return found


def test_the_checker_finds_name_branches() -> None:
    sample = """
if arch == "RRDBNet":
    pass
key = {"SRVGGNetCompact": "upscale"}[a]
ok = a in ("RRDBNet", "X")
kind: Literal["RRDBNet", "SRVGGNetCompact"] = "RRDBNet"
match a:
    case "SRVGGNetCompact":
        pass
"""
    assert len(name_comparisons(sample)) == 6  # the regex line, and the five AST hits
    harmless = (
        '"""Loads RRDBNet files."""\narch: str = "RRDBNet"\nraise ValueError("only RRDBNet and SRVGGNetCompact")\n'
    )
    assert name_comparisons(harmless) == []


@pytest.mark.parametrize("path", OUTSIDE, ids=[str(p.relative_to(PACKAGE)) for p in OUTSIDE])
def test_no_module_outside_archs_compares_architecture_names(path: Path) -> None:
    assert name_comparisons(path.read_text(encoding="utf-8")) == []
