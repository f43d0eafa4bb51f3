"""What the kernel says about ``fix --strategy entrypoint`` (CIS 4.1's "Impact" note: a host
directory bind-mounted into the container is usually root's, and a plain USER cannot write it).

Each test builds a real image of an app whose CMD writes a file into /data, runs it with a
root-owned host directory bind-mounted there, and reads the host file's owner and who PID 1 is
(the ``Uid:`` line of its /proc/1/status, as the CIS audit reads it). With the entrypoint
strategy the write works, the file is the user's and PID 1 is not root; with the plain USER fix
the same write is refused. Started as another user already, the wrapper only runs the command.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fixuser.containers.engine import Engine, parse_status_uid
from fixuser.core import fix
from fixuser.main import main
from fixuser.settings import Settings
from fixuser.tree.fileio import directory_reader
from testing.engine import RUN_ID, build_tagged, start_container

pytestmark = pytest.mark.engine

UID = 10001  # Settings().uid
DEBIAN = "docker.io/library/debian:bookworm-slim"
BUSYBOX = "docker.io/library/alpine:3.20"  # the local one: static BusyBox, no apk
# The app: writes into its volume, then keeps running so PID 1 can be read.
# It writes a temporary file and renames it, so the test never reads a half-written file.
APP = (
    "#!/bin/sh\nset -e\nid -u > /data/.written\nmv /data/.written /data/written-by-app\n"
    "echo wrote\nexec sleep 60\n"
)


def dockerfile(base: str) -> bytes:
    return (
        f"FROM {base}\nWORKDIR /app\nCOPY app.sh /app/\nRUN chmod 0755 /app/app.sh\n"
        'VOLUME /data\nCMD ["/app/app.sh"]\n'
    ).encode()


def build_fixed(engine: Engine, images: list[str], tmp_path: Path, base: str, strategy: str) -> str:
    """The app's Dockerfile fixed with ``strategy``, built from a context holding what the fix
    writes (the wrapper too); its tag."""
    context = tmp_path / f"context-{strategy}"
    context.mkdir()
    (context / "app.sh").write_text(APP)
    result = fix(
        dockerfile(base),
        Settings(strategy=strategy),
        path=str(context / "Dockerfile"),
        context=directory_reader(context),
    )
    assert result.changed
    for extra in result.extra_files:
        (context / extra.path).write_bytes(extra.data)
    assert bool(result.extra_files) == (strategy == "entrypoint")
    name = f"{base.rsplit('/', 1)[-1].replace(':', '-')}-{strategy}"
    tag = f"localhost/fixuser-test/entrypoint-{name}:{RUN_ID}"
    return build_tagged(engine, images, result.output, context, tag)


def root_owned_dir(tmp_path: Path, name: str) -> Path:
    host = tmp_path / name
    host.mkdir()
    os.chown(host, 0, 0)
    host.chmod(0o755)  # others may enter and read, not write: a typical host directory
    return host


def wait_for(path: Path, container: str, engine: Engine, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline or not engine.is_running(container):
            logs = engine.command(["logs", container], check=False)
            raise AssertionError(f"{path.name} was not written: {logs.stdout}{logs.stderr}")
        time.sleep(0.2)


def exit_code(engine: Engine, container: str, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while engine.is_running(container):
        if time.monotonic() > deadline:
            raise AssertionError(f"{container} still runs")
        time.sleep(0.2)
    state = engine.command(["inspect", "--format", "{{.State.ExitCode}}", container])
    return int(state.stdout.strip())


@pytest.fixture(scope="module")
def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("makes root-owned host directories: run as root (CI does)")


@pytest.mark.parametrize("base", [DEBIAN, BUSYBOX], ids=["debian-setpriv", "busybox-chpst"])
def test_the_app_writes_a_root_owned_bind_mount_as_the_user(
    running_engine: Engine,
    images: list[str],
    tmp_path: Path,
    session_label: str,
    base: str,
    needs_root: None,
) -> None:
    image = build_fixed(running_engine, images, tmp_path, base, "entrypoint")
    host = root_owned_dir(tmp_path, "data")
    container = start_container(running_engine, image, session_label, "-v", f"{host}:/data")
    try:
        written = host / "written-by-app"
        wait_for(written, container, running_engine)
        assert written.stat().st_uid == UID  # on the host, the file is the user's
        assert written.read_text().strip() == str(UID)
        assert host.stat().st_uid == UID  # the wrapper handed the mount over
        status = running_engine.container_status(container)
        assert status is not None
        assert parse_status_uid(status) == UID  # PID 1 is the app, as the user: CIS 4.1 passes
    finally:
        running_engine.remove_container(container)


def test_the_plain_user_fix_cannot_write_the_same_bind_mount(
    running_engine: Engine, images: list[str], tmp_path: Path, session_label: str, needs_root: None
) -> None:
    image = build_fixed(running_engine, images, tmp_path, DEBIAN, "user")
    host = root_owned_dir(tmp_path, "data")
    container = start_container(running_engine, image, session_label, "-v", f"{host}:/data")
    try:
        assert exit_code(running_engine, container) != 0
        logs = running_engine.command(["logs", container], check=False)
        assert "Permission denied" in logs.stdout + logs.stderr
        assert not (host / "written-by-app").exists()
    finally:
        running_engine.remove_container(container)


def test_started_as_the_user_already_the_wrapper_only_runs_the_command(
    running_engine: Engine, images: list[str], tmp_path: Path, session_label: str, needs_root: None
) -> None:
    """``docker run --user`` (Kubernetes runAsUser): nothing to hand over and nothing to drop;
    a mount that is the user's already works, PID 1 is the user, the wrapper says nothing."""
    image = build_fixed(running_engine, images, tmp_path, DEBIAN, "entrypoint")
    host = root_owned_dir(tmp_path, "data")
    os.chown(host, UID, UID)
    user = ["--user", f"{UID}:{UID}", "-v", f"{host}:/data"]
    container = start_container(running_engine, image, session_label, *user)
    try:
        wait_for(host / "written-by-app", container, running_engine)
        status = running_engine.container_status(container)
        assert status is not None and parse_status_uid(status) == UID
        logs = running_engine.command(["logs", container], check=False)
        assert (logs.stdout + logs.stderr).split() == ["wrote"]
    finally:
        running_engine.remove_container(container)

    # On a mount root still owns, it cannot hand anything over: the app's own write fails.
    other = root_owned_dir(tmp_path, "other")
    user = ["--user", f"{UID}:{UID}", "-v", f"{other}:/data"]
    container = start_container(running_engine, image, session_label, *user)
    try:
        assert exit_code(running_engine, container) != 0
        assert other.stat().st_uid == 0
    finally:
        running_engine.remove_container(container)


def test_verify_proves_the_entrypoint_fix_and_leaves_the_context_as_it_was(
    running_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``fixuser verify --strategy entrypoint``: the wrapper the fixed text COPYs is in the build
    context while it is proven, and gone afterwards; the Dockerfile is not touched."""
    (tmp_path / "app.sh").write_text(APP)
    path = tmp_path / "Dockerfile"
    path.write_bytes(dockerfile(DEBIAN))
    before = sorted(p.name for p in tmp_path.iterdir())
    engine = ("--engine", running_engine.name)
    code = main(["verify", "--strategy", "entrypoint", *engine, "--run-seconds", "3", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 proven, 0 failed" in out and f"-> {UID}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert path.read_bytes() == dockerfile(DEBIAN)
