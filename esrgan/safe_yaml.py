"""YAML for options files and ``--set`` values, read as data with limits that hostile text cannot get past.

``yaml.safe_load`` already refuses tags that would build objects, but it accepts duplicate keys (the last one
silently wins), expands aliases without limit (a "billion laughs" document of a few hundred bytes becomes a
structure that takes minutes and gigabytes to print or walk), and recurses once per nesting level (100,000 ``[``
raise ``RecursionError``). :func:`load_yaml` refuses all of these, and documents above :data:`MAX_BYTES`, with one
line naming the source and the line. Options files are a few kilobytes and a few hundred nodes, so the limits are
far above any real file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from esrgan.errors import NotFoundError, OptionsError, quote

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml", "read_yaml_file"]

MAX_BYTES = 1 << 20  # 1 MiB; the training options files are 2-4 KB
MAX_DEPTH = 64  # nesting levels (the deepest options are 4 levels down)
# Nodes after alias expansion: every scalar, list and mapping counts, and an alias counts as the size of what it
# names, so a billion-laughs document is refused after at most this many steps of work.
MAX_NODES = 20_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader with a nesting limit, an alias-expansion budget and duplicate-key detection."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.name = source  # PyYAML's marks would say "<unicode string>"
        self.source = source
        self._depth = 0
        self._spent = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its size with aliases expanded

    def _refuse(self, message: str, mark: Any) -> OptionsError:
        line = f"line {mark.line + 1}: " if mark is not None else ""
        return OptionsError(f"{self.source}: {line}{message}")

    def _spend(self, nodes: int, mark: Any) -> None:
        self._spent += nodes
        if self._spent > MAX_NODES:
            raise self._refuse(
                f"more than {MAX_NODES} YAML nodes once aliases are expanded; an options file needs far fewer "
                "(are aliases nested inside each other?)",
                mark,
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if self.check_event(AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error below
                size = self._sizes.get(id(target))
                if size is None:
                    raise self._refuse(f"alias *{event.anchor[:40]} is used inside its own anchor", event.start_mark)
                self._spend(size, event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        start = self._spent
        self._spend(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._spent - start
        return node

    def flatten_mapping(self, node: MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue  # merge keys may repeat what they merge; unhashable keys are PyYAML's error
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self._refuse(
                    f"key {quote(key)} appears twice (first on line {seen[key]}); remove one", key_node.start_mark
                )
            seen[key] = line
        super().flatten_mapping(node)


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document into plain data (dicts, lists, str, int, float, bool, None, dates).

    Args:
        text: the document.
        source: what to call it in messages (a file name, ``--set key``).

    Raises:
        OptionsError: not valid YAML, a duplicate key, nesting deeper than :data:`MAX_DEPTH`, more than
            :data:`MAX_NODES` nodes after alias expansion, or more than :data:`MAX_BYTES` of text. One line.
    """
    if len(text) > MAX_BYTES:
        raise OptionsError(f"{source}: {len(text)} characters of YAML; options are refused above {MAX_BYTES}")
    loader = None
    try:
        loader = _Loader(text, source)  # the reader checks the characters here already
        return loader.get_single_data()
    except OptionsError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise OptionsError(f"{source}: {where}not valid YAML ({_one_line(what)})") from exc
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        raise OptionsError(f"{source}: not valid YAML ({_one_line(exc)})") from exc
    except (ValueError, TypeError, AttributeError, ArithmeticError, LookupError) as exc:
        # PyYAML's constructors let these through for odd scalars: "!!timestamp x", a 5,000-digit integer,
        # "2024-13-45". They are invalid input, not bugs of this package.
        raise OptionsError(f"{source}: a YAML value cannot be read ({_one_line(exc)})") from exc
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str | Path) -> Any:
    """:func:`load_yaml` of a UTF-8 file, refusing files above :data:`MAX_BYTES` before reading them.

    Raises:
        NotFoundError: ``path`` is not a file.
        OptionsError: as :func:`load_yaml`, or the file is not UTF-8 text.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"options file not found: {path}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise OptionsError(f"{path}: {size} bytes; options files are refused above {MAX_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OptionsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return load_yaml(text, str(path))


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."
