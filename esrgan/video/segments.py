"""Resumable output: the parts folder, its manifest, the one resume identity, and atomic segment commits.

A job writes its video into ``OUTPUT.parts/`` as numbered segments. ``manifest.json`` records what is being made
from what (the input file's identity and :func:`resume_identity`) and every segment already on disk. A resumed
run continues after the last committed segment only when both match exactly; anything else is refused with the
difference named, because a resumed run must never mix outputs made differently.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from esrgan.errors import OptionsError
from esrgan.fileio import write_text_atomic
from esrgan.video.probe import VideoError
from esrgan.video.settings import EncodeSettings, VideoSettings

__all__ = ["MANIFEST", "MANIFEST_VERSION", "Manifest", "Segment", "parts_folder", "resume_identity"]

log = logging.getLogger(__name__)

# 2: the identity holds the engine's resolved settings (backend, compile, precision as used) and `channels`.
MANIFEST_VERSION = 2
MANIFEST = "manifest.json"


@dataclass
class Segment:
    """One finished piece of the output video: ``frames`` frames, input pts ``first_pts`` up to ``end_pts``
    (exclusive: last pts + its display duration), stored in ``file`` inside the parts folder."""

    file: str
    frames: int
    first_pts: int
    end_pts: int


@dataclass
class Manifest:
    """The parts folder's ``manifest.json``: what is being made from what, and the segments already done."""

    input: dict[str, Any]
    settings: dict[str, Any]
    pts_offset: int | None = None
    segments: list[Segment] = field(default_factory=list)
    version: int = MANIFEST_VERSION

    @staticmethod
    def load(path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            return Manifest(
                input=dict(data["input"]),
                settings=dict(data["settings"]),
                pts_offset=data.get("pts_offset"),
                segments=[Segment(**s) for s in data["segments"]],
                version=int(data["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VideoError(
                f"{path}: unreadable resume manifest ({exc}); run with resume=False to start over"
            ) from exc

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(asdict(self), indent=1))

    @property
    def frames_done(self) -> int:
        return sum(s.frames for s in self.segments)


def parts_folder(dst: str | os.PathLike[str]) -> Path:
    """Work folder of an output: ``OUTPUT.parts`` beside it."""
    dst = Path(dst)
    return dst.with_name(dst.name + ".parts")


def resume_identity(settings: VideoSettings, engine: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that defines a job's output frames, as compared on resume (JSON values, flat).

    This is the only place that builds it. It holds every field of ``settings`` except those marked
    ``identity=False`` (batch size, the resume flag), the encoder settings flattened in (``codec``, ``crf``,
    ``preset``, ``pix_fmt``: pass them resolved, see :func:`esrgan.video.resolve_encode_settings`), and
    ``engine``: the caller's description of the ``upscale`` callable, ideally what it really runs with (model
    hash, precision and backend as resolved, compile, tile, tile_pad, ensemble; see
    :meth:`esrgan.inference.Upscaler.resolved_settings`).

    Raises:
        ValueError: an ``engine`` key is also a video setting.
    """
    identity: dict[str, Any] = {}
    for f in fields(settings):
        if not f.metadata.get("identity", True):
            continue
        value = getattr(settings, f.name)
        if isinstance(value, EncodeSettings):
            identity.update(asdict(value))
        else:
            identity[f.name] = value
    clash = sorted(set(identity) & set(engine))
    if clash:
        raise OptionsError(f"engine describes {', '.join(clash)}, which are video settings; rename those keys")
    return _normalised({**identity, **engine})


def open_parts(parts: Path, src: Path, identity: Mapping[str, Any], resume: bool) -> Manifest:
    """The manifest to continue: the one in ``parts`` when ``resume`` is set and it matches ``src`` and
    ``identity`` exactly, else a fresh one in a new, empty ``parts`` folder (an earlier run's folder is replaced;
    a folder that is not ours is never deleted).

    Raises:
        VideoError: with ``resume``, the manifest is unreadable, from another version, made from another input
            or with other settings, or a segment is missing. Nothing is deleted then.
    """
    path = parts / MANIFEST
    identity = _normalised(identity)
    fresh = Manifest(input=_input_identity(src), settings=identity)
    if resume and path.exists():
        old = Manifest.load(path)
        _check_resumable(old, fresh, parts, src)
        _remove_stray_files(parts, old)
        return old
    if parts.exists() and not path.exists() and any(parts.iterdir()):
        # Not ours (no manifest): never delete a folder we did not make.
        raise VideoError(f"{parts} exists and is not an esrgan work folder; move it away or choose another output")
    if resume:
        log.info("nothing to resume at %s; starting from the first frame", parts)
    elif path.exists():
        try:
            done = f"{Manifest.load(path).frames_done} frames"
        except VideoError:
            done = "the work"
        log.warning("discarding %s of an earlier unfinished run in %s (resume would have continued it)", done, parts)
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir()
    fresh.save(path)
    return fresh


def commit_segment(parts: Path, manifest: Manifest, written: Path, segment: Segment) -> Segment:
    """Make a finished segment file part of the output: rename ``written`` (complete and closed) to its final
    name, then record it in the manifest, which is itself replaced atomically. A crash at any point leaves
    either the old manifest (the file is then a stray, removed on resume) or the new one with the file in place.

    Returns:
        ``segment`` with its final file name.
    """
    final = parts / f"{segment.file}{written.suffix}"
    os.replace(written, final)
    done = Segment(final.name, segment.frames, segment.first_pts, segment.end_pts)
    manifest.segments.append(done)
    manifest.save(parts / MANIFEST)
    log.debug("segment %s done (%d frames)", final.name, segment.frames)
    return done


def keep_or_drop_parts(parts: Path, manifest: Manifest) -> None:
    """After a failed or interrupted run: keep ``parts`` when it holds finished segments, else remove it."""
    if manifest.segments:
        log.warning(
            "stopped with %d frames done; they are kept in %s: run the same job again with resume to continue",
            manifest.frames_done,
            parts,
        )
    else:
        shutil.rmtree(parts, ignore_errors=True)


def _check_resumable(old: Manifest, fresh: Manifest, parts: Path, src: Path) -> None:
    path = parts / MANIFEST
    if old.version != MANIFEST_VERSION:
        raise VideoError(f"{path}: made by another version of esrgan; run with resume=False to start over")
    if old.input != fresh.input:
        raise VideoError(
            f"{src} changed since {parts} was started (size or modification time differ); "
            "run with resume=False to start over"
        )
    if old.settings != fresh.settings:
        raise VideoError(
            f"{parts} was made with different settings ({_settings_diff(old.settings, fresh.settings)}); "
            "resume with the same settings, or run with resume=False to start over"
        )
    missing = [s.file for s in old.segments if not (parts / s.file).is_file()]
    if missing:
        raise VideoError(f"{parts}: segment {missing[0]} is missing; run with resume=False to start over")


def _input_identity(src: Path) -> dict[str, Any]:
    st = src.stat()
    return {"path": str(src.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _normalised(settings: Mapping[str, Any]) -> dict[str, Any]:
    # Through JSON, so that a fresh dict compares equal to one read back (tuples → lists, float reprs).
    return dict(json.loads(json.dumps(dict(settings), sort_keys=True)))


def _settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def _remove_stray_files(parts: Path, manifest: Manifest) -> None:
    keep = {MANIFEST, *(s.file for s in manifest.segments)}
    for p in parts.iterdir():
        if p.name not in keep:
            p.unlink(missing_ok=True)
