"""What a reviewer reads about a fix: the commit message and the PR/MR description.

Both are rendered from the same values (``file_values``): the commit message as plain text
(``templates/commit-message.j2``), the description as Markdown (``templates/pull-request.md.j2``).
A commit message has no line starting with ``#``: git's default cleanup, on every
``git commit --amend``, ``rebase -i`` reword or squash that opens an editor, strips such lines
as comments, so a Markdown heading would silently vanish from the history.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fixuser.escape import pasted_word
from fixuser.knowledge import families
from fixuser.model import Change, FixResult
from fixuser.render import render

if TYPE_CHECKING:
    from fixuser.core import Build
    from fixuser.project.model import Mount, Port

NUMERIC_RE = re.compile(r"^(\d+)(?::\d*)?$")
# No /proc/1/status to `docker exec cat` in: the PID 1 check reads it on the host instead.
SHELL_LESS = families.without_shell()
COMMENT_START_RE = re.compile(r"^#", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class FileFix:
    """A Dockerfile of a repository and its fix, as a reviewer reads about it."""

    path: str  # repository-relative, posix
    result: FixResult
    # What the repository's compose files do with the image at run time: the mounts its user
    # must be able to write, and the container ports below 1024 it publishes.
    mounts: tuple[Mount, ...] = ()
    low_ports: tuple[Port, ...] = ()
    # The images that prove the fix (fixuser.core.builds): one per stage the repository ships.
    builds: tuple[Build, ...] = ()


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1 repository``, ``3 repositories``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def title(n: int) -> str:
    """The commit subject (and review title) for a fix of ``n`` Dockerfiles."""
    return f"Run {'container' if n == 1 else 'containers'} as a non-root user (CIS Docker 4.1)"


# The subject of a commit that only keeps files as root (the session's "keep as root").
KEPT_TITLE = "Keep a container as root on purpose (# fixuser: ignore)"


def uid_of(change: Change) -> int | None:
    """The UID the fixed image runs as: the one fixuser chose for its USER (a base image's
    node 1000, distroless 65532, scratch 65534, a reused user's own, the created one), or the
    number USER names; None when USER is a name whose number fixuser does not know."""
    if change.uid is not None:
        return change.uid
    match = NUMERIC_RE.match(change.user)
    return int(match[1]) if match else None


def build_context(path: str) -> str:
    """The Dockerfile's directory, as the last argument of ``docker build``: ``./`` in front
    of a name starting with ``-``, which docker would take for an option."""
    context = os.path.dirname(path) or "."
    return f"./{context}" if context.startswith("-") else context


def values(path: str, result: FixResult) -> dict[str, Any]:
    """What the templates say about one fix. Values from the repository are raw: each
    template escapes them for where it writes them (fixuser.render.FILTERS)."""
    analysis, change = result.analysis, result.change
    assert change is not None
    return {
        "path": path,
        "context": build_context(path),
        # A named runtime stage is built by name: with --target it is not the last stage, and
        # naming the last one builds the same image.
        "target": None if analysis.stage.isdigit() else analysis.stage,
        "family": analysis.family,
        "base_image": analysis.base_image,
        "evidence": analysis.evidence,
        "before": analysis.user,
        "user": change.user,
        "uid": uid_of(change),
        "name": change.user.split(":")[0],
        "windows": analysis.family == "windows",
        "shell_less": analysis.family in SHELL_LESS,
        "created_user": change.created_user,
        "chowned": change.chowned,
        "notes": change.notes,
        "warnings": analysis.warnings,
        # --strategy entrypoint: no USER; the wrapper hands these paths over, then drops.
        "strategy": change.strategy,
        "wrapper": change.wrapper,
        "handed": change.handed,
        # What the repository builds of the file (compose, workflows, ...), when it says.
        "targets": [{"stage": t.stage, "source": t.source} for t in analysis.targets],
        # the session's "keep as root": a pragma added, no user (fixuser.core.keep)
        "kept": change.strategy == "keep",
        # What the image is for (fixuser.project.roles): shown when something says it.
        "role": analysis.role._asdict(),
    }


# Mount targets the image's user reads at most: configuration, the kernel's, sockets.
READ_ONLY_TARGETS = ("/etc/", "/proc/", "/sys/", "/dev/", "/usr/")
OWNER_RE = re.compile(r"^(\d+):(\d+)$")


def owner(change: Change) -> str | None:
    """``UID:GID`` for chown when both are known, ``UID`` when only the UID is (chown then
    keeps the group), None for a name fixuser cannot number."""
    match = OWNER_RE.match(change.user)
    if match:
        return f"{match[1]}:{match[2]}"
    uid = uid_of(change)
    return None if uid is None else str(uid)


def must_write(mount: Mount) -> bool:
    """Whether the image's user may need to write the mount: read-write, and neither
    configuration nor a socket nor a file of the kernel."""
    target = mount.target.rstrip("/") + "/"
    return not (
        mount.read_only or target.startswith(READ_ONLY_TARGETS) or target.endswith(".sock/")
    )


# What a pasted command cannot know, asked of whoever runs it: the shell stops with this
# message (and runs nothing) until the variable is set. The messages are constant: the word
# of ${VAR:?word} is expanded by the shell, so no name from the repository goes in it.
UNKNOWN_UID = '"${APP_UID:?set APP_UID to the UID of the image user}"'
COMPOSE_PROJECT = '"${COMPOSE_PROJECT_NAME:?set COMPOSE_PROJECT_NAME to the compose project}"'


def mount_command(mount: Mount, owner_word: str, shell_less: bool) -> str:
    """The command that hands ``mount`` to the image's user: a line people paste, so every
    value from the repository in it is one shell word (fixuser.escape.pasted_word)."""
    if mount.kind == "bind":
        source = f"./{mount.host_path}" if mount.host_path else mount.source
        return f"sudo chown -R {owner_word} {pasted_word(source)}"
    if shell_less:  # no chown in the image: a throwaway container that has one
        volume = COMPOSE_PROJECT + pasted_word(f"_{mount.source}:/volume")
        return f"docker run --rm -v {volume} busybox chown -R {owner_word} /volume"
    compose = "" if "/" not in mount.file else f" -f {pasted_word(mount.file)}"
    return (
        f"docker compose{compose} run --rm --no-deps --user 0 --entrypoint chown "
        f"{pasted_word(mount.service)} -R {owner_word} {pasted_word(mount.target)}"
    )


def mount_values(fix: FileFix, who: str | None, shell_less: bool) -> list[dict[str, Any]]:
    """Each mount the fixed image's user must write, with the command that hands it over."""
    owner_word = who or UNKNOWN_UID
    found = []
    for m in fix.mounts:
        if not must_write(m):
            continue
        command = mount_command(m, owner_word, shell_less)
        found.append(
            {
                "service": m.service,
                "source": m.source,
                "target": m.target,
                "kind": m.kind,
                "where": f"{m.file}:{m.line}",
                "command": command,
            }
        )
    return found


def file_values(fix: FileFix) -> dict[str, Any]:
    """The values of one fixed file both templates use: the fix, and what the repository's
    compose files do with the image (mounts to hand over, low ports to move)."""
    found = values(fix.path, fix.result)
    change = fix.result.change
    assert change is not None
    if found["kept"]:  # still root: no mount to hand over, no port to move
        return {**found, "mounts": [], "low_ports": []}
    found["mounts"] = mount_values(fix, owner(change), found["shell_less"])
    found["low_ports"] = [
        {
            "service": p.service,
            "port": p.port,
            "protocol": p.protocol,
            "where": f"{p.file}:{p.line}",
        }
        for p in fix.low_ports
    ]
    return found


def description(fixes: Sequence[FileFix], branch: str, overrides: Sequence[str] = ()) -> str:
    """The PR/MR description (Markdown). ``overrides``: the repository's run-time settings
    that undo a USER (``compose.yaml:10: service worker runs as root (user: root)``)."""
    files = [file_values(f) for f in fixes]
    return render(
        "pull-request.md.j2", files=files, branch=branch, count=count, overrides=overrides
    )


def commit_message(
    fixes: Sequence[FileFix],
    *,
    branch: str | None = None,
    remote: bool = False,
    batch: bool = False,
    signoff: str | None = None,
    overrides: Sequence[str] = (),
) -> str:
    """The commit message: plain text, ending in the ``Fixed-by`` trailer (and sign-off).

    ``branch``: the verify steps switch to it (``remote``: fetch it from origin first).
    """
    files = [file_values(f) for f in fixes]
    text = render(
        "commit-message.j2",
        title=title(len(files)) if not all(f["kept"] for f in files) else KEPT_TITLE,
        files=files,
        branch=branch,
        remote=remote,
        batch=batch,
        signoff=signoff,
        count=count,
        overrides=overrides,
    )
    # The template starts no line with "#"; a value might (a directory named "#ops"): one
    # space in front keeps that line through git's cleanup.
    return COMMENT_START_RE.sub(" #", text)
