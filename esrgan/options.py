"""Typed, validated options: YAML files and ``--set a.b=value`` overrides become frozen dataclasses.

Option classes are plain (nested) dataclasses declared next to the code that uses them (training options in
``esrgan/train/options.py``, evaluation options in ``esrgan/evaluation/options.py``, the engine's in
``esrgan/inference/options.py``). This module is the one place that validates raw YAML against them: an unknown
or misspelled key, a missing required key, a value of the wrong type or outside its declared :class:`Range` is an
:class:`OptionsError` naming the key, the file and (for unknown keys) the closest valid key. YAML is read by
:mod:`esrgan.safe_yaml` (data only, duplicate keys, alias bombs and deep nesting refused); override values are
parsed the same way: they are data, never code.

Numeric ranges are declared with the field, ``batch_size: Annotated[int, Range(1, 4096)] = 16``, and checked here;
command-line flags get their argparse types from the same declarations (:func:`arg_type`, :func:`field_arg_type`).

A dataclass field is a sub-section of the YAML (``data: {train: ...}``), unless it is declared with :func:`flat`:
then its own fields are keys of the enclosing section. That is how several sections share one options class
(the engine's ``tile``, ``precision``, ... in the test, validation and teacher sections) without new nesting.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, cast

from esrgan.errors import OptionsError, quote
from esrgan.safe_yaml import load_yaml, read_yaml_file

T = TypeVar("T")

__all__ = [
    "OptionsError",
    "Range",
    "apply_overrides",
    "arg_type",
    "check_ranges",
    "field_arg_type",
    "flat",
    "from_dict",
    "load_options",
    "parse_override",
    "read_options_file",
    "to_dict",
]

# Field metadata key marking a flat field (see flat()).
_FLAT = "esrgan.options.flat"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclasses.dataclass(frozen=True)
class Range:
    """The allowed values of a numeric option, declared with its type: ``Annotated[int, Range(1, 1000)]``.

    Attributes:
        lo, hi: bounds (None: unbounded on that side).
        lo_open, hi_open: exclude the bound itself (``Range(0, 1, lo_open=True)`` is 0 < x <= 1).
        also: single values allowed outside the bounds, e.g. ``also=(0,)`` for "0 (off) or 16..8192".
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()

    def contains(self, value: float) -> bool:
        """True if ``value`` is allowed (NaN never is)."""
        if value in self.also:
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))

    def describe(self) -> str:
        """Human-readable, e.g. "1..100", ">= 0", "> 0 and <= 1", "0 or 16..8192"."""
        if self.lo is not None and self.hi is not None and not (self.lo_open or self.hi_open):
            text = f"{_num(self.lo)}..{_num(self.hi)}"
        else:
            parts = []
            if self.lo is not None:
                parts.append(f"{'>' if self.lo_open else '>='} {_num(self.lo)}")
            if self.hi is not None:
                parts.append(f"{'<' if self.hi_open else '<='} {_num(self.hi)}")
            text = " and ".join(parts) or "a finite number"
        return " or ".join([*map(_num, self.also), text])

    def check(self, value: object, where: str) -> None:
        """Raise :class:`OptionsError` "<where> must be <range>, got <value>" if ``value`` is not allowed."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.contains(value):
            raise OptionsError(f"{where} must be {self.describe()}, got {quote(value)}")


def arg_type(kind: type[int] | type[float], allowed: Range) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses an int or float and checks it against ``allowed``."""
    import argparse

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {quote(text)}") from None
        if not allowed.contains(value):
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got {quote(text)}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def field_arg_type(cls: type | str, name: str) -> Callable[[str], Any]:
    """The argparse type of the option field ``cls.name``, from its declaration ``Annotated[int, Range(...)]``
    (``| None`` allowed), so that a flag and the option it fills accept the same values.

    ``cls`` may be given as ``"package.module:Class"``: the module is then imported when a value is parsed, not
    when the parser is built (``esrgan --help`` stays free of the heavy imports of some option modules).
    """
    if isinstance(cls, str):
        home = cls

        def parse(text: str) -> Any:
            module, _, qualname = home.partition(":")
            return _field_arg_type(getattr(importlib.import_module(module), qualname), name)(text)

        parse.__name__ = name
        return parse
    return _field_arg_type(cls, name)


def _field_arg_type(cls: type, name: str) -> Callable[[str], Any]:
    tp = typing.get_type_hints(cls, include_extras=True)[name]
    if typing.get_origin(tp) in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is not typing.Annotated:
        raise TypeError(f"{cls.__name__}.{name} declares no Range")
    base, *meta = typing.get_args(tp)
    allowed = next((m for m in meta if isinstance(m, Range)), None)
    if allowed is None or base not in (int, float):
        raise TypeError(f"{cls.__name__}.{name} is not an int or float with a Range")
    return arg_type(base, allowed)


def check_ranges(options: Any) -> None:
    """Check the fields of the dataclass instance ``options`` against their declared ranges (``Annotated[...,
    Range]``, also inside tuples, lists and ``| None``): for ``__post_init__``, so that an options object built
    in Python is held to the same declarations as one read from YAML (:func:`from_dict` checks those first and
    names the file and key).

    Raises:
        OptionsError: "<field> must be <range>, got <value>" for the first value out of its range.
    """
    hints = typing.get_type_hints(type(options), include_extras=True)
    for f in dataclasses.fields(options):
        _check_declared(getattr(options, f.name), hints[f.name], f.name)


def _check_declared(value: Any, tp: Any, name: str) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        for item in args[1:]:
            if isinstance(item, Range) and isinstance(value, int | float) and not isinstance(value, bool):
                item.check(value, name)
        _check_declared(value, args[0], name)
    elif origin in (Union, types.UnionType):
        for arg in args:
            base = typing.get_args(arg)[0] if typing.get_origin(arg) is typing.Annotated else arg
            if isinstance(base, type) and isinstance(value, base) and not isinstance(value, bool):
                _check_declared(value, arg, name)
                return
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        repeated = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        for i, item in enumerate(value):
            if repeated or i < len(args):
                _check_declared(item, args[0] if repeated else args[i], f"{name}[{i}]")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    return f"{source}: '{_short(key)}'" if key else source


def _closest(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_a(value: Any, tp: Any) -> bool:
    try:
        _convert(value, tp, "", "")
    except OptionsError:
        return False
    return True


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (dataclasses built, lists typed)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Annotated:  # Annotated[int, Range(1, 100)]: the type, then its declared range
        base, *meta = args
        value = _convert(value, base, key, source)
        for item in meta:
            if isinstance(item, Range):
                item.check(value, _where(source, key))
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
                if typing.get_origin(arg) is typing.Annotated and _is_a(value, typing.get_args(arg)[0]):
                    raise  # the right type but out of its declared range: that is the error to report
                errors.append(str(exc))
        if len(errors) == 1:  # Optional[X]: X's own error ("unknown key ... did you mean") says more
            raise OptionsError(errors[0])
        expected = " or ".join(_type_name(a) for a in args)
        raise OptionsError(f"{_where(source, key)} must be {expected}, got {quote(value)}")
    if origin is typing.Literal:
        if value not in args:
            raise OptionsError(
                f"{_where(source, key)} must be one of {', '.join(map(repr, args))}, got {quote(value)}"
                + (_closest(value[:100], map(str, args)) if isinstance(value, str) else "")
            )
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise OptionsError(f"{_where(source, key)} must be a mapping of {tp.__name__} options, got {quote(value)}")
        return from_dict(tp, value, source=source, prefix=key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise OptionsError(f"{_where(source, key)} must be a list, got {quote(value)}")
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
            raise OptionsError(f"{_where(source, key)} must be a mapping, got {quote(value)}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    if tp is float:
        # YAML reads "1e-4" as a string (YAML 1.1 wants "1.0e-4"): accept numeric strings and ints for floats.
        if isinstance(value, bool):
            raise OptionsError(f"{_where(source, key)} must be a number, got {quote(value)}")
        number: float | None = None
        if isinstance(value, int | float):
            number = float(value) if not isinstance(value, int) or abs(value) < 1e308 else math.inf
        elif isinstance(value, str):
            number = _float_or_none(value)
        if number is None:
            raise OptionsError(f"{_where(source, key)} must be a number, got {quote(value)}")
        if not math.isfinite(number):
            raise OptionsError(f"{_where(source, key)} must be a finite number, got {quote(value)}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{_where(source, key)} must be an integer, got {quote(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{_where(source, key)} must be true or false, got {quote(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise OptionsError(f"{_where(source, key)} must be a string, got {quote(value)}")
        return value
    if isinstance(tp, type) and issubclass(tp, Path):
        if not isinstance(value, str | Path):
            raise OptionsError(f"{_where(source, key)} must be a path, got {quote(value)}")
        return Path(value)
    raise TypeError(f"unsupported option annotation {tp!r} for '{key}'")  # a programming error, not user input


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "<options>", prefix: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping, validating every key and value.

    A dataclass may declare ``MOVED_KEYS: ClassVar[Mapping[str, str]]``: keys of a format its options translate
    (Real-ESRGAN's, for a degradation block) that belong elsewhere here, each with where it goes; such a key's error
    says that instead of the closest valid key.

    Raises:
        OptionsError: unknown key (with the closest valid key), missing required key, wrong type.
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
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
        elif isinstance(moved := getattr(cls, "MOVED_KEYS", {}).get(name), str):
            raise OptionsError(f"{source}: unknown key '{_short(key)}': {moved}")
        else:
            raise OptionsError(f"{source}: unknown key '{_short(key)}'{_closest(str(name)[:100], keys)}")
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
    hints = typing.get_type_hints(tp, include_extras=True)
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
        raise OptionsError(f"override {quote(text)} must look like key.path=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise OptionsError(f"override {quote(text)} has an empty key")
    value = load_yaml(raw, f"override {_short(key.strip(), 60)}") if raw.strip() else None
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
        NotFoundError: no such file (a FileNotFoundError).
        OptionsError: not valid YAML, or not a mapping at the top level.
    """
    path = Path(path)
    data = read_yaml_file(path)
    if data is None:
        data = {}
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
