"""Settings: built once from defaults, ``[tool.fixuser]`` and CLI flags, then frozen."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from fixuser.errors import FixuserError
from fixuser.model import DEFAULT_ROLES, ROLES

UserFormat = Literal["numeric", "name"]
Ownership = Literal["app", "read-only"]
Strategy = Literal["user", "entrypoint"]

# \Z, not $: "$" also matches before a final newline, and "app\n" is no user name.
USER_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
ID_RE = re.compile(r"[0-9]+\Z")  # ASCII only: int() also takes Arabic-Indic digits, " 10 ", "1_0"
MAX_ID = 2**31 - 2
# The branch fix --commit, the session and batch commit to, unless told otherwise.
DEFAULT_BRANCH = "fixuser/cis-4.1-non-root-user"


class SettingsError(FixuserError, ValueError):
    """A setting has a value fixuser cannot use."""


class SettingsFields(NamedTuple):
    user: str = "app"
    uid: int = 10001
    gid: int | None = None
    user_format: UserFormat = "numeric"
    target: str | None = None
    ownership: Ownership = "app"
    openshift: bool = False
    force: bool = False
    # "user": a USER directive; "entrypoint": the image starts as root, a wrapper hands the
    # volumes and ``writable`` paths to the user, then execs the command as that user.
    strategy: Strategy = "user"
    writable: tuple[str, ...] = ()  # absolute paths the user must be able to write
    lock_users: bool = False  # nologin for every other account with a login shell
    # gitignore-like globs over repository-relative paths: Dockerfiles no run considers
    # (fixuser.tree.exclude)
    exclude: tuple[str, ...] = ()
    # (image reference, its config User) for base images the image table does not know, read
    # by the command layer from an engine's local image store (check --inspect-images); ""
    # is root. Not a [tool.fixuser] key: the store, not a file, says it.
    image_users: tuple[tuple[str, str], ...] = ()
    # The roles fix fixes and check fails on (--roles); fixuser.model.ROLES names them all.
    fix_roles: tuple[str, ...] = DEFAULT_ROLES
    # (glob, role): the role of the Dockerfiles whose repository path matches (--role
    # ROLE=GLOB, ``roles = {GLOB = ROLE}``); the last match wins.
    roles: tuple[tuple[str, str], ...] = ()


class Settings(SettingsFields):
    """Validated when made: a Settings that exists is one fixuser can use."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls, *args, **kwargs)
        validate_user_name(self.user)
        uid = parse_id(self.uid, "uid")
        gid = None if self.gid is None else parse_id(self.gid, "gid")
        if self.user_format not in ("numeric", "name"):
            raise SettingsError(f"user-format must be numeric or name, not {self.user_format!r}")
        if self.ownership not in ("app", "read-only"):
            raise SettingsError(f"ownership must be app or read-only, not {self.ownership!r}")
        if self.strategy not in ("user", "entrypoint"):
            raise SettingsError(f"strategy must be user or entrypoint, not {self.strategy!r}")
        if not isinstance(self.lock_users, bool):
            raise SettingsError(f"lock-users must be true or false, not {self.lock_users!r}")
        validate_image_users(self.image_users)
        paths = validate_writable(self.writable)
        exclude = validate_exclude(self.exclude)
        fix_roles = validate_fix_roles(self.fix_roles)
        roles = validate_roles(self.roles)
        # A list (from [tool.fixuser] or argparse), "/data/", or an id given as text (a flag)
        if (
            paths != self.writable
            or exclude != self.exclude
            or uid is not self.uid
            or gid is not self.gid
            or fix_roles != self.fix_roles
            or roles != self.roles
        ):
            values = {"writable": paths, "exclude": exclude, "uid": uid, "gid": gid}
            values.update(fix_roles=fix_roles, roles=roles)
            return super().__new__(cls, **{**self._asdict(), **values})
        return self

    @property
    def group_id(self) -> int:
        return self.uid if self.gid is None else self.gid

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated (NamedTuple's own _replace would skip that)."""
        return Settings(**{**self._asdict(), **changes})


FIELDS = frozenset(SettingsFields._fields) - {"image_users"}


def validate_user_name(name: object) -> None:
    if not isinstance(name, str) or not USER_NAME_RE.match(name):
        raise SettingsError(
            f"user name {name!r} is not a portable POSIX user name "
            "(lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32)"
        )
    from fixuser.dockerfile.users import is_root_user

    if is_root_user(name):
        raise SettingsError(f"user name {name!r} is root's (UID 0): name a user that is not root")


def parse_id(value: object, what: str) -> int:
    """A UID or GID: a whole number, or its ASCII digits (as a flag gives it)."""
    if isinstance(value, str) and ID_RE.match(value):
        value = int(value)
    validate_id(value, what)
    assert isinstance(value, int)
    return value


def validate_id(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise SettingsError(f"{what} must be a whole number from 1 to {MAX_ID}, not {value!r}")


def validate_fix_roles(value: object) -> tuple[str, ...]:
    """``--roles service,dev,test`` or a list of role names."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise SettingsError(f"roles to fix must be a list of role names, not {value!r}")
    out = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    for name in out:
        if name not in ROLES:
            raise SettingsError(f"role {name!r} is not one of {', '.join(ROLES)}")
    return out


def validate_roles(value: object) -> tuple[tuple[str, str], ...]:
    """Role overrides: ``{GLOB = ROLE}`` ([tool.fixuser] roles), ``ROLE=GLOB`` texts (each
    --role), or (glob, role) pairs; as (glob, role) pairs."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = []
        for item in value:
            if isinstance(item, str):
                role, equals, glob = item.partition("=")
                if not equals or not glob:
                    raise SettingsError(f"--role takes ROLE=GLOB, not {item!r}")
                pairs.append((glob, role))
            elif isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise SettingsError(f"a role override must be ROLE=GLOB, not {item!r}")
    else:
        raise SettingsError(f"roles must be a table of GLOB = ROLE, not {value!r}")
    for glob, role in pairs:
        if not isinstance(glob, str) or not glob or role not in ROLES:
            raise SettingsError(
                f"role override {glob!r} = {role!r}: the role is one of {', '.join(ROLES)}"
            )
    return tuple((str(glob), str(role)) for glob, role in pairs)


WRITABLE_RE = re.compile(r"/[A-Za-z0-9._@+/-]*\Z")


def validate_image_users(pairs: object) -> None:
    if not isinstance(pairs, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in pairs
    ):
        raise SettingsError(f"image users must be (image, user) pairs, not {pairs!r}")


def validate_writable(paths: object) -> tuple[str, ...]:
    """``--writable`` paths: absolute, plain characters, and no system directory."""
    if paths == ():
        return ()
    from fixuser.knowledge.paths import SYSTEM_DIRS, normalise

    if isinstance(paths, str) or not isinstance(paths, list | tuple):
        raise SettingsError(f"writable must be a list of absolute paths, not {paths!r}")
    out: list[str] = []
    for path in paths:
        if not isinstance(path, str) or not WRITABLE_RE.match(path) or "/../" in path + "/":
            raise SettingsError(
                f"writable path {path!r} must be absolute, of letters, digits and ._@+-/"
            )
        path = normalise(path)
        if path in SYSTEM_DIRS:
            raise SettingsError(f"writable path {path} is a system directory: name one below it")
        if path not in out:
            out.append(path)
    return tuple(out)


def validate_exclude(patterns: object) -> tuple[str, ...]:
    """``--exclude`` globs (fixuser.tree.exclude): text, without gitignore's ``!`` negation."""
    if patterns == ():
        return ()
    if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
        raise SettingsError(f"exclude must be a list of globs, not {patterns!r}")
    out: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip("/") or "\0" in pattern:
            raise SettingsError(f"exclude pattern {pattern!r} must be a non-empty glob")
        if pattern.startswith("!"):
            raise SettingsError(
                f"exclude pattern {pattern!r}: negation (!) is not supported; "
                "exclude only what you mean to keep"
            )
        if pattern not in out:
            out.append(pattern)
    return tuple(out)


def read_table(data: bytes, source: str) -> dict[str, Any]:
    """The ``[tool.fixuser]`` table of a pyproject.toml's bytes, its keys as Settings' fields
    (empty when it has none). ``source`` names the file in the one-line SettingsError."""
    import tomllib  # only when there is a pyproject.toml: check should start fast

    try:
        document = tomllib.loads(data.decode())
    except ValueError as e:  # a TOMLDecodeError, or bytes that are not UTF-8
        raise SettingsError(f"{source}: cannot read [tool.fixuser]: {e}") from e
    tool = document.get("tool", {})
    table = tool.get("fixuser", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise SettingsError(f"{source}: [tool.fixuser] must be a table")
    return normalise_keys(table, source)


def normalise_keys(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise SettingsError(f"{source}: unknown setting {key!r}")
        out[name] = value
    return out


def build_settings(
    cli: Mapping[str, Any] | None = None,
    table: Mapping[str, Any] | None = None,
    base: Settings | None = None,
) -> Settings:
    """Defaults (or ``base``), then ``table`` (a ``[tool.fixuser]``, from ``read_table``), then
    explicit CLI flags. fixuser.tree.config finds and reads the table of a directory.

    ``cli`` holds only the flags the user actually gave (``None`` values are ignored), so a
    repository's own table never overrides an explicit flag.
    """
    values: dict[str, Any] = dict(table or {})
    given = {k: v for k, v in (cli or {}).items() if v is not None}
    if "exclude" in given:  # --exclude adds to the table's list: both are the team's choices
        before = validate_exclude(values.get("exclude", (base or Settings()).exclude))
        given["exclude"] = [*before, *given["exclude"]]
    values.update(given)
    try:
        return (base or Settings()).replace(**values)
    except TypeError as e:
        raise SettingsError(str(e)) from e
