"""``esrgan options list|show|copy``: the options files shipped with the package.

esrgan options list                       # names for `esrgan train -opt NAME` / `esrgan test -opt NAME`
esrgan options show train_ESRGAN_x4_cpu   # print one (YAML with its comments)
esrgan options copy train_ESRGAN_x4_cpu . # copy one out to edit, then: esrgan train -opt ./train_ESRGAN_x4_cpu.yml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from esrgan.errors import OutputExistsError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "options",
        help="list, show or copy the shipped options files (train/test YAML)",
        description="The YAML options files shipped with esrgan. `esrgan train -opt NAME` and `esrgan test -opt "
        "NAME` take their names as well as paths; copy one out to change it.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="names, verbs and summaries", description="List the shipped options files.")
    ls.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    ls.set_defaults(func=run_list)
    show = actions.add_parser("show", help="print one file", description="Print a shipped options file.")
    show.add_argument("name", metavar="NAME", help="a name from `esrgan options list`")
    show.set_defaults(func=run_show)
    copy = actions.add_parser(
        "copy",
        help="copy one out to edit",
        description="Copy a shipped options file to DIR/NAME.yml (or to a file path ending in .yml) to edit it.",
    )
    copy.add_argument("name", metavar="NAME", help="a name from `esrgan options list`")
    copy.add_argument("dest", nargs="?", default=".", metavar="DIR", help="folder or .yml file (default: .)")
    copy.add_argument("--force", action="store_true", help="replace an existing file")
    copy.set_defaults(func=run_copy)


def run_list(args: argparse.Namespace) -> int:
    from esrgan import shipped_options

    entries = shipped_options.shipped()
    if args.json:
        rows = [{"name": e.name, "verb": e.verb, "summary": e.summary, "path": str(e.path)} for e in entries]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.verb:<5}  {e.summary}")
    print(f"\nIn {shipped_options.FOLDER}. Use: esrgan train|test -opt NAME (degrade: python -m")
    print("esrgan.datasets.make_degraded_lr --options NAME); edit a copy: esrgan options copy NAME DIR")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from esrgan import shipped_options

    sys.stdout.write(shipped_options.get(args.name).path.read_text(encoding="utf-8"))
    return 0


def run_copy(args: argparse.Namespace) -> int:
    from esrgan import shipped_options
    from esrgan.fileio import write_bytes_atomic

    entry = shipped_options.get(args.name)
    dest = Path(args.dest)
    target = dest if dest.suffix in (".yml", ".yaml") else dest / entry.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not args.force:
        raise OutputExistsError(f"{target} already exists; pass --force to replace it")
    write_bytes_atomic(target, entry.path.read_bytes())
    use = (
        "python -m esrgan.datasets.make_degraded_lr --options"
        if entry.verb == "degrade"
        else f"esrgan {entry.verb} -opt"
    )
    log.info("copied %s to %s; use it with: %s %s", entry.name, target, use, target)
    return 0
