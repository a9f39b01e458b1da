"""Typed, validated options: YAML files and ``--set a.b=value`` overrides become frozen dataclasses.

Option classes are plain (nested) dataclasses declared next to the code that uses them (training options in
``esrgan/train/options.py``, evaluation options in ``esrgan/evaluation/options.py``, the engine's in
``esrgan/inference/options.py``). This module is the one place that validates raw YAML against them: an unknown
or misspelled key, a missing required key or a value of the wrong type is an :class:`OptionsError` naming the
key, the file and (for unknown keys) the closest valid key. Override values are parsed with ``yaml.safe_load``:
they are data, never code.

A dataclass field is a sub-section of the YAML (``data: {train: ...}``), unless it is declared with :func:`flat`:
then its own fields are keys of the enclosing section. That is how several sections share one options class
(the engine's ``tile``, ``precision``, ... in the test, validation and teacher sections) without new nesting.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, cast

import yaml

T = TypeVar("T")

__all__ = [
    "OptionsError",
    "apply_overrides",
    "flat",
    "from_dict",
    "load_options",
    "parse_override",
    "read_options_file",
    "to_dict",
]

# Field metadata key marking a flat field (see flat()).
_FLAT = "esrgan.options.flat"


class OptionsError(ValueError):
    """Invalid options. The message names the file, the dotted key and what is expected."""


def flat(default: T) -> T:
    """Declare a field holding the options dataclass ``default``'s type whose fields are keys of the enclosing
    section, not a sub-section.

    ``engine: EngineOptions = flat(EngineOptions(precision="fp32"))`` reads ``tile: 0`` and ``precision: bf16``
    beside the section's other keys; the code reads ``opts.engine.tile``. Keys a file leaves out keep the values
    of ``default``, so each section sets its own defaults. :func:`to_dict` writes the keys back flat.
    """
    if not (dataclasses.is_dataclass(default) and not isinstance(default, type)):
        raise TypeError(f"flat() takes a dataclass instance, got {default!r}")
    return cast(T, dataclasses.field(default_factory=lambda: default, metadata={_FLAT: True}))


def _is_flat(field: dataclasses.Field[Any]) -> bool:
    return bool(field.metadata.get(_FLAT))


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
    owners = _flat_keys(cls, fields, hints)  # key of a flat field's class -> that field's name
    keys = [*(n for n, f in fields.items() if not _is_flat(f)), *owners]
    kwargs: dict[str, Any] = {}
    flat_data: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name in owners:
            flat_data.setdefault(owners[name], {})[name] = value
        elif name in fields and not _is_flat(fields[name]):
            kwargs[name] = _convert(value, hints[name], key, source)
        else:
            raise OptionsError(f"{source}: unknown key '{key}'{_closest(str(name), keys)}")
    for name, values in flat_data.items():
        kwargs[name] = _flat_value(fields[name], hints[name], values, source, prefix)
    for name, field in fields.items():
        missing = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if missing and name not in kwargs:
            key = f"{prefix}.{name}" if prefix else name
            raise OptionsError(f"{source}: missing required key '{key}'")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks (ranges, combinations)
        raise OptionsError(f"{_where(source, prefix)}: {exc}") from exc


def _flat_keys(cls: type, fields: Mapping[str, dataclasses.Field[Any]], hints: Mapping[str, Any]) -> dict[str, str]:
    """Key -> flat field name, for the fields of every :func:`flat` field of ``cls``."""
    owners: dict[str, str] = {}
    for name, field in fields.items():
        if not _is_flat(field):
            continue
        for inner in dataclasses.fields(hints[name]):
            if inner.name in owners or (inner.name in fields and not _is_flat(fields[inner.name])):
                raise TypeError(f"{cls.__name__}: key '{inner.name}' of flat field '{name}' is declared twice")
            owners[inner.name] = name
    return owners


def _flat_value(field: dataclasses.Field[Any], tp: Any, values: Mapping[str, Any], source: str, prefix: str) -> Any:
    """The flat field's dataclass: its default with ``values`` (the keys of the section that are its fields)."""
    if field.default_factory is dataclasses.MISSING:  # no default: every required key must be present
        return from_dict(tp, values, source=source, prefix=prefix)
    hints = typing.get_type_hints(tp)
    converted = {
        name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name, source)
        for name, value in values.items()
    }
    try:
        return dataclasses.replace(field.default_factory(), **converted)
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
    """Read a YAML file, apply ``a.b=value`` overrides (see :func:`apply_overrides`), validate into ``cls``."""
    data = read_options_file(path)
    overrides = list(overrides)
    source = str(path) + (" (with overrides)" if overrides else "")
    return from_dict(cls, apply_overrides(data, overrides), source=source)


def to_dict(options: Any) -> dict[str, Any]:
    """Plain dict of an options dataclass (paths as strings, :func:`flat` fields' keys in their section), for
    logs and self-describing checkpoints; :func:`from_dict` reads it back."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if _is_flat(field):
            out.update(to_dict(value))
        else:
            out[field.name] = _plain(value)
    return out


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
