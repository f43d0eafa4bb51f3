"""Which user a fixed stage runs as: one the stage used before, one its RUN steps create, one the
base image ships, else a new one (settings.user/uid/gid), never an account of UID 0."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from fixuser.analysis.analyze import Facts
from fixuser.analysis.users import CreatedUser
from fixuser.dockerfile.users import user_part
from fixuser.knowledge.images import ImageInfo, KnownUser
from fixuser.model import FixRefused, WarningRule, WarningText
from fixuser.settings import Settings

NUMERIC_RE = re.compile(r"([0-9]+)(?::([0-9]+))?\Z")  # ASCII digits: what runc reads as a UID


class Choice(NamedTuple):
    """The user the runtime stage will run as."""

    value: str  # written after USER
    owner: str  # for chown and --chown: "10001:10001", or a name when no number is known
    create: bool  # a user block is inserted
    name: str
    uid: int | None
    gid: int | None
    why: str


def owner_of(uid: int | None, gid: int | None, name: str) -> str:
    if uid is None:
        return name
    return f"{uid}:{gid}" if gid is not None else str(uid)


def choose_user(facts: Facts, settings: Settings, warnings: list[WarningText]) -> Choice:
    image, family = facts.image, facts.family
    numeric = settings.user_format == "numeric"

    def reuse(name: str, uid: int | None, gid: int | None, why: str) -> Choice:
        if settings.openshift and uid is not None:
            gid = 0
        value = owner_of(uid, gid, name) if numeric or not name else name
        return Choice(value, owner_of(uid, gid, name), False, name, uid, gid, why)

    root = root_names(facts)
    if facts.earlier_user and user_part(facts.earlier_user) not in root:
        match = NUMERIC_RE.match(facts.earlier_user)
        if match:
            uid, gid = int(match.group(1)), match.group(2)
            return reuse(
                "",
                uid,
                int(gid) if gid else None,
                f"the stage already switched to {facts.earlier_user} before",
            )
        name = facts.earlier_user.split(":")[0]
        refuse_unwritable_user(facts.earlier_user)
        known: list[CreatedUser | KnownUser] = [*facts.created, *image.users]
        for user in known:
            if user.name == name:
                return reuse(name, user.uid, user.gid, f"the stage already used {name} before")
        return Choice(
            facts.earlier_user,
            name,
            False,
            name,
            None,
            None,
            f"the stage already used {name} before",
        )
    created = [u for u in facts.created if u.uid != 0]  # an account of UID 0 is root
    if created:
        user = created[-1]
        return reuse(
            user.name, user.uid, user.gid, f"line {user.instruction.lineno} creates {user.name}"
        )
    if facts.prepared is not None and facts.prepared.user not in root and family != "windows":
        return prepared_user(facts, reuse)
    users = [u for u in image.users if u.uid != 0]
    if users and family != "windows":
        user = users[0]
        return reuse(user.name, user.uid, user.gid, f"the base image ships {user.name}")
    if family == "windows":
        return Choice(
            "ContainerUser",
            "ContainerUser",
            False,
            "ContainerUser",
            None,
            None,
            "Windows images ship ContainerUser",
        )
    if family == "scratch" or (family == "distroless" and not image.shell):
        uid = 65534 if family == "scratch" else 65532
        return Choice(
            f"{uid}:{uid}",
            f"{uid}:{uid}",
            False,
            "",
            uid,
            uid,
            "no passwd database and no shell: a numeric user"
            if family == "scratch"
            else "distroless images ship nonroot (65532)",
        )
    return new_user(image, settings, warnings)


# Accounts every image of these families ships with the same IDs (Debian's nogroup and
# Alpine's nobody group are 65534), so a fix can write them as numbers.
WELL_KNOWN = {
    "nobody": ((65534, 65534), frozenset({"debian", "alpine", "distroless"})),
    "www-data": ((33, 33), frozenset({"debian"})),  # base-passwd's fixed IDs
}


def prepared_user(
    facts: Facts, reuse: Callable[[str, int | None, int | None, str], Choice]
) -> Choice:
    """The user the file gives its files to (``chown nobody /app``, ``COPY --chown=nobody``)
    without switching to it: switch to it rather than create a second one."""
    prepared = facts.prepared
    assert prepared is not None
    why = f"line {prepared.instruction.lineno} gives files to {prepared.user}"
    if prepared.user.isdigit():
        gid = int(prepared.group) if prepared.group.isascii() and prepared.group.isdigit() else None
        return reuse("", int(prepared.user), gid, why)
    known: list[CreatedUser | KnownUser] = [*facts.created, *facts.image.users]
    for user in known:
        if user.name == prepared.user:
            return reuse(user.name, user.uid, user.gid, why)
    ids, families = WELL_KNOWN.get(prepared.user, (None, frozenset()))
    if ids is not None and facts.family in families:
        return reuse(prepared.user, *ids, why)
    return Choice(prepared.user, prepared.user, False, prepared.user, None, None, why)


def root_names(facts: Facts) -> frozenset[str]:
    """Names the stage's chain or its base image gives UID 0 (``useradd -o -u 0 toor``): the
    container would run as root under them, so fixuser never switches to one."""
    users: list[CreatedUser | KnownUser] = [*facts.created, *facts.image.users]
    return frozenset(u.name for u in users if u.uid == 0)


def refuse_unwritable_user(value: str) -> None:
    """An earlier USER fixuser would reuse must stay one word in a USER line and in ``chown``:
    a blank, a line break or a leading '-' (an option to chown) cannot."""
    if value.startswith("-") or any(c.isspace() for c in value):
        raise FixRefused(
            f"the stage's earlier USER {value!r} cannot be written as one word of a USER "
            "line or a chown"
        )


def new_user(image: ImageInfo, settings: Settings, warnings: list[WarningText]) -> Choice:
    """The user fixuser creates: --user/--uid/--gid, the UID moved past any the base image
    already uses (Ubuntu 23.04+'s 1000), group 0 for --openshift."""
    numeric = settings.user_format == "numeric"
    uid, gid = settings.uid, settings.group_id
    taken = {u.uid for u in (*image.reserved, *image.users)}
    while uid in taken:
        warnings.append(
            WarningText(
                WarningRule.UID_TAKEN,
                f"uid {uid} is already used by the base image ({image.evidence}); using {uid + 1}",
            )
        )
        uid, gid = uid + 1, (gid + 1 if settings.gid is None else gid)
    if settings.openshift:
        gid = 0
    value = f"{uid}:{gid}" if numeric else settings.user
    if settings.openshift and numeric:
        value = str(uid)
    return Choice(value, f"{uid}:{gid}", True, settings.user, uid, gid, "created by fixuser")
