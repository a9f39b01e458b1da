"""Typed, validated options: YAML files and ``--set a.b=value`` overrides become frozen dataclasses.

Option classes are plain (nested) dataclasses declared next to the code that uses them (training options in
``esrgan/train/options.py``, evaluation options in ``esrgan/evaluation/options.py``). This module is the one place
that validates raw YAML against them: an unknown or misspelled key, a missing required key or a value of the
wrong type is an :class:`OptionsError` naming the key, the file and (for unknown keys) the closest valid key.
Override values are parsed with ``yaml.safe_load``: they are data, never code.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

T = TypeVar("T")

__all__ = [
    "OptionsError",
    "apply_overrides",
    "from_dict",
    "load_options",
    "parse_override",
    "read_options_file",
    "to_dict",
]


class OptionsError(ValueError):
    """Invalid options. The message names the file, the dotted key and what is expected."""


def _where(source: str, key: str) -> str:
    return f"{source}: '{key}'" if key else source


def _closest(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (dataclasses built, lists typed)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except OptionsError as exc:
                errors.append(str(exc))
        if len(errors) == 1:  # Optional[X]: X's own error ("unknown key ... did you mean") says more
            raise OptionsError(errors[0])
        expected = " or ".join(_type_name(a) for a in args)
        raise OptionsError(f"{_where(source, key)} must be {expected}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise OptionsError(
                f"{_where(source, key)} must be one of {', '.join(map(repr, args))}, got {value!r}"
                + (_closest(value, map(str, args)) if isinstance(value, str) else "")
            )
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise OptionsError(f"{_where(source, key)} must be a mapping of {tp.__name__} options, got {value!r}")
        return from_dict(tp, value, source=source, prefix=key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise OptionsError(f"{_where(source, key)} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise OptionsError(f"{_where(source, key)} must have {len(args)} items, got {len(value)}")
            return tuple(
                _convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise OptionsError(f"{_where(source, key)} must be a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    if tp is float:
        # YAML reads "1e-4" as a string (YAML 1.1 wants "1.0e-4"): accept numeric strings and ints for floats.
        if isinstance(value, bool):
            raise OptionsError(f"{_where(source, key)} must be a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise OptionsError(f"{_where(source, key)} must be a number, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{_where(source, key)} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{_where(source, key)} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise OptionsError(f"{_where(source, key)} must be a string, got {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, Path):
        if not isinstance(value, str | Path):
            raise OptionsError(f"{_where(source, key)} must be a path, got {value!r}")
        return Path(value)
    raise TypeError(f"unsupported option annotation {tp!r} for '{key}'")  # a programming error, not user input


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "<options>", prefix: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping, validating every key and value.

    Raises:
        OptionsError: unknown key (with the closest valid key), missing required key, wrong type.
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise OptionsError(f"{source}: unknown key '{key}'{_closest(str(name), fields)}")
        kwargs[name] = _convert(value, hints[name], key, source)
    for name, field in fields.items():
        missing = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if missing and name not in kwargs:
            key = f"{prefix}.{name}" if prefix else name
            raise OptionsError(f"{source}: missing required key '{key}'")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks (ranges, combinations)
        raise OptionsError(f"{_where(source, prefix)}: {exc}") from exc


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into (["a", "b", "c"], value), the value parsed as YAML (data only)."""
    if "=" not in text:
        raise OptionsError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise OptionsError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise OptionsError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b=value`` override set (missing mappings are created).

    Unknown keys are not checked here: :func:`from_dict` checks the merged result, so a misspelled override
    gets the same "did you mean" error as a misspelled key in the file.
    """
    import copy

    merged = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return merged


def read_options_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a YAML options file (not validated yet: :func:`from_dict` does that).

    Raises:
        FileNotFoundError: no such file.
        OptionsError: not valid YAML, or not a mapping at the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"options file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise OptionsError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise OptionsError(f"{path}: expected a mapping of options at the top level")
    return data


def load_options(cls: type[T], path: str | Path, overrides: Iterable[str] = ()) -> T:
    """Read a YAML file, apply ``--set`` overrides, validate into ``cls``."""
    data = read_options_file(path)
    overrides = list(overrides)
    source = str(path) + (" (with --set overrides)" if overrides else "")
    return from_dict(cls, apply_overrides(data, overrides), source=source)


def to_dict(options: Any) -> dict[str, Any]:
    """Plain dict of an options dataclass (paths as strings), for logs and self-describing checkpoints."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(options))
