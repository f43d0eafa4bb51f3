"""Accounts an image or container does not need: ``audit --users``, ``verify``, ``--lock-users``.

CIS Docker 4.1's rationale goes past the USER: an image should hold no account it does not
need. An account is flagged when it has a login shell (anything but nologin, false, or the
classic single-command shells of ``sync``, ``shutdown`` and ``halt``, which CIS's Linux
benchmarks exempt too), a password (a real hash, or worse an empty field: a login without
one), or UID 0 under another name than root (root-equivalent). Two accounts are needed and
never flagged for their shell: root (``docker exec`` and every RUN step run as it; it is only
flagged for a password) and the container's own user (PID 1's UID). Everything here is pure:
/etc/passwd and /etc/shadow texts in, accounts out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

# No login: the shells nologin and false. Shared with templates/lock-users.j2 (its RUN skips
# accounts that already have one), so the audit and the lock agree on what is locked.
NOLOGIN_SHELLS = (
    "/usr/sbin/nologin",
    "/sbin/nologin",
    "/usr/bin/nologin",
    "/bin/nologin",
    "/bin/false",
    "/usr/bin/false",
)
# The classic special accounts: logging in runs one command and ends, no shell.
SPECIAL_SHELLS = (
    "/bin/sync",
    "/usr/bin/sync",
    "/sbin/shutdown",
    "/usr/sbin/shutdown",
    "/sbin/halt",
    "/usr/sbin/halt",
)
NOT_LOGIN_SHELLS = (*NOLOGIN_SHELLS, *SPECIAL_SHELLS)
ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group")
# Names the lock's RUN can keep (a case pattern without quoting): passwd names in practice.
SAFE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
HASH_RE = re.compile(r"^(?:\$[^$]+\$.+|[./0-9A-Za-z]{13})$")  # crypt(3): $id$..., or DES

Password = Literal["empty", "locked", "hash", "unknown"]


class Entry(NamedTuple):
    """One /etc/passwd line of seven fields."""

    name: str
    password: str
    uid: int | None
    gid: int | None
    home: str
    shell: str
    line: str


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    uid: int | None
    shell: str
    why: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        uid = "?" if self.uid is None else str(self.uid)
        return f"{self.name} uid={uid} shell={self.shell or '(empty)'}: {self.why}"


@dataclasses.dataclass(frozen=True)
class Review:
    """The accounts of one passwd database: flagged, and needed ones kept with a login shell."""

    flagged: tuple[Account, ...]
    kept: tuple[Account, ...]
    shadow_read: bool  # False: password fields that point to /etc/shadow were not judged

    @property
    def root_equivalent(self) -> tuple[Account, ...]:
        return tuple(a for a in self.flagged if a.uid == 0 and a.name != "root")


def as_number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None  # "²": isdigit(), not int()


def entries(passwd: str) -> list[Entry]:
    """The accounts of an /etc/passwd text; comments, NIS ``+``/``-`` lines and lines of
    another shape are no account and are left out."""
    out = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) != 7 or not fields[0] or fields[0][0] in "#+-":
            continue
        name, password, uid, gid, _, home, shell = fields
        out.append(Entry(name, password, as_number(uid), as_number(gid), home, shell, line))
    return out


def shadow_fields(shadow: str) -> dict[str, list[str]]:
    """name -> the fields of its /etc/shadow line (the first line of a name wins)."""
    out: dict[str, list[str]] = {}
    for line in shadow.splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0] and fields[0][0] not in "#+-":
            out.setdefault(fields[0], fields)
    return out


def password_of(field: str) -> Password:
    """A password field: empty (no password at all: worse than a hash), locked (``*``, ``!``,
    ``!!``, a ``!``-prefixed hash, or anything crypt(3) can never produce), or a hash."""
    if field == "":
        return "empty"
    if field[0] in "!*" or not HASH_RE.match(field):
        return "locked"
    return "hash"


def password(entry: Entry, shadow: Mapping[str, list[str]] | None) -> Password:
    """``x`` points to /etc/shadow (None: not read); with no shadow line no password works."""
    if entry.password != "x":
        return password_of(entry.password)
    if shadow is None:
        return "unknown"
    fields = shadow.get(entry.name)
    return password_of(fields[1]) if fields else "locked"


def is_login_shell(shell: str) -> bool:
    """An empty shell field is a login shell too: login(1) runs /bin/sh."""
    return shell not in NOT_LOGIN_SHELLS


def own_account(accounts: Sequence[Entry], uid: int | None, name: str | None) -> str | None:
    """The name of the container's user: the first account of its UID, as getpwuid(3) finds
    it (a second account of that UID is another account), else ``name``."""
    if uid is None:
        return name
    return next((e.name for e in accounts if e.uid == uid), None)


def review(
    passwd: str,
    shadow: str | None = None,
    *,
    own_uid: int | None = None,
    own_name: str | None = None,
) -> Review:
    """Which accounts of ``passwd`` (and ``shadow``, None when unreadable) are not needed.

    The container's own user is ``own_uid`` (PID 1's) or, when that is unknown, ``own_name``.
    """
    table = shadow_fields(shadow) if shadow is not None else None
    flagged: list[Account] = []
    kept: list[Account] = []
    accounts = entries(passwd)
    own_name = own_account(accounts, own_uid, own_name)
    for entry in accounts:
        is_root = entry.name == "root" and entry.uid == 0
        own = entry.name == own_name
        reasons = []
        if entry.uid == 0 and entry.name != "root":
            reasons.append("UID 0 besides root: root-equivalent")
        if is_login_shell(entry.shell):
            if is_root or own:
                why = "root" if is_root else "the container's user"
                kept.append(Account(entry.name, entry.uid, entry.shell, f"{why}: keeps its shell"))
            elif entry.shell:
                reasons.append("login shell")
            else:
                reasons.append("empty shell field: a login runs /bin/sh")
        state = password(entry, table)
        if state == "empty":
            reasons.append("empty password")
        elif state == "hash":
            reasons.append("password hash set")
        if reasons:
            flagged.append(Account(entry.name, entry.uid, entry.shell, "; ".join(reasons)))
    return Review(tuple(flagged), tuple(kept), table is not None)


# --- what a fix changed in the account database (verify) -------------------------------------


class Locked(NamedTuple):
    name: str
    before: str  # its shell before
    after: str  # and after


@dataclasses.dataclass(frozen=True)
class Changes:
    """How the account files of a fixed image differ from the original's."""

    locked: tuple[Locked, ...] = ()  # login shell -> nologin (--lock-users)
    added: tuple[str, ...] = ()  # accounts that appeared: the container's user
    problems: tuple[str, ...] = ()  # every other difference: the fix changed something else


def changes(
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    own_uid: int | None = None,
    own_name: str | None = None,
) -> Changes:
    """Compare the account files (path -> text; a path left out is missing) of two images.

    Allowed: the container's user (and its group) added, and the shell of an account other
    than root and that user turned from a login shell into a non-login one. Anything else is
    a problem. /etc/shadow's date of the last password change (its third field) is not
    compared: a package that adds a system account writes the day it was built.
    """
    locked: list[Locked] = []
    added: list[str] = []
    problems: list[str] = []
    old = {e.name: e for e in entries(before.get("/etc/passwd", ""))}
    new = {e.name: e for e in entries(after.get("/etc/passwd", ""))}
    own_name = own_account(list(new.values()), own_uid, own_name)
    for path in ACCOUNT_FILES:
        if path in before and path not in after:
            problems.append(f"{path} is gone")

    def own(entry: Entry) -> bool:
        return entry.name == own_name

    for name, entry in old.items():
        now = new.get(name)
        if now is None:
            problems.append(f"/etc/passwd: {name} was removed")
        elif now.line != entry.line:
            same_but_shell = now.line.rpartition(":")[0] == entry.line.rpartition(":")[0]
            if (
                same_but_shell
                and not (entry.name == "root" or own(entry))
                and is_login_shell(entry.shell)
                and not is_login_shell(now.shell)
            ):
                locked.append(Locked(name, entry.shell, now.shell))
            else:
                problems.append(f"/etc/passwd: {entry.line!r} became {now.line!r}")
    for name, entry in new.items():
        if name in old:
            continue
        if own(entry):
            added.append(name)
        else:
            problems.append(f"/etc/passwd: {name} appeared, and it is not the container's user")
    gids = {new[name].gid for name in added}
    problems += table_changes("/etc/shadow", before, after, set(added), skip=2)
    problems += table_changes("/etc/group", before, after, set(added), gids=gids)
    return Changes(tuple(locked), tuple(added), tuple(problems))


def table_changes(
    path: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    names: set[str],
    *,
    skip: int | None = None,
    gids: set[int | None] | None = None,
) -> list[str]:
    """Lines of /etc/shadow or /etc/group (by name) changed, removed, or added for another
    name than ``names`` (a group: nor another GID than ``gids``). Field ``skip`` is ignored."""
    if path not in before or path not in after:
        return []
    old, new = shadow_fields(before[path]), shadow_fields(after[path])

    def compared(fields: Sequence[str]) -> list[str]:
        return [f for i, f in enumerate(fields) if i != skip]

    problems = []
    for name, fields in old.items():
        if name not in new:
            problems.append(f"{path}: {name} was removed")
        elif compared(new[name]) != compared(fields):
            problems.append(f"{path}: the line of {name} changed")
    for name, fields in new.items():
        if name in old or name in names:
            continue
        gid = as_number(fields[2]) if len(fields) > 2 else None
        if gids is None or gid not in gids:
            problems.append(f"{path}: {name} appeared, and it is not the container's user's")
    return problems
