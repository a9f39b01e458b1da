"""The YAML reader of options files and --set values: hostile documents get one line, quickly, never a hang, a
RecursionError or gigabytes; duplicate keys are refused instead of the last one silently winning."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from esrgan.errors import NotFoundError, OptionsError
from esrgan.options import load_options, parse_override
from esrgan.safe_yaml import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml, read_yaml_file
from esrgan.train.options import TrainOptions

# Nine levels of ten aliases each: 10^9 leaves once expanded, 1 KB of text.
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

VALID_TRAIN = """\
name: run
stage: psnr
scale: 4
data:
  train: {hr: hr, patch_size: 32, batch_size: 2}
train: {total_iter: 10}
network_g:
  hparams: {num_block: 2, num_feat: 16}
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _refused(text: str, match: str) -> OptionsError:
    start, peak = time.perf_counter(), _peak_mb()
    with pytest.raises(OptionsError, match=match) as info:
        load_yaml(text, "o.yml")
    assert time.perf_counter() - start < 2.0
    assert _peak_mb() - peak < 100  # the high-water mark of this process did not move by more than 100 MB
    message = str(info.value)
    assert message.startswith("o.yml: ") and "\n" not in message and len(message) < 300
    return info.value


def test_billion_laughs_is_refused_at_the_budget() -> None:
    _refused(BILLION_LAUGHS, f"more than {MAX_NODES} YAML nodes once aliases are expanded")


def test_a_few_aliases_are_fine() -> None:
    data = load_yaml("base: &b {lr: 0.1}\ng: *b\nd: *b\nmerged:\n  <<: *b\n  beta: 2\n", "o.yml")
    assert data == {"base": {"lr": 0.1}, "g": {"lr": 0.1}, "d": {"lr": 0.1}, "merged": {"lr": 0.1, "beta": 2}}


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_deep_nesting_is_refused_without_recursion_error(opener: str) -> None:
    text = opener * 100_000 if opener != "- " else "".join(" " * i + "- " for i in range(200)) + "x"
    _refused(text, f"nested deeper than {MAX_DEPTH} levels")


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    error = _refused("name: a\nscale: 4\nname: b\n", r"line 3: key 'name' appears twice \(first on line 1\)")
    assert "remove one" in str(error)
    _refused("train:\n  lr: 1\n  lr: 2\n", "key 'lr' appears twice")
    _refused("{1: a, 1.0: b}", "appears twice")  # equal once read: 1 == 1.0


def test_recursive_alias_is_refused() -> None:
    _refused("a: &x [1, *x]\n", "alias \\*x is used inside its own anchor")


def test_huge_documents_are_refused_before_parsing(tmp_path: Path) -> None:
    _refused("a: " + "x" * (MAX_BYTES + 1), f"refused above {MAX_BYTES}")
    big = tmp_path / "big.yml"
    with open(big, "wb") as f:  # sparse: 2 GB claimed, nothing read
        f.truncate(2 << 30)
    with pytest.raises(OptionsError, match="options files are refused above"):
        read_yaml_file(big)


def test_scalars_python_refuses_are_one_line() -> None:
    _refused("a: " + "9" * 5000, "a YAML value cannot be read")  # int() refuses more than 4300 digits
    _refused("a: !!timestamp nope", "a YAML value cannot be read")
    _refused("a: 2024-13-45", "month must be in 1..12")
    _refused("a: !!python/object:os.system x", "not valid YAML")  # tags that build objects: never
    _refused("a: [1, 2", "line 1, column 9: not valid YAML")


def test_files_that_are_not_utf8_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(OptionsError, match="not UTF-8 text"):
        read_yaml_file(bad)
    with pytest.raises(NotFoundError, match="options file not found"):
        read_yaml_file(tmp_path / "nope.yml")


def test_options_files_and_overrides_use_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "train.yml"
    path.write_text(VALID_TRAIN + "name: other\n")  # duplicate: today the last one silently wins
    with pytest.raises(OptionsError, match="key 'name' appears twice"):
        load_options(TrainOptions, path)
    path.write_text(VALID_TRAIN)
    start = time.perf_counter()
    with pytest.raises(OptionsError, match=r"override name: .*more than 20000 YAML nodes"):
        load_options(TrainOptions, path, ["name=" + BILLION_LAUGHS.replace("\n", ", ").join("{}")])
    with pytest.raises(OptionsError, match="nested deeper"):
        parse_override("name=" + "[" * 100_000)
    assert time.perf_counter() - start < 3.0


def test_a_bomb_as_a_value_is_reported_shortened(tmp_path: Path) -> None:
    """A value that expands to 10,000 leaves (under the budget) and has the wrong type: quoted shortened."""
    ten = lambda ref: "[" + ", ".join([ref] * 10) + "]"  # noqa: E731
    value = f"[&a {ten('lol')}, &b {ten('*a')}, &c {ten('*b')}, &d {ten('*c')}]"
    path = tmp_path / "train.yml"
    path.write_text(VALID_TRAIN.replace("name: run", f"name: {value}"))
    with pytest.raises(OptionsError) as info:
        load_options(TrainOptions, path)
    assert "'name' must be a string, got [[" in str(info.value) and len(str(info.value)) < 200


# ----------------------------------------------------------------------------------------- property-based
def _valid_or_options_error(text: str) -> None:
    try:
        load_yaml(text, "fuzz.yml")
    except OptionsError as exc:
        assert "\n" not in str(exc)


@given(st.text(max_size=2000))
def test_property_any_text_is_data_or_one_options_error(text: str) -> None:
    _valid_or_options_error(text)


_YAML_PIECES = ["[", "]", "{", "}", ": ", "- ", "&a ", "*a", "&b ", "*b", "<<: ", "!!", ", ", "\n", "  ", "'",
                '"', "? ", "|", ">", "#", "---", "...", "%YAML 1.1", "!!binary ", "!!timestamp ", "1", "x", ".nan",
                "~"]  # fmt: skip


@given(st.lists(st.sampled_from(_YAML_PIECES), max_size=200))
def test_property_yaml_shaped_text_is_data_or_one_options_error(pieces: list[str]) -> None:
    _valid_or_options_error("".join(pieces))


@given(st.data())
def test_property_mutated_options_files(data: st.DataObject) -> None:
    """Seeded from a valid training file: delete, insert and replace characters, then read and validate it."""
    text = VALID_TRAIN
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(text)))
        insert = data.draw(st.sampled_from([*_YAML_PIECES, "-1", "100000000", "9" * 30, "1e999", "true"]))
        cut = data.draw(st.integers(0, 5))
        text = text[:at] + insert + text[at + cut :]
    try:
        from esrgan.options import from_dict

        loaded = load_yaml(text, "fuzz.yml")
        if isinstance(loaded, dict):
            from_dict(TrainOptions, loaded, source="fuzz.yml")
    except OptionsError as exc:
        assert "\n" not in str(exc)


def test_plain_safe_load_would_accept_what_we_refuse() -> None:
    """Why this reader exists: yaml.safe_load takes duplicate keys silently (the last wins)."""
    assert yaml.safe_load("name: a\nname: b\n") == {"name": "b"}
