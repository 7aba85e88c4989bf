"""Command-line flags generated from a config dataclass: one `--field-name` per chosen field, with the
field's type, its default and its help text (the field's metadata "help"), so that a default is written
once, in the dataclass, and the CLI cannot restate it wrongly."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def _type_of(f):
    t = str(f.type).replace(" ", "")
    for name, conv in (("int", int), ("float", float), ("str", str)):
        if t == name or t.startswith(name + "|") or t.endswith("|" + name):
            return conv
    raise TypeError(f"{f.name}: no command-line type for {f.type}")


def add_flags(parser: argparse.ArgumentParser, cls, names, shown: dict[str, str] | None = None) -> None:
    """Add a flag for each field of `cls` in `names`. `shown`: fields whose default depends on something
    else (a domain): their flag defaults to None, and the help shows the given text as the default.
    A bool field that defaults to true becomes `--no-<name>`, one that defaults to false `--<name>`."""
    shown = shown or {}
    by_name = {f.name: f for f in fields(cls)}
    for n in names:
        f = by_name[n]
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        help_ = (f.metadata.get("help") or "").replace("%", "%%")  # argparse formats help with %
        flag = "--" + n.replace("_", "-")
        if str(f.type) == "bool":
            if default:
                parser.add_argument(
                    "--no-" + n.replace("_", "-"), dest=n, action="store_false", help=f"turn off: {help_} (default: on)"
                )
            else:
                parser.add_argument(flag, dest=n, action="store_true", help=f"{help_} (default: off)")
            continue
        if n in shown:
            parser.add_argument(flag, dest=n, type=_type_of(f), default=None, help=f"{help_} (default: {shown[n]})")
        else:
            stated = "none" if default is None else default
            parser.add_argument(flag, dest=n, type=_type_of(f), default=default, help=f"{help_} (default: {stated})")


def values(args: argparse.Namespace, names) -> dict:
    """The flags' values by field name, leaving out those left unset (None): the dataclass or a caller's
    own default applies to them."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
