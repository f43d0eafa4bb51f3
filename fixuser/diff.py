"""The unified diff of a fix, written from its edits.

A fix knows exactly which lines it replaced and where it inserted others, so the diff is
written from those edits instead of being rediscovered by difflib (which cost more than the
fix itself over a corpus). The hunks are grouped as difflib groups them: 3 lines of context,
and changes at most 6 unchanged lines apart share a hunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fixuser.dockerfile import split_lines
from fixuser.edits import Edit, position

CONTEXT = 3
NO_NEWLINE = "\\ No newline at end of file\n"


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
    out = [f"--- a/{path}\n", f"+++ b/{path}\n"]
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
        return "".join(["--- /dev/null\n", f"+++ b/{path}\n", hunk, *body("+", new_lines)])
    old_lines = split_lines(old.decode("utf-8", "surrogateescape"))
    return "".join(difflib.unified_diff(old_lines, new_lines, f"a/{path}", f"b/{path}"))
