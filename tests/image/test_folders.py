"""Folders of images: listing, keying by stem, pairing LR with HR by stem."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.image import images_by_stem, list_images, pair_by_stem


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_list_images_sorted_by_extension_not_recursive(tmp_path: Path) -> None:
    _touch(tmp_path, "b.PNG", "a.jpg", "notes.txt", "c.tiff")
    _touch(tmp_path / "sub", "d.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.tiff"]
    with pytest.raises(FileNotFoundError, match="input folder not found"):
        list_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images in"):
        list_images(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_images_by_stem_refuses_shared_stems(tmp_path: Path) -> None:
    _touch(tmp_path, "b.png", "a.jpg", "notes.txt")
    assert images_by_stem(tmp_path) == {"a": tmp_path / "a.jpg", "b": tmp_path / "b.png"}
    assert images_by_stem(_empty(tmp_path)) == {}
    _touch(tmp_path, "a.png")
    with pytest.raises(ValueError, match=r"two images share the stem 'a' \(a\.jpg, a\.png\)"):
        images_by_stem(tmp_path)


def test_pair_by_stem_takes_the_stem_or_the_div2k_suffix() -> None:
    assert pair_by_stem(["0801", "0802"], ["0801x4", "0802"], 4) == ["0801x4", "0802"]
    with pytest.raises(ValueError, match="no LR image for HR 'b' in LRdir"):
        pair_by_stem(["a", "b"], ["a"], 2, "LRdir")
