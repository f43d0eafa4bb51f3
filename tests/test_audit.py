"""audit: CIS 4.1 on containers these tests start, through the Docker Engine API."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

from fixuser.containers import audit
from fixuser.containers.audit import audit_container
from fixuser.containers.engine import Engine
from fixuser.core import fix
from fixuser.main import main
from fixuser.settings import Settings
from testing.engine import RUN_ID, remove_labelled, start_container

DEBIAN = "docker.io/library/debian:bookworm-slim"
DISTROLESS = "gcr.io/distroless/static-debian12"
SCHEMA = {
    "type": "object",
    "required": ["containers"],
    "properties": {
        "containers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "image", "uid", "verdict"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "image": {"type": "string"},
                    "uid": {"type": "integer"},
                    "verdict": {"enum": ["root", "non-root"]},
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def containers(
    running_engine: Engine, session_label: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """name -> id of: root, fixed, privilege-dropping, and config-says-non-root-but-runs-root."""
    ctx = tmp_path_factory.mktemp("audit")
    original = f'FROM {DEBIAN}\nCMD ["sleep", "300"]\n'.encode()
    fixed = fix(original, Settings(), path="Dockerfile").output
    tag = f"localhost/fixuser-test/audit-fixed:{RUN_ID}"
    running_engine.build(fixed, ctx, tag)
    suffix = session_label.rpartition("=")[2]
    started = {}
    try:
        started["root"] = start_container(
            running_engine,
            DEBIAN,
            session_label,
            "--name",
            f"audit-root-{suffix}",
            argv=("sleep", "300"),
        )
        started["fixed"] = start_container(
            running_engine, tag, session_label, "--name", f"audit-fixed-{suffix}"
        )
        # An entrypoint that starts as root and drops privileges (setpriv, like gosu/su-exec):
        # the image config says root, the kernel says 10001.
        started["drops"] = start_container(
            running_engine,
            DEBIAN,
            session_label,
            "--name",
            f"audit-drops-{suffix}",
            "--entrypoint",
            "setpriv",
            argv=("--reuid=10001", "--regid=10001", "--clear-groups", "sleep", "300"),
        )
        # The image says nonroot; `--user 0` at run time makes it root. No shell, no cat.
        started["override"] = start_container(
            running_engine,
            DISTROLESS,
            session_label,
            "--name",
            f"audit-override-{suffix}",
            "--user",
            "0",
            argv=("300",),
        )
        yield {f"audit-{key}-{suffix}": cid for key, cid in started.items()}
    finally:
        remove_labelled(running_engine, session_label)
        running_engine.remove_image(tag)


def audit_json(
    docker_host: str,
    label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, dict[str, dict[str, object]]]:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    code = main(["audit", "--format", "json", "--label", label])
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, SCHEMA)
    return code, {c["name"].split("-")[1]: c for c in data["containers"]}


@pytest.mark.engine
def test_audit_reads_the_kernel_uid_of_pid_1(
    containers: dict[str, str],
    docker_host: str,
    session_label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, found = audit_json(docker_host, session_label, monkeypatch, capsys)
    assert code == 1  # one runs as root
    assert sorted(found) == ["drops", "fixed", "override", "root"]
    assert (found["root"]["uid"], found["root"]["verdict"]) == (0, "root")
    assert (found["fixed"]["uid"], found["fixed"]["verdict"]) == (10001, "non-root")
    assert found["fixed"]["config_user"] == "10001:10001"
    # Not the image config: it says root for "drops" and non-root for "override".
    assert (found["drops"]["uid"], found["drops"]["verdict"]) == (10001, "non-root")
    assert (found["override"]["uid"], found["override"]["verdict"]) == (0, "root")
    assert str(found["override"]["source"]).startswith("host /proc/")  # no cat in distroless
    assert found["root"]["image"] == DEBIAN


@pytest.mark.engine
def test_audit_never_changes_a_container(
    containers: dict[str, str],
    running_engine: Engine,
    docker_host: str,
    session_label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def states() -> list[str]:
        fmt = "{{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}"
        return [
            running_engine.command(["inspect", "--format", fmt, cid]).stdout
            for cid in containers.values()
        ]

    before = states()
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    assert main(["audit", "--label", session_label]) == 1
    out = capsys.readouterr().out
    assert states() == before
    assert "4 running, 2 as root (CIS Docker 4.1)" in out
    assert "ROOT     uid=0" in out


@pytest.mark.engine
def test_audit_of_only_non_root_containers_exits_0(
    containers: dict[str, str],
    running_engine: Engine,
    docker_host: str,
    session_label: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    label = f"{session_label}-nonroot"
    try:
        name = f"audit-nonroot-{label.rpartition('=')[2]}"
        start_container(
            running_engine, DISTROLESS, label, "--name", name, "--user", "65532", argv=("300",)
        )
        code, found = audit_json(docker_host, label, monkeypatch, capsys)
        assert code == 0
        assert [c["uid"] for c in found.values()] == [65532]
    finally:
        remove_labelled(running_engine, label)


def test_audit_without_an_engine_api_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--host", f"unix://{tmp_path}/none.sock"])
    assert code == 2
    assert "podman system service" in capsys.readouterr().err


# --- --users: the accounts a container does not need (fixuser.analysis.accounts) ----------


class FakeContainer:
    """What audit reads of a container through the SDK: exec_run and get_archive."""

    def __init__(self, files: dict[str, bytes], *, cat: bool, uid: int = 0) -> None:
        self.files, self.cat = files, cat
        self.id, self.name = "0123456789abcdef", "fake"
        self.attrs = {"Config": {"Image": "localhost/fake:1", "User": str(uid)}, "State": {}}
        self.image = None
        self.status = f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n".encode()

    def exec_run(self, argv: list[str], **_: object) -> tuple[int, bytes]:
        if not self.cat:
            raise RuntimeError("no cat in the image")
        if argv[1] == "/proc/1/status":
            return 0, self.status
        if argv[1] == "/etc/shadow":
            return 1, b""  # not root: permission denied
        return (0, self.files[argv[1]]) if argv[1] in self.files else (1, b"")

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, object]]:
        from docker.errors import NotFound

        if path not in self.files:
            raise NotFound("no such file")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(path.rpartition("/")[2])
            info.size = len(self.files[path])
            tar.addfile(info, io.BytesIO(self.files[path]))
        return [buffer.getvalue()], {}


EXTRA_FILES = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/bash\n"
    b"extra:x:1000:1000::/home/extra:/bin/bash\n"
    b"app:x:10001:10001::/home/app:/bin/sh\n",
    "/etc/shadow": b"root:*:1:0:::::\nextra:!:1:0:::::\napp:!:1:0:::::\n",
}


def test_audit_users_lists_what_is_not_needed_and_reads_shadow_through_the_archive() -> None:
    found = audit_container(FakeContainer(EXTRA_FILES, cat=True, uid=10001), users=True)
    assert found.verdict == "non-root"
    data = json.loads(json.dumps(found.as_json()))
    assert data["users"] == [
        {"name": "extra", "uid": 1000, "shell": "/bin/bash", "why": "login shell"}
    ]
    assert [(u["name"], u["why"]) for u in data["kept_users"]] == [
        ("root", "root: keeps its shell"),
        ("app", "the container's user: keeps its shell"),
    ]
    # a non-root container cannot cat /etc/shadow: the archive endpoint can
    assert data["users_source"] == "exec cat /etc/passwd; archive /etc/shadow"


def test_audit_users_without_cat_and_without_shadow() -> None:
    files = {"/etc/passwd": b"root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/:/bin/sh\n"}
    found = audit_container(FakeContainer(files, cat=False, uid=65532), users=True)
    assert found.users == ()
    assert found.users_source == "archive /etc/passwd; no /etc/shadow"


def test_audit_without_users_keeps_its_json() -> None:
    found = audit_container(FakeContainer(EXTRA_FILES, cat=True))
    assert "users" not in found.as_json() and "kept_users" not in found.as_json()


def test_audit_users_text_and_exit_status_of_a_root_equivalent_account(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {**EXTRA_FILES, "/etc/passwd": EXTRA_FILES["/etc/passwd"] + b"toor:x:0:0::/:/bin/sh\n"}

    def listed(filters: object = None) -> list[FakeContainer]:
        return [FakeContainer(files, cat=True, uid=10001)]

    client = SimpleNamespace(containers=SimpleNamespace(list=listed))
    monkeypatch.setattr(audit, "connect", lambda host: client)
    assert main(["audit", "--users"]) == 1  # PID 1 is not root, but toor is root by another name
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == [
        "         user extra uid=1000 shell=/bin/bash: login shell",
        "         user toor uid=0 shell=/bin/sh: UID 0 besides root: root-equivalent; login shell",
    ]
    assert out[-1] == "2 accounts not needed, 1 of them root-equivalent (UID 0)"
    # without --users the same container passes: nobody runs as root
    assert main(["audit"]) == 0
