"""What the kernel says about the verdicts that decide whether fixuser may add a USER.

Each test builds real images and reads who PID 1 of a running container is (the ``Uid:`` line of
its /proc/1/status, as CIS 4.1 audits it), or the exit status and log of a container that cannot
start: UID 0 in every spelling is root and the fix is not; ``USER ROOT`` names no user, so the
container never runs; strings inside a program are not a privilege drop; a daemon that drops
privileges by its own flag ends non-root; and a stage that needs root breaks under a plain USER.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixuser.containers.engine import Engine, parse_status_uid
from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.settings import Settings
from fixuser.tree.fileio import directory_reader
from testing.engine import RUN_ID, SAMPLES, build_tagged, needs_mirror, start_container

DEBIAN = "docker.io/library/debian:bookworm-slim"
ALPINE = "docker.io/library/alpine:3.20"
FIXED_UID = 10001  # Settings().uid: the user every fix below must run as
SLEEP = 'CMD ["sleep", "60"]\n'


def tag_for(name: str) -> str:
    return f"localhost/fixuser-test/apps-{name}:{RUN_ID}"


def build(engine: Engine, images: list[str], text: bytes, context: Path, name: str) -> str:
    return build_tagged(engine, images, text, context, tag_for(name))


def running(engine: Engine, container: str) -> tuple[bool, int]:
    """(whether the container runs, its exit code)."""
    state = engine.command(
        ["inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", container]
    ).stdout.split()
    return state[0] == "true", int(state[1])


def pid1_status(engine: Engine, container: str) -> str:
    """/proc/1/status of the running ``container``, read by the kernel's own file."""
    status = engine.container_status(container)
    assert status is not None, f"{container} is not running: {logs(engine, container)}"
    return status


def logs(engine: Engine, container: str) -> str:
    done = engine.command(["logs", container], check=False)
    return (done.stdout + done.stderr).strip()


def pid1_uid(engine: Engine, image: str, label: str, *argv: str) -> int | None:
    """The effective UID of PID 1 of a detached container of ``image`` (run with ``argv``)."""
    container = start_container(engine, image, label, argv=argv)
    try:
        return parse_status_uid(pid1_status(engine, container))
    finally:
        engine.remove_container(container)


# --- UID 0 in every spelling --------------------------------------------------------------

# The runtime reads the user part as a number (Atoi): each of these is UID 0.
ROOT_SPELLINGS = {
    "000": "USER 000\n",
    "plus-0-with-group": "USER +0:1000\n",
    "00-from-an-arg": "ARG U=00\nUSER ${U}:1000\n",
}


@pytest.mark.engine
@pytest.mark.parametrize("spelling", sorted(ROOT_SPELLINGS))
def test_user_0_spelled_any_way_really_runs_as_uid_0_and_the_fix_runs_as_10001(
    spelling: str,
    running_engine: Engine,
    images: list[str],
    session_label: str,
    tmp_path: Path,
) -> None:
    original = f"FROM {DEBIAN}\n{ROOT_SPELLINGS[spelling]}{SLEEP}".encode()
    assert check(original, Settings()).verdict is Verdict.ROOT
    result = fix(original, Settings())
    assert result.change is not None and result.change.user == f"{FIXED_UID}:{FIXED_UID}"

    before = build(running_engine, images, original, tmp_path, f"zero-{spelling}")
    assert pid1_uid(running_engine, before, session_label) == 0
    after = build(running_engine, images, result.output, tmp_path, f"zero-{spelling}-fixed")
    assert pid1_uid(running_engine, after, session_label) == FIXED_UID


# --- USER ROOT: no such user ------------------------------------------------------------------


@pytest.mark.engine
def test_user_ROOT_is_invalid_and_its_container_never_starts(
    running_engine: Engine, images: list[str], tmp_path: Path
) -> None:
    original = f"FROM {DEBIAN}\nUSER ROOT\n{SLEEP}".encode()
    found = check(original, Settings())
    assert found.verdict is Verdict.INVALID_USER, found
    assert not fix(original, Settings()).changed  # nothing to fix: it does not run at all

    tag = build(running_engine, images, original, tmp_path, "user-upper-root")  # tags: lower case
    assert running_engine.image_config(tag).user == "ROOT"
    done = running_engine.run(tag, ["-c", "echo started"], entrypoint="/bin/sh")
    # Not root, not anyone: the runtime finds no passwd entry named ROOT and runs nothing.
    assert done.returncode != 0, done
    assert "started" not in done.stdout, done
    message = done.stderr + done.stdout
    assert "unable to find user ROOT" in message, message
    assert "no matching entries in passwd" in message, message


# --- a program as the entrypoint ---------------------------------------------------------------


@pytest.mark.engine
def test_binary_entrypoint_holding_su_exec_strings_is_root_and_the_fix_runs_it_as_10001(
    running_engine: Engine,
    images: list[str],
    session_label: str,
    hello_binary: Path,
    tmp_path: Path,
) -> None:
    entry = tmp_path / "entry"
    shutil.copy(hello_binary, entry)  # keeps the executable bit
    with entry.open("ab") as f:
        f.write(b"\0su-exec\0chpst\0")  # an ELF runs with bytes after its segments
    original = f'FROM {ALPINE}\nCOPY entry /bin/entry\nENTRYPOINT ["/bin/entry"]\n'.encode()
    assert b"su-exec" in entry.read_bytes()
    found = check(original, Settings(), context=directory_reader(tmp_path))
    assert found.verdict is Verdict.ROOT, found  # the strings are data, not a privilege drop
    result = fix(original, Settings(), context=directory_reader(tmp_path))
    assert result.change is not None

    before = build(running_engine, images, original, tmp_path, "binary-entry")
    ran = running_engine.run(before)
    assert (ran.returncode, ran.stdout.split()[:2]) == (0, ["uid=0", "euid=0"]), ran
    assert pid1_uid(running_engine, before, session_label, "30") == 0

    after = build(running_engine, images, result.output, tmp_path, "binary-entry-fixed")
    ran = running_engine.run(after)
    assert (ran.returncode, ran.stdout.split()[:2]) == (
        0,
        [f"uid={FIXED_UID}", f"euid={FIXED_UID}"],
    ), ran
    assert pid1_uid(running_engine, after, session_label, "30") == FIXED_UID


# --- samples that install a daemon from the mirror ---------------------------------------------


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


@pytest.mark.engine
@needs_mirror
def test_memcached_u_flag_drops_privileges_so_pid_1_ends_non_root(
    running_engine: Engine, images: list[str], session_label: str
) -> None:
    sample = SAMPLES / "daemon-drops-by-flag"
    text = (sample / "Dockerfile").read_bytes()
    found = check(text, Settings(), context=directory_reader(sample))
    assert found.verdict is Verdict.DROPS_PRIVILEGES, found
    assert not fix(text, Settings(), context=directory_reader(sample)).changed

    tag = build(running_engine, images, text, sample, "memcached")
    container = start_container(running_engine, tag, session_label)
    try:
        memcache = running_engine.command(["exec", container, "id", "-u", "memcache"])
        memcache_uid = int(memcache.stdout.strip())
        assert memcache_uid != 0
        seen: list[int | None] = []

        def dropped() -> bool:
            seen.append(parse_status_uid(pid1_status(running_engine, container)))
            return seen[-1] == memcache_uid

        assert wait_for(dropped, 10), (seen, logs(running_engine, container))
        status = pid1_status(running_engine, container)
        assert "Name:\tmemcached" in status, status
    finally:
        running_engine.remove_container(container)


@pytest.mark.engine
@needs_mirror
def test_sshd_needs_root_it_runs_as_uid_0_and_exits_under_a_forced_plain_user(
    running_engine: Engine, images: list[str], session_label: str
) -> None:
    sample = SAMPLES / "needs-root-sshd"
    text = (sample / "Dockerfile").read_bytes()
    found = check(text, Settings(), context=directory_reader(sample))
    assert found.verdict is Verdict.NEEDS_ROOT, found
    forced = fix(text, Settings(force=True), context=directory_reader(sample))
    assert forced.change is not None and forced.change.user == f"{FIXED_UID}:{FIXED_UID}"

    before = build(running_engine, images, text, sample, "sshd")
    container = start_container(running_engine, before, session_label)
    try:
        time.sleep(3)
        status = pid1_status(running_engine, container)  # still up: sshd started
        assert "Name:\tsshd" in status, status
        assert parse_status_uid(status) == 0
    finally:
        running_engine.remove_container(container)

    after = build(running_engine, images, forced.output, sample, "sshd-forced")
    container = start_container(running_engine, after, session_label)
    try:
        assert wait_for(lambda: not running(running_engine, container)[0], 10), logs(
            running_engine, container
        )
        code = running(running_engine, container)[1]
        assert code != 0, logs(running_engine, container)
    finally:
        running_engine.remove_container(container)
