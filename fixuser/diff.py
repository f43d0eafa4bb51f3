"""The unified diff of a fix, written from its edits.

A fix knows exactly which lines it replaced and where it inserted others, so the diff is
written from those edits instead of being rediscovered by difflib (which cost more than the
fix itself over a corpus). The hunks are grouped as difflib groups them: 3 lines of context,
and changes at most 6 unchanged lines apart share a hunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from fixuser.dockerfile.parse import split_lines
from fixuser.edits import Edit, position

CONTEXT = 3
NO_NEWLINE = "\\ No newline at end of file\n"
# git's quoting of a path in a diff header (core.quotePath): a path with a control character,
# a byte that is not UTF-8, a double quote or a backslash is written in double quotes with C
# escapes, which git apply and patch read back; any other path as it is.
GIT_QUOTED_RE = re.compile('[\x00-\x1f\x7f-\x9f"\\\\\ud800-\udfff]')
GIT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
}


def git_quoted(name: str) -> str:
    """``name`` (``a/path``) as git writes it in a diff header: ``"a/x\\ny"`` when it must be."""
    if GIT_QUOTED_RE.search(name) is None:
        return name
    out = []
    for char in name:
        code = ord(char)
        if char in GIT_ESCAPES:
            out.append(GIT_ESCAPES[char])
        elif char in '"\\':
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\{code - 0xDC00:03o}")
        elif code < 0x20 or 0x7F <= code <= 0x9F:  # C1 controls: their UTF-8 bytes
            out += [f"\\{byte:03o}" for byte in char.encode("utf-8")]
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def headers(old: str, new: str) -> list[str]:
    """``--- old`` and ``+++ new``, each quoted as git quotes it when it must be."""
    return [f"--- {git_quoted(old)}\n", f"+++ {git_quoted(new)}\n"]


def span(start: int, count: int) -> str:
    """A hunk header range: ``start,count`` (1-based), as ``diff -u`` writes it."""
    if count == 1:
        return str(start + 1)
    return f"{start + 1 if count else start},{count}"


def body(prefix: str, lines: Sequence[str]) -> list[str]:
    out = [prefix + line for line in lines]
    # Only a last line can lack its newline (of the file, or of an edit's text).
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
        out.append(NO_NEWLINE)
    return out


def unified(path: str, lines: Sequence[str], edits: Iterable[Edit]) -> str:
    """The diff, ``a/path`` to ``b/path``, that turns ``lines`` into ``edits.apply``'s result."""
    changes: list[tuple[int, int, list[str]]] = []  # (start, end, new lines), in file order
    for edit in sorted(edits, key=position):
        new = split_lines(edit.text) if edit.text else []
        if new != list(lines[edit.start : edit.end]):
            changes.append((edit.start, edit.end, new))
    if not changes:
        return ""
    groups: list[list[tuple[int, int, list[str]]]] = [[changes[0]]]
    for change in changes[1:]:
        if change[0] - groups[-1][-1][1] > 2 * CONTEXT:
            groups.append([change])
        else:
            groups[-1].append(change)
    out = headers(f"a/{path}", f"b/{path}")
    shift = 0  # lines the earlier hunks added (or removed, when negative)
    for group in groups:
        first = max(0, group[0][0] - CONTEXT)
        last = min(len(lines), group[-1][1] + CONTEXT)
        grown = sum(len(new) - (end - start) for start, end, new in group)
        hunk: list[str] = []
        at = first
        for start, end, new in group:
            hunk += body(" ", lines[at:start]) + body("-", lines[start:end]) + body("+", new)
            at = end
        hunk += body(" ", lines[at:last])
        old_count = last - first
        out.append(f"@@ -{span(first, old_count)} +{span(first + shift, old_count + grown)} @@\n")
        out += hunk
        shift += grown
    return "".join(out)


def whole_file(path: str, old: bytes | None, new: bytes) -> str:
    """The diff that makes ``path`` hold ``new`` (a file a fix adds beside the Dockerfile):
    from ``/dev/null`` when it does not exist, "" when it already holds exactly that."""
    import difflib

    if old == new:
        return ""
    # Bytes that are not UTF-8 (a path of the Dockerfile's) come out as they are.
    new_lines = split_lines(new.decode("utf-8", "surrogateescape"))
    if old is None:
        hunk = f"@@ -0,0 +{span(0, len(new_lines))} @@\n"
        return "".join([*headers("/dev/null", f"b/{path}"), hunk, *body("+", new_lines)])
    old_lines = split_lines(old.decode("utf-8", "surrogateescape"))
    lines = list(difflib.unified_diff(old_lines, new_lines))
    return "".join(headers(f"a/{path}", f"b/{path}") + lines[2:]) if lines else ""
