"""The knowledge tables (``images.toml`` and the other ``*.toml`` beside this module), parsed.

Each run needs its tables parsed: importing tomllib and parsing images.toml takes ~15 ms, a
tenth of a one-file check, and unmarshalling the parsed table ~0.1 ms. So the parsed table is
kept in the user's cache (fixuser.usercache) as marshal data, named by the table's mtime and
size and by the fixuser and Python that made it: a run that finds it reads it back and never
imports tomllib. An edit of the table changes its mtime, so the next run parses it again; the
file also holds the table's path, mtime, size and inode and is used only while all four still
describe the table. Without a usable cache directory every run parses the table.

A new table is one call: ``load("families")`` reads ``families.toml``.
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
from typing import Any

from fixuser import __version__, usercache

HERE = os.path.dirname(__file__)
# Who made a cached table: marshal's format may change with Python, a table's meaning with
# fixuser.
MADE_BY = f"{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """``knowledge/<name>.toml``, parsed (beside this module in a wheel and in an editable
    install alike; importlib.resources would cost importing zipfile and tempfile)."""
    return load_file(os.path.join(HERE, f"{name}.toml"))


def load_file(path: str) -> dict[str, Any]:
    """The TOML file ``path``, from the user's cache while the file is as it was cached."""
    name = os.path.basename(path).removesuffix(".toml")
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        stamp = (path, info.st_mtime_ns, info.st_size, info.st_ino, MADE_BY)
        cached = f"{name}-{MADE_BY}-{info.st_mtime_ns}-{info.st_size}.marshal"
        table = unmarshal(usercache.read("tables", cached), stamp)
        if table is not None:
            return table
        text = f.read().decode("utf-8")
    import tomllib

    table = tomllib.loads(text)
    try:
        data = marshal.dumps((stamp, table))
    except ValueError:  # a value marshal cannot hold (a TOML date): parse it every time
        return table
    usercache.write("tables", cached, data, replaces=f"{name}-{MADE_BY}-")
    return table


def unmarshal(data: bytes | None, stamp: tuple[object, ...]) -> dict[str, Any] | None:
    """The table a cache file holds, when it was made from the file ``stamp`` describes."""
    if data is None:
        return None
    try:
        made_from, table = marshal.loads(data)
    except (EOFError, ValueError, TypeError):  # not a whole cache file of fixuser's
        return None
    if made_from != stamp or not isinstance(table, dict):
        return None
    return table
