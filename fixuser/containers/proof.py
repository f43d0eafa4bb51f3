"""The proof of a fix with a real engine, before and after (``fixuser verify``).

For each Dockerfile the original and the fixed text are built (the fixed one from a temporary
file outside the build context), a container of each is run, and the proof compares: the UID of
PID 1 (must be the user fixuser wrote, and not 0), that its name resolves, that WORKDIR and
VOLUMEs are writable by it, that the image did not grow beyond the budget, that an optional
smoke command succeeds in both, and that the account database (/etc/passwd, /etc/shadow,
/etc/group) changed only by the user fixuser adds and, with ``--lock-users``, the shells it
locks; the report lists the accounts the fixed image does not need (as ``audit --users``).
``prove()`` is the same proof for ``fix --verify`` and ``batch --verify``, which call it
before committing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
from pathlib import Path
from typing import Literal

from fixuser.analysis import accounts
from fixuser.containers.engine import (
    Behaviour,
    BuildOptions,
    Engine,
    EngineError,
    ImageConfig,
    RuntimeUser,
    find_engine,
)
from fixuser.knowledge import families
from fixuser.knowledge.paths import SYSTEM_DIRS, under

# Growth budget for the families with a shell (families.toml): 1 % of the original or 100 KB,
# whichever is larger.
GROWTH_FRACTION = 0.01
GROWTH_FLOOR = 100 * 1000
RUN_SECONDS = 10.0  # how long each container runs with its own ENTRYPOINT/CMD
# Output lines that say the process was refused something: a new one after the fix is a fix
# that took a permission away from the application.
DENIED_RE = re.compile(
    r"permission denied|operation not permitted|\beacces\b|read-only file system", re.IGNORECASE
)
# What the engine itself writes into every container: not the application's doing.
# podman also adds the container's UID and GID to /etc/passwd and /etc/group when the image
# has no entry for them (USER 000:1000).
ENGINE_PATHS = (
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/run/.containerenv",
    "/etc/passwd",
    "/etc/group",
)
ENGINE_TREES = ("/proc/", "/sys/", "/dev/", "/run/secrets/")
ENGINE_DIRS = frozenset({"/", "/etc", "/run", "/proc", "/sys", "/dev"})
TAG_REPOSITORY = "localhost/fixuser-verify"

Status = Literal["proven", "failed", "unprovable", "unchanged"]


@dataclasses.dataclass(frozen=True)
class Side:
    """One build and run: the original or the fixed Dockerfile."""

    built: bool
    seconds: float = 0.0
    size: int = 0
    user: RuntimeUser | None = None
    config: ImageConfig | None = None
    smoke_ok: bool | None = None
    errors: tuple[str, ...] = ()
    behaviour: Behaviour | None = None  # its own ENTRYPOINT/CMD, run as a user would
    accounts: dict[str, str] | None = None  # /etc/passwd, /etc/shadow, /etc/group: their text


@dataclasses.dataclass(frozen=True)
class Proof:
    path: Path
    status: Status
    before: Side
    after: Side | None
    expected_user: str | None
    reasons: tuple[str, ...] = ()  # why it failed or could not be proven
    stage: str | None = None  # the stage built, named when a file ships several

    @property
    def ok(self) -> bool:
        return self.status in ("proven", "unchanged")

    @property
    def growth(self) -> int:
        return self.after.size - self.before.size if self.after else 0


def is_system_dir(path: str) -> bool:
    """System directories are never chowned by fixuser, so nobody expects them writable."""
    return posixpath.normpath(path) in SYSTEM_DIRS


def growth_budget(before_size: int) -> int:
    return max(int(before_size * GROWTH_FRACTION), GROWTH_FLOOR)


def image_tag(path: Path, which: str, text: bytes, stage: str | None = None) -> str:
    """The tag of a build: one per file, text and stage built (--keep-images keeps each)."""
    key = os.fsencode(path.resolve()) + b"\0" + text
    if stage is not None:
        key += b"\0" + stage.encode(errors="surrogateescape")
    digest = hashlib.sha256(key).hexdigest()[:12]
    return f"{TAG_REPOSITORY}:{which}-{digest}"


def build_and_run(
    engine: Engine,
    text: bytes,
    context_dir: Path,
    tag: str,
    options: BuildOptions,
    smoke: str | None,
    run_seconds: float,
    original: Side | None = None,
) -> Side:
    try:
        try:
            build = engine.build(text, context_dir, tag, options)
        except EngineError:
            # Once more, from the layer cache: a package mirror's hiccup is not a broken fix,
            # and a Dockerfile that really does not build fails the same way again.
            build = engine.build(text, context_dir, tag, options)
    except EngineError as e:
        return Side(built=False, errors=(str(e), *e.lines))
    behaviour = None
    try:
        config = engine.image_config(tag)
        pid1 = None
        if engine.runs_containers and run_seconds > 0:
            behaviour = engine.behave(tag, run_seconds)
            pid1 = (
                (behaviour.pid1_uid, f"/proc/1/status after {behaviour.seconds:.0f} s running")
                if behaviour.pid1_uid is not None
                else (None, "exited before PID 1 could be read: judged by its exit and log")
            )
        must_write = written_paths(original, config) if original is not None else []
        user = engine.runtime_user(tag, config, must_write, pid1)
        smoke_ok: bool | None = None
        errors: tuple[str, ...] = ()
        if smoke:
            done = engine.smoke(tag, smoke, user.has_shell)
            smoke_ok = done.returncode == 0
            if not smoke_ok:
                errors = (f"smoke command exited {done.returncode}", *done.error_lines())
        files = engine.read_files(tag, accounts.ACCOUNT_FILES)
        texts = {p: v.decode(errors="replace") for p, v in files.items() if isinstance(v, bytes)}
    except EngineError as e:
        return Side(True, build.seconds, build.size, errors=(str(e), *e.lines), behaviour=behaviour)
    return Side(True, build.seconds, build.size, user, config, smoke_ok, errors, behaviour, texts)


def account_changes(before: Side, after: Side) -> accounts.Changes | None:
    """How the fix changed the account database (None: not read on both sides)."""
    if before.accounts is None or after.accounts is None or after.user is None:
        return None
    return accounts.changes(
        before.accounts, after.accounts, own_uid=after.user.uid, own_name=after.user.name
    )


def unneeded(side: Side | None) -> accounts.Review | None:
    """The accounts of an image it does not need, as ``audit --users`` lists them."""
    if side is None or side.accounts is None or "/etc/passwd" not in side.accounts:
        return None
    uid = side.user.uid if side.user else None
    return accounts.review(
        side.accounts["/etc/passwd"], side.accounts.get("/etc/shadow", ""), own_uid=uid
    )


def written_paths(original: Side, fixed: ImageConfig | None = None) -> list[str]:
    """What a user must be able to write to make the changes the original container made:
    the directory of each path it added or deleted (not one it added itself), and each path
    it changed that is no directory of another change (a file it rewrote). When the fix moved
    HOME (root's /root to the user's own), what the original wrote below its HOME is written
    below the new one: that HOME must be writable instead."""
    behaviour = original.behaviour
    if behaviour is None:
        return []
    workdir = original.config.workdir if original.config else ""
    changes = [
        (k, p)
        for k, p in behaviour.changes
        if not engine_made(p) and not (k == "A" and made_for_workdir(p, workdir))
    ]
    old_home = original.config.home if original.config else ""
    new_home = fixed.home if fixed else ""
    moved = bool(old_home and new_home and old_home != new_home and old_home != "/")
    if moved:
        below = [(k, p) for k, p in changes if p == old_home or p.startswith(old_home + "/")]
        changes = [c for c in changes if c not in below]
        if below:
            changes.append(("A", posixpath.join(new_home, ".fixuser-home")))
    added = {p for k, p in changes if k == "A"}
    parents = {posixpath.dirname(p) for _, p in changes}
    needed: dict[str, None] = {}
    for kind, path in changes:
        if kind in ("A", "D"):
            parent = posixpath.dirname(path)
            if parent not in added:
                needed[parent] = None
        elif path not in parents:
            needed[path] = None
    return list(needed)


def made_for_workdir(path: str, workdir: str) -> bool:
    """The WORKDIR, or a directory above it, that the engine creates when the container
    starts because the image lacks it (podman does; the application has not run yet)."""
    return bool(workdir) and (path == workdir or workdir.startswith(path.rstrip("/") + "/"))


def engine_made(path: str) -> bool:
    """Made by the engine: its mounts (/etc/hosts, ...) and the directories holding them,
    which a diff lists as changed even when the application wrote nothing there."""
    return path in ENGINE_PATHS or path in ENGINE_DIRS or (path + "/").startswith(ENGINE_TREES)


def behaviour_reasons(before: Behaviour | None, after: Behaviour | None) -> list[str]:
    """Every way the fixed container behaves worse than the original, run the same way."""
    if before is None or after is None or not before.ok:
        return []  # nothing to compare with: no engine that runs, or the original fails
    if not after.started:
        return [f"the fixed container does not start: {after.error}"]
    reasons: list[str] = []
    if not after.ok:
        if before.running:
            reasons.append(
                f"the fixed container exited {after.exit_code} after {after.seconds:.1f} s, "
                f"where the original kept running {before.seconds:.0f} s"
            )
        else:
            reasons.append(f"the fixed container exited {after.exit_code}; the original exited 0")
        reasons += [f"  {line}" for line in after.log[-10:]]
    elif before.running and not after.running:
        reasons.append(
            f"the fixed container stopped (exit 0) after {after.seconds:.1f} s, where the "
            f"original kept running {before.seconds:.0f} s"
        )
    had = {line.strip() for line in before.log if DENIED_RE.search(line)}
    gained = [line for line in after.log if DENIED_RE.search(line) and line.strip() not in had]
    if gained:
        reasons.append("the fixed container's output gains lines the original's lacks:")
        reasons += [f"  {line}" for line in gained[:10]]
    return reasons


def expected_uid(expected_user: str | None) -> tuple[int | None, str | None]:
    """The uid (or name) the fix wrote in USER, to compare with what PID 1 runs as."""
    if not expected_user:
        return None, None
    user = expected_user.partition(":")[0]
    return (int(user), None) if user.isascii() and user.isdigit() else (None, user)


def judge(
    before: Side,
    after: Side,
    expected_user: str | None,
    family: str | None,
    require_writable: bool,
    smoke: str | None,
    *,
    lock_users: bool = False,
) -> list[str]:
    """Every reason the fixed image fails its proof (empty: proven)."""
    if not after.built:
        return ["the fixed Dockerfile does not build", *after.errors]
    user = after.user
    if user is None or user.uid is None:
        return ["cannot tell which user the fixed image runs as", *after.errors]
    reasons: list[str] = []
    if user.uid == 0:
        reasons.append("the fixed image still runs as root (UID 0)")
    want_uid, want_name = expected_uid(expected_user)
    if want_uid is not None and user.uid != want_uid:
        reasons.append(f"PID 1 runs as UID {user.uid}, not the {want_uid} fixuser wrote")
    if want_name is not None and user.name != want_name:
        reasons.append(f"PID 1 runs as {user.name or user.uid}, not the {want_name} fixuser wrote")
    if user.name is None and family != "scratch":
        # scratch has no /etc/passwd unless the Dockerfile adds one; a numeric UID runs without.
        reasons.append(f"UID {user.uid} has no entry in the image's /etc/passwd")
    # The WORKDIR and VOLUMEs (the probe also answers for the paths the original wrote).
    own = {after.config.workdir, *after.config.volumes} if after.config else set(user.writable)
    if require_writable:
        for path, ok in user.writable.items():
            if path in own and not ok and not is_system_dir(path):
                reasons.append(f"{path} (WORKDIR/VOLUME) is not writable by UID {user.uid}")
    if family not in families.without_shell() and after.size - before.size > growth_budget(
        before.size
    ):
        reasons.append(
            f"the image grew by {human(after.size - before.size)}, over the budget of "
            f"{human(growth_budget(before.size))}"
        )
    if smoke and before.smoke_ok and not after.smoke_ok:
        reasons += ["the smoke command fails in the fixed image", *after.errors]
    reasons += behaviour_reasons(before.behaviour, after.behaviour)
    changed = account_changes(before, after)
    if changed is not None:
        reasons += [f"the account database changed: {p}" for p in changed.problems]
    found = unneeded(after) if lock_users else None
    for account in found.flagged if found else ():
        if "shell" in account.why:
            reasons.append(f"--lock-users left a login shell: {account.text()}")
    for path in written_paths(before, after.config):
        if (require_writable and path in own) or is_tmp(path):
            continue  # already judged above, or everybody's
        if not user.writable.get(path, True):
            reasons.append(f"{path}: the original container wrote there, and UID {user.uid} cannot")
    return reasons


def is_tmp(path: str) -> bool:
    return under(path, "/tmp") or under(path, "/var/tmp")


def prove(
    path: Path,
    original: bytes,
    fixed: bytes,
    context_dir: Path,
    *,
    engine: Engine | None = None,
    expected_user: str | None = None,
    family: str | None = None,
    options: BuildOptions | None = None,
    smoke: str | None = None,
    require_writable: bool = True,
    keep_images: bool = False,
    run_seconds: float | None = None,
    lock_users: bool = False,
) -> Proof:
    """Build and run ``original`` and ``fixed`` (Dockerfile texts) and judge the fix.

    Raises NoEngineError when no engine answers. Status "unprovable" when the original itself
    does not build or run here (nothing to compare with), "failed" when the fix does not hold.
    """
    engine = engine or find_engine()
    options = options or BuildOptions()
    run_seconds = RUN_SECONDS if run_seconds is None else run_seconds
    before_tag = image_tag(path, "before", original, options.target)
    after_tag = image_tag(path, "after", fixed, options.target)
    try:
        before = build_and_run(
            engine, original, context_dir, before_tag, options, smoke, run_seconds
        )
        if not before.built:
            return Proof(
                path,
                "unprovable",
                before,
                None,
                expected_user,
                ("the original Dockerfile does not build here", *before.errors),
            )
        if original == fixed:
            status: Status = "unchanged"
            return Proof(path, status, before, None, expected_user)
        after = build_and_run(
            engine,
            fixed,
            context_dir,
            after_tag,
            options,
            smoke,
            run_seconds,
            before,
        )
        reasons = judge(
            before, after, expected_user, family, require_writable, smoke, lock_users=lock_users
        )
        if smoke and before.smoke_ok is False:
            reasons.append("the smoke command already fails in the original image")
            return Proof(path, "unprovable", before, after, expected_user, tuple(reasons))
        return Proof(
            path, "failed" if reasons else "proven", before, after, expected_user, tuple(reasons)
        )
    finally:
        if not keep_images:
            engine.remove_image(before_tag)
            engine.remove_image(after_tag)


def human(size: int) -> str:
    """Sizes the way engines print them (decimal units)."""
    sign, value = ("-" if size < 0 else ""), float(abs(size))
    if value < 1000:
        return f"{sign}{value:.0f} B"
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{sign}{value:.1f} {unit}"
