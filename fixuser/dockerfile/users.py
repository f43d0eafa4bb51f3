"""What a USER value means to the runtime: root by any spelling (Go's strconv.Atoi reads the user
part), a misspelled root (no such user), the user part of user:group."""

from __future__ import annotations

import re

# Go's strconv.Atoi, which the runtime (runc's user lookup) uses on the user part of USER: an
# optional sign and decimal digits. When it succeeds the part is a UID, whatever passwd says.
ATOI_RE = re.compile(r"[+-]?[0-9]+\Z")


ATOI_LIMIT = 2**63  # Atoi fails past int64: the part is then looked up as a name


def user_part(user: str) -> str:
    """The user of a ``USER user[:group]`` value."""
    return user.split(":", 1)[0].strip()


def numeric_uid(part: str) -> int | None:
    """The UID the runtime reads ``part`` as, or None when it is a name (strconv.Atoi)."""
    if not ATOI_RE.match(part):
        return None
    value = int(part)
    return value if -ATOI_LIMIT <= value < ATOI_LIMIT else None


def is_root_user(user: str) -> bool:
    """Runs as UID 0: ``root`` (names are case-sensitive), any number Atoi reads as 0 (``0``,
    ``000``, ``+0``, ``-0``), with any group; and Windows' ``ContainerAdministrator`` (Windows
    account names are case-insensitive). hadolint DL3002 agrees on ``root``, ``0``, ``root:*``
    and ``0:*``."""
    part = user_part(user)
    uid = numeric_uid(part)
    if uid is not None:
        return uid == 0
    return part == "root" or part.lower() == "containeradministrator"


def user_is_root(value: str) -> bool:
    """A USER instruction's expanded value runs as root: is_root_user, or an empty user
    (``USER $UNSET``, ``USER :1000``): the image's user is reset and the runtime starts the
    container as UID 0."""
    return not user_part(value) or is_root_user(value)


def misspelled_root(user: str) -> bool:
    """``ROOT``, ``Root``: no such user on Linux (passwd names are case-sensitive), so the
    container does not start at all."""
    part = user_part(user)
    return part.lower() == "root" and part != "root"
