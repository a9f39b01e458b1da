"""Fixtures of the video tests: the shared clips (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.media import make_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Paths of the clips of :func:`tests.video.media.make_clips` (treat them as read-only)."""
    return make_clips(tmp_path_factory.mktemp("clips"))
