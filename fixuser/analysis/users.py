"""Users the file itself makes (useradd/adduser/groupadd/addgroup in its RUN steps) or switched to
before: the ones a fix reuses instead of creating its own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from fixuser.analysis.runs import safe_split
from fixuser.dockerfile.lex import LexError, Unresolved
from fixuser.dockerfile.parse import Instruction
from fixuser.dockerfile.stages import Runtime, run_text, user_value
from fixuser.dockerfile.users import is_root_user, misspelled_root, user_is_root
from fixuser.dockerfile.words import split_flags, substitute

# Accounts made for a daemon's own bookkeeping, not for running an application as.
SERVICE_ACCOUNTS = frozenset(
    {"dockremap", "nobody", "sshd", "_apt", "messagebus", "systemd-network"}
)


CREATE_USER_RE = re.compile(
    r"(?<![\w/-])(?:/usr/sbin/|/usr/bin/|/sbin/|/bin/)?(useradd|adduser)\s+([^;&|\n]*)"
)


# What shadow's useradd and BusyBox adduser accept as a user name (without --badname).
USER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?\Z")


CREATE_GROUP_RE = re.compile(r"(?<![\w/-])(?:/usr/sbin/|/sbin/)?(groupadd|addgroup)\s+([^;&|\n]*)")


class CreatedUser(NamedTuple):
    name: str
    uid: int | None
    gid: int | None
    instruction: Instruction


def option_value(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
            if not name.startswith("--") and word.startswith(name) and len(word) > len(name):
                return word[len(name) :]
    return None


WITH_VALUE = frozenset(
    [
        "-u",
        "--uid",
        "-g",
        "--gid",
        "-G",
        "--groups",
        "-d",
        "--home",
        "-h",
        "--home-dir",
        "-s",
        "--shell",
        "-c",
        "--comment",
        "-k",
        "--skel",
        "-e",
        "--expiredate",
        "-f",
        "--inactive",
        "-K",
        "--key",
        "-p",
        "--password",
        "--ingroup",
        "--gecos",
        "--firstuid",
        "--lastuid",
        "-Z",
    ]
)


def positional(words: list[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
    return out


def as_id(text: str | None, env: Mapping[str, str]) -> int | None:
    if text is None:
        return None
    try:
        value = substitute(text, env, strict=True)
    except Unresolved:
        return None
    return int(value) if value.isascii() and value.isdigit() else None  # "²": isdigit(), not int()


def created_users(runtime: Runtime) -> list[CreatedUser]:
    """Users that RUN steps of the chain create with useradd/adduser, oldest first."""
    users: list[CreatedUser] = []
    for link in reversed(runtime.chain):
        env = runtime.env_of(link)
        groups: dict[str, int] = {}
        for instruction in link.of("RUN"):
            text = run_text(instruction)
            # Each regex only where its command's name is (they start with a lookbehind).
            makes_users = "useradd" in text or "adduser" in text
            makes_groups = "groupadd" in text or "addgroup" in text
            if not makes_users and not makes_groups:
                continue
            text = text.replace("\\\n", " ")
            for match in CREATE_GROUP_RE.finditer(text) if makes_groups else ():
                words = safe_split(match.group(2))
                names = positional(words)
                gid = as_id(option_value(words, "-g", "--gid"), env)
                if names and gid is not None:
                    groups[substitute(names[-1], env)] = gid
            for match in CREATE_USER_RE.finditer(text) if makes_users else ():
                words = safe_split(match.group(2))
                names = positional(words)
                if not names:
                    continue
                name = substitute(names[-1] if match.group(1) == "useradd" else names[0], env)
                if not USER_NAME_RE.match(name) or is_root_user(name) or name in SERVICE_ACCOUNTS:
                    continue  # not a name useradd/adduser accepts: quotes, $, brackets
                uid = as_id(option_value(words, "-u", "--uid"), env)
                group = option_value(words, "-g", "--gid", "-G", "--ingroup")
                gid = as_id(group, env)
                if gid is None and group is not None:
                    gid = groups.get(substitute(group, env))
                if gid is None and group is None:
                    gid = groups.get(name)
                users.append(CreatedUser(name, uid, gid, instruction))
    return users


def earlier_non_root(runtime: Runtime) -> str:
    """The last non-root user a USER of the chain sets, each read with the values in effect
    at its own line, or ""."""
    for link in runtime.chain:
        for instruction in reversed(link.of("USER")):
            try:
                value = user_value(runtime.stages, link, instruction, runtime.args)
            except LexError:
                continue
            if not user_is_root(value) and not misspelled_root(value):
                return value
    return ""


class Prepared(NamedTuple):
    """The owner the file gives its files to (``chown nobody /app``, ``COPY --chown=nobody``)
    without switching to it: the user it prepared for the application."""

    user: str  # a name or a UID, as written (variables expanded)
    group: str  # "" when none was given
    instruction: Instruction


CHOWN_RE = re.compile(r"(?<![\w/-])chown\s+((?:-[\w-]+\s+)*)([^\s;&|]+)")


def prepared_owner(runtime: Runtime) -> Prepared | None:
    """The last non-root owner a COPY/ADD ``--chown`` or a RUN ``chown`` of the chain gives,
    or None. Owners whose variables have no value, and ``--reference``, say nothing."""
    for link in runtime.chain:
        env = runtime.env_of(link)
        for instruction in reversed(link.instructions):
            for owner in owners(instruction):
                try:
                    owner = substitute(owner, env, strict=True)
                except Unresolved:
                    continue
                # chown's older user.group form, when there is no ':'
                user, _, group = owner.partition(":" if ":" in owner else ".")
                if ownable(user):
                    return Prepared(user, group, instruction)
    return None


# The base system's own accounts (Debian's base-passwd, Fedora's setup): files given to them are
# the system's, not prepared for an application. So are UIDs below 100 given by number.
SYSTEM_ACCOUNTS = frozenset(
    {"bin", "daemon", "sys", "adm", "lp", "sync", "shutdown", "halt", "operator", "games", "man"}
    | {"uucp", "news", "proxy", "backup", "list", "irc", "gnats", "ftp", "utmp", "tty", "disk"}
)


def ownable(user: str) -> bool:
    """A user the file may have prepared for its application: a name useradd accepts or a UID
    of 100 and up; never root, never one of the base system's own accounts."""
    if user.isascii() and user.isdigit():
        return int(user) >= 100
    named = USER_NAME_RE.match(user) is not None
    return (
        named
        and not is_root_user(user)
        and not misspelled_root(user)
        and user not in SYSTEM_ACCOUNTS
        and user not in SERVICE_ACCOUNTS - {"nobody"}
    )


def owners(instruction: Instruction) -> list[str]:
    """The owners an instruction gives files to, last first."""
    if instruction.keyword in ("COPY", "ADD"):
        owner = split_flags(instruction.value)[0].get("chown", "")
        return [owner] if owner else []
    if instruction.keyword != "RUN":
        return []
    text = run_text(instruction)
    if "chown" not in text:
        return []
    found = [
        m.group(2)
        for m in CHOWN_RE.finditer(text.replace("\\\n", " "))
        if "--reference" not in m.group(1)
    ]
    return found[::-1]
