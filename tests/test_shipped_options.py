"""The options files shipped inside the package: listed, found by name, and the README's paths still work."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan import shipped_options

REPO = Path(__file__).resolve().parents[1]


def test_every_yaml_file_is_listed_with_its_verb_and_summary() -> None:
    entries = {e.name: e for e in shipped_options.shipped()}
    assert {p.stem for p in shipped_options.FOLDER.glob("*.yml")} == set(entries)
    assert entries["train_ESRGAN_x4"].verb == "train" and entries["test_bicubic_x4"].verb == "test"
    assert entries["degrade_test_x4"].verb == "degrade"
    assert entries["test_bicubic_x4"].summary.startswith("The bicubic baseline of SR papers")
    assert all(e.summary and len(e.summary) <= 100 for e in entries.values())


def test_the_repository_folder_is_the_shipped_one() -> None:
    """One source of truth: the README's `options/` is a link to the package's folder."""
    assert (REPO / "options").resolve() == shipped_options.FOLDER


@pytest.mark.parametrize("spec", ["train_ESRGAN_x4", "train_ESRGAN_x4.yml", "options/train_ESRGAN_x4.yml"])
def test_names_and_the_readme_path_resolve_anywhere(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: as after `pip install esrgan`
    assert shipped_options.resolve(spec) == shipped_options.FOLDER / "train_ESRGAN_x4.yml"


def test_an_existing_file_wins_over_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train_ESRGAN_x4").write_text("name: mine\n")
    (tmp_path / "options").mkdir()
    (tmp_path / "options" / "train_ESRGAN_x4.yml").write_text("name: mine\n")
    assert shipped_options.resolve("train_ESRGAN_x4") == Path("train_ESRGAN_x4")
    assert shipped_options.resolve("options/train_ESRGAN_x4.yml") == Path("options/train_ESRGAN_x4.yml")


def test_unknown_names_and_other_folders_say_what_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"did you mean 'train_ESRGAN_x4'.*test_bicubic_x4"):
        shipped_options.resolve("train_ESRGAN_x8")
    # a path in some other folder is the user's file, not a shipped name
    with pytest.raises(FileNotFoundError, match=r"options file not found: mine/train_ESRGAN_x4\.yml"):
        shipped_options.resolve("mine/train_ESRGAN_x4.yml")
    with pytest.raises(FileNotFoundError, match=r"no shipped options file called 'nope'"):
        shipped_options.get("nope")
