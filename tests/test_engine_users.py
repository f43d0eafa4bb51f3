"""audit --users, fix --lock-users and verify's account proof, with a real engine.

The base images here ship an account the application does not need, with a login shell, as
ubuntu:24.04 ships ``ubuntu`` with /bin/bash: made FROM the local Debian and BusyBox images
and tagged under names the image table maps to their family (debian:fixuser-users-...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixuser.analysis import accounts
from fixuser.containers.engine import Engine
from fixuser.containers.proof import prove
from fixuser.core import fix
from fixuser.main import main
from fixuser.settings import Settings
from testing.engine import RUN_ID, SAMPLES, build_tagged, local_family, remove_labelled
from testing.engine import start_container as start
from testing.samples import SAMPLE_LIST, Sample

pytestmark = pytest.mark.engine

LOCK = Settings(lock_users=True)
# family -> (the local image, the RUN that adds "extra", the name the test tags it under)
BASES = {
    "debian": (
        "docker.io/library/debian:bookworm-slim",
        "useradd -m -s /bin/bash extra",
        f"debian:fixuser-users-{RUN_ID}",
    ),
    "alpine": (
        "docker.io/library/busybox:latest",
        "adduser -D -s /bin/sh extra",
        f"busybox:fixuser-users-{RUN_ID}",
    ),
}
EXTRA_SHELL = {"debian": "/bin/bash", "alpine": "/bin/sh"}


def full(name: str) -> str:
    return f"docker.io/library/{name}"


@pytest.fixture(scope="module")
def bases(running_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    context = tmp_path_factory.mktemp("users-base")
    try:
        for local, run, name in BASES.values():
            running_engine.build(f"FROM {local}\nRUN {run}\n".encode(), context, full(name))
        yield
    finally:
        for _, _, name in BASES.values():
            running_engine.remove_image(full(name))


def account_files(engine: Engine, image: str) -> dict[str, str]:
    files = engine.read_files(image, accounts.ACCOUNT_FILES)
    return {p: v.decode() for p, v in files.items() if isinstance(v, bytes)}


def audit_users(
    docker_host: str,
    label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, list[dict[str, object]]]:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    code = main(["audit", "--users", "--format", "json", "--label", label])
    return code, json.loads(capsys.readouterr().out)["containers"]


@pytest.mark.parametrize("family", sorted(BASES))
def test_audit_users_lists_the_extra_account_with_its_login_shell(
    family: str,
    bases: None,
    running_engine: Engine,
    docker_host: str,
    session_label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    label = f"{session_label}-users-{family}"
    try:
        # As nobody: /etc/shadow is read through the API's archive, not cat.
        start(
            running_engine, full(BASES[family][2]), label, "--user", "65534", argv=("sleep", "300")
        )
        code, found = audit_users(docker_host, label, monkeypatch, capsys)
    finally:
        remove_labelled(running_engine, label)
    (container,) = found
    assert container["uid"] == 65534
    extra = {"name": "extra", "uid": 1000, "shell": EXTRA_SHELL[family], "why": "login shell"}
    assert container["users"] == [extra]
    assert [u["name"] for u in container["kept_users"]] == ["root"]  # type: ignore[union-attr]
    assert "archive /etc/shadow" in str(container["users_source"])
    assert code == 0  # an account with a login shell is not root: the exit status stays


@pytest.mark.parametrize("family", sorted(BASES))
def test_lock_users_locks_extra_and_changes_nothing_else(
    family: str,
    bases: None,
    running_engine: Engine,
    images: list[str],
    tmp_path: Path,
    docker_host: str,
    session_label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = BASES[family][2]
    original = f'FROM {base}\nCMD ["sleep", "300"]\n'.encode()
    result = fix(original, LOCK, path="Dockerfile")
    assert result.analysis.family == family
    assert result.output.count(b"RUN nologin=") == 1
    tag = build_tagged(
        running_engine, images, result.output, tmp_path, f"localhost/fixuser-test/lock:{RUN_ID}"
    )
    before, after = account_files(running_engine, full(base)), account_files(running_engine, tag)

    # /etc/passwd: extra's shell is nologin, and every other field of every line is as it was
    old, new = before["/etc/passwd"].splitlines(), after["/etc/passwd"].splitlines()
    assert new[: len(old)] != old
    nologin = "/usr/sbin/nologin"  # Debian's; on BusyBox, which has no /sbin/nologin, its applet's
    for was, now in zip(old, new[: len(old)], strict=True):
        if was.startswith("extra:"):
            assert now == was.rpartition(":")[0] + ":" + nologin
        else:
            assert now == was  # root's and every system account's line, byte for byte
    assert [line.split(":")[0] for line in new[len(old) :]] == ["app"]
    # /etc/shadow and /etc/group: the original lines untouched, the user's own added
    for path in ("/etc/shadow", "/etc/group"):
        assert after[path].startswith(before[path]), path
        assert [line.split(":")[0] for line in after[path][len(before[path]) :].splitlines()] == [
            "app"
        ]
    changed = accounts.changes(before, after, own_uid=10001)
    assert changed.locked == (accounts.Locked("extra", EXTRA_SHELL[family], nologin),)
    assert (changed.added, changed.problems) == (("app",), ())

    # PID 1 runs as the user, and the audit of the running container finds nothing unneeded
    assert running_engine.pid1_uid_live(tag)[0] == 10001
    label = f"{session_label}-locked-{family}"
    try:
        start(running_engine, tag, label)
        code, (container,) = audit_users(docker_host, label, monkeypatch, capsys)
    finally:
        remove_labelled(running_engine, label)
    assert (code, container["uid"], container["users"]) == (0, 10001, [])
    assert [u["name"] for u in container["kept_users"]] == ["root"]  # type: ignore[union-attr]

    # verify proves the same: the lock and the user are all that changed
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        result.output,
        tmp_path,
        engine=running_engine,
        expected_user="10001:10001",
        family=family,
        lock_users=True,
        run_seconds=2,
    )
    assert proof.status == "proven", proof.reasons


# Families without a local image: the lock's RUN runs on a stand-in with "extra" (usermod on
# Debian for the shadow families; /etc/passwd rewritten on BusyBox for the minimal images).
STAND_INS = {
    "rhel": ("registry.access.redhat.com/ubi9/ubi:9.4", "debian"),
    "suse": ("opensuse/leap:15.6", "debian"),
    "arch": ("archlinux:latest", "debian"),
    "rhel-minimal": ("registry.access.redhat.com/ubi9/ubi-minimal", "alpine"),
    "unknown": ("localhost/some/app:1", "debian"),
}


@pytest.mark.parametrize("family", sorted(STAND_INS))
def test_the_lock_of_a_family_without_local_image_runs_on_a_stand_in(
    family: str, bases: None, running_engine: Engine, images: list[str], tmp_path: Path
) -> None:
    real, stand_in = STAND_INS[family]
    result = fix(f'FROM {real}\nCMD ["sleep", "1"]\n'.encode(), LOCK, path="Dockerfile")
    assert result.analysis.family == family
    lines = result.output.decode().splitlines(keepends=True)
    swapped = f"FROM {BASES[stand_in][2]}\n" + "".join(lines[1:])
    tag = build_tagged(
        running_engine, images, swapped.encode(), tmp_path, f"localhost/fixuser-test/lock:{RUN_ID}"
    )
    before = account_files(running_engine, full(BASES[stand_in][2]))
    after = account_files(running_engine, tag)
    changed = accounts.changes(before, after, own_uid=10001)
    assert [lock.name for lock in changed.locked] == ["extra"]
    assert changed.problems == ()
    assert changed.locked[0].after in accounts.NOLOGIN_SHELLS


def lock_samples() -> list[Sample]:
    """The --lock-users samples whose base is built locally and has a shell."""
    return [
        s
        for s in SAMPLE_LIST
        if s.settings.lock_users
        and local_family(s.source.decode().splitlines()[0].split()[1]) in ("debian", "alpine")
    ]


@pytest.mark.parametrize("sample", lock_samples(), ids=lambda s: s.name)
def test_lock_users_sample_is_proven(sample: Sample, running_engine: Engine) -> None:
    assert (SAMPLES / sample.name).is_dir()
    proof = prove(
        sample.folder / "Dockerfile",
        sample.source,
        sample.expected,
        sample.folder,
        engine=running_engine,
        expected_user=fix(sample.source, sample.settings).change.user,  # type: ignore[union-attr]
        family=local_family(sample.source.decode().splitlines()[0].split()[1]),
        lock_users=True,
        run_seconds=2,
    )
    assert proof.status == "proven", proof.reasons
    assert proof.after is not None and proof.after.user is not None
    assert proof.after.user.uid not in (None, 0)
