"""``fix --lock-users``: the RUN (templates/lock-users.j2) that gives every account with a login
shell but root and the container's user the family's nologin."""

from __future__ import annotations

from fixuser.analysis.accounts import NOT_LOGIN_SHELLS, SAFE_NAME_RE
from fixuser.knowledge import families


def lock_users(
    family: str | None, name: str, uid: int | None, *, lower_case: bool = False, escape: str = "\\"
) -> tuple[str, str]:
    """The RUN that gives every account with a login shell the family's nologin, except root
    and the container's user (``name``, ``uid``), and a note on it; or "" and the warning why
    there is none (``family`` None: the base image has no shell, so no RUN can run)."""
    if family is None:
        return "", "--lock-users: no POSIX shell in the base image, so no RUN can lock its accounts"
    keep_name = name if SAFE_NAME_RE.match(name or "") else ""
    if not keep_name and uid is None:
        return "", f"--lock-users: the user {name!r} has neither a plain name nor a known UID"
    from fixuser.render import render  # jinja2 only when something is fixed

    known = families.family(family)
    text = render(
        "lock-users.j2",
        usermod=known.usermod,
        nologin=list(known.nologin),
        kw={"RUN": "run" if lower_case else "RUN"},
        esc=escape,
        keep_name=keep_name,
        keep_uid=uid,
        not_login=NOT_LOGIN_SHELLS,
    ).strip("\n")
    kept = " and ".join(x for x in (keep_name, "" if uid is None else f"UID {uid}") if x)
    note = f"gives every account with a login shell but root and {kept} nologin (--lock-users)"
    return text + "\n", note
