"""verify: the proof's judgement (pure), and every template proven with a real engine."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import RUN_ID, SAMPLES, local_family

from fixuser.core import fix
from fixuser.engine import Behaviour, Engine, ImageConfig, RuntimeUser
from fixuser.fileio import directory_reader
from fixuser.main import main
from fixuser.settings import Settings
from fixuser.stages import process_word
from fixuser.verify import (
    Proof,
    Side,
    growth_budget,
    human,
    is_system_dir,
    judge,
    prove,
    written_paths,
)

pytest_plugins = ("engine_support",)

MB = 1000 * 1000


def side(
    uid: int | None = 10001,
    name: str | None = "app",
    size: int = 100 * MB,
    writable: dict[str, bool] | None = None,
    smoke_ok: bool | None = None,
) -> Side:
    user = RuntimeUser(uid, name, writable or {"/app": True}, "test", True)
    return Side(True, 1.0, size, user, None, smoke_ok)


def test_growth_budget_is_one_percent_or_100_kb() -> None:
    assert growth_budget(100 * MB) == MB
    assert growth_budget(2 * MB) == 100_000


def test_judge_accepts_a_good_fix() -> None:
    assert judge(side(0, "root"), side(), "10001:10001", "debian", True, None) == []


def test_judge_names_every_failure() -> None:
    after = side(uid=0, name=None, size=103 * MB, writable={"/app": False, "/": False})
    reasons = judge(side(0, "root"), after, "10001:10001", "debian", True, None)
    text = "\n".join(reasons)
    assert "still runs as root" in text
    assert "not the 10001 fixuser wrote" in text
    assert "no entry in the image's /etc/passwd" in text
    assert "/app (WORKDIR/VOLUME) is not writable" in text
    assert "/ (" not in text  # a root WORKDIR is not expected to be writable
    assert "grew by 3.0 MB" in text


def test_judge_growth_is_not_budgeted_for_shell_less_families() -> None:
    before, after = side(0, "root", size=1 * MB), side(65532, "nonroot", size=3 * MB)
    assert judge(before, after, "65532:65532", "distroless", True, None) == []


def test_judge_read_only_ownership_skips_writability() -> None:
    after = side(writable={"/app": False})
    assert judge(side(0, "root"), after, "10001:10001", "debian", False, None) == []


def test_judge_smoke_that_worked_before_must_work_after() -> None:
    before, after = side(0, "root", smoke_ok=True), side(smoke_ok=False)
    assert "smoke command fails" in judge(before, after, "10001", "debian", True, "true")[0]


def test_judge_named_user() -> None:
    assert judge(side(0), side(1000, "node"), "node", "debian", True, None) == []
    assert "not the node" in judge(side(0), side(1001, "app"), "node", "debian", True, None)[0]


def test_human_sizes() -> None:
    assert (human(512), human(16_600), human(-2_500_000)) == ("512 B", "16.6 KB", "-2.5 MB")


def test_context_reader_stays_inside_the_context(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "a").write_bytes(b"1")
    (tmp_path / "secret").write_bytes(b"2")
    read = directory_reader(tmp_path / "ctx")
    assert (read("a"), read("../secret"), read("missing")) == (b"1", None, None)


def test_verify_without_an_engine_exits_2_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:12\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["verify", str(tmp_path / "Dockerfile")]) == 2
    assert "apt-get install podman" in capsys.readouterr().err


# --- every template, proven with a real engine -------------------------------------------

PLAIN = "localhost/fixuser-test/plain"  # image names fixuser's table does not know
APP = 'WORKDIR /app\nCOPY . .\nCMD ["sleep", "60"]\n'
TEMPLATE_CASES = {
    "debian": ("docker.io/library/debian:bookworm-slim", "debian", APP),
    "alpine": ("docker.io/library/alpine:3.20", "alpine", APP),
    "distroless": (
        "gcr.io/distroless/static-debian12",
        "distroless",
        'COPY hello /app/hello\nWORKDIR /app\nENTRYPOINT ["/app/hello"]\nCMD ["60"]\n',
    ),
    "scratch": ("scratch", "scratch", 'COPY hello /hello\nENTRYPOINT ["/hello", "60"]\n'),
    # Images fixuser does not know: the portable template picks the tools at build time.
    "portable-shadow": (f"{PLAIN}-a:{RUN_ID}", "unknown", APP),
    "portable-busybox": (f"{PLAIN}-b:{RUN_ID}", "unknown", APP),
    "portable-fallback": (f"{PLAIN}-c:{RUN_ID}", "unknown", APP),
}


@pytest.fixture(scope="session")
def unknown_images(
    running_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Images under names fixuser's table does not know: shadow, BusyBox, and neither."""
    ctx = tmp_path_factory.mktemp("plain")
    tags = {
        f"{PLAIN}-a:{RUN_ID}": b"FROM docker.io/library/debian:bookworm-slim\n",
        f"{PLAIN}-b:{RUN_ID}": b"FROM docker.io/library/alpine:3.20\n",
        f"{PLAIN}-c:{RUN_ID}": (
            b"FROM docker.io/library/alpine:3.20\n"
            b"RUN for tool in adduser addgroup useradd groupadd; do"
            b' rm -f "$(command -v $tool)"; done; ! command -v adduser\n'
        ),
    }
    for tag, text in tags.items():
        running_engine.build(text, ctx, tag)
    yield
    for tag in tags:
        running_engine.remove_image(tag)


@pytest.mark.engine
@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
def test_template_is_proven_by_a_real_build(
    case: str, running_engine: Engine, hello_binary: Path, unknown_images: None, tmp_path: Path
) -> None:
    base, family, body = TEMPLATE_CASES[case]
    shutil.copy(hello_binary, tmp_path / "hello")
    (tmp_path / "app.txt").write_text("the application\n")
    original = f"FROM {base}\n{body}".encode()
    result = fix(original, Settings(), path="Dockerfile", context=directory_reader(tmp_path))
    assert result.analysis.family == family
    assert result.change is not None, result.analysis
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        result.output,
        tmp_path,
        engine=running_engine,
        expected_user=result.change.user,
        family=family,
    )
    assert_proven(proof, result.change.user, family)


def assert_proven(proof: Proof, user: str, family: str) -> None:
    assert proof.status == "proven", (proof.reasons, proof.after)
    assert proof.before.user is not None and proof.after is not None
    after = proof.after.user
    assert after is not None
    assert proof.before.user.uid == 0
    assert after.uid != 0
    want = user.partition(":")[0]
    assert str(after.uid) == want or after.name == want
    if family != "scratch":
        assert after.name
    assert all(ok for path, ok in after.writable.items() if not is_system_dir(path)), after
    if family not in ("distroless", "scratch"):
        assert proof.growth <= growth_budget(proof.before.size)


@pytest.mark.engine
def test_fix_that_creates_no_user_fails_its_proof(running_engine: Engine, tmp_path: Path) -> None:
    # What other tools do: insert USER nonroot and hope. The container cannot even start.
    original = b'FROM docker.io/library/debian:bookworm-slim\nCMD ["sleep", "60"]\n'
    fixed = original + b"USER nonroot\n"
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        fixed,
        tmp_path,
        engine=running_engine,
        expected_user="nonroot",
        family="debian",
    )
    assert proof.status == "failed"
    assert any("nonroot" in reason for reason in proof.reasons), proof.reasons


@pytest.mark.engine
def test_fix_that_bloats_the_image_fails_its_proof(running_engine: Engine, tmp_path: Path) -> None:
    original = b"FROM docker.io/library/alpine:3.20\n"
    fixed = original + (
        b"RUN addgroup -S -g 10001 app && adduser -S -D -H -u 10001 -G app app"
        b" && chown -R 10001 /bin /usr\nUSER 10001\n"
    )
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        fixed,
        tmp_path,
        engine=running_engine,
        expected_user="10001",
        family="alpine",
    )
    assert proof.status == "failed"
    assert any("grew by" in reason for reason in proof.reasons), proof.reasons


@pytest.mark.engine
def test_original_that_does_not_build_is_unprovable(running_engine: Engine, tmp_path: Path) -> None:
    original = b"FROM docker.io/library/debian:bookworm-slim\nRUN exit 7\n"
    proof = prove(
        tmp_path / "Dockerfile", original, original + b"USER 1\n", tmp_path, engine=running_engine
    )
    assert proof.status == "unprovable"
    assert "does not build" in proof.reasons[0]


@pytest.mark.engine
def test_verify_command_proves_a_file_with_a_smoke_command(
    running_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM docker.io/library/alpine:3.20\nWORKDIR /site\nCOPY . .\n"
    )
    code = main(
        [
            "verify",
            "--engine",
            running_engine.name,
            "--smoke",
            "ls /site/Dockerfile",
            str(tmp_path / "Dockerfile"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"uid: +0 \(root\) -> 10001 \(app\)", out), out
    assert "writable:   /site: yes" in out
    assert "1 proven, 0 failed" in out
    assert (tmp_path / "Dockerfile").read_text().startswith("FROM docker.io/library/alpine")


# --- the samples whose base has a local image ------------------------------------------

FROM_RE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
USER_RE = re.compile(r"^\s*USER\s+(\S+)", re.I | re.M)


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def sample_expected(dockerfile: Path) -> Path | None:
    for candidate in (dockerfile.parent / "expected", dockerfile.with_name("Dockerfile.expected")):
        if candidate.is_file():
            return candidate
    return None


# Samples whose fix leaves something root's on purpose, with a warning: their proof must fail
# on exactly that (test_the_proof_fails_on_the_inherited_volume_the_fix_warned_about).
WARNED = frozenset({"volume-inherited"})


def sample_cases() -> list[Path]:
    """Samples fixuser changes whose every base image is built locally (or is scratch)."""
    cases = []
    for dockerfile in sorted(SAMPLES.glob("*/Dockerfile")):
        if dockerfile.parent.name in WARNED:
            continue
        expected = sample_expected(dockerfile)
        if expected is None or expected.read_bytes() == dockerfile.read_bytes():
            continue
        if (dockerfile.parent / "settings.toml").is_file():
            continue  # fixed with other settings (--target): tests/test_engine_targets.py
        text = text_of(dockerfile)
        stages = {m.group(2).lower() for m in FROM_RE.finditer(text) if m.group(2)}
        bases = [m.group(1) for m in FROM_RE.finditer(text) if m.group(1).lower() not in stages]
        if bases and all(local_family(b) for b in bases):
            cases.append(dockerfile)
    return cases


PACKAGE_MANAGER_RE = re.compile(r"\b(apt-get|apt|apk|dnf|microdnf|yum|zypper|pacman)\s", re.M)
NETWORK_SAMPLES = os.environ.get("FIXUSER_NETWORK_SAMPLES") == "1"


@pytest.mark.engine
@pytest.mark.parametrize("dockerfile", sample_cases(), ids=lambda p: p.parent.name)
def test_sample_fix_is_proven(running_engine: Engine, dockerfile: Path) -> None:
    if PACKAGE_MANAGER_RE.search(text_of(dockerfile)) and not NETWORK_SAMPLES:
        # Each such build fetches from the package mirror, twice: about 40 s a sample.
        pytest.skip("installs packages from the mirror: set FIXUSER_NETWORK_SAMPLES=1 (CI does)")
    expected = sample_expected(dockerfile)
    assert expected is not None
    fixed = expected.read_bytes()
    # the USER as BuildKit reads it: the sample reused-user-dollar writes svc$ as svc\$
    users = [process_word(u, {}, "\\") for u in USER_RE.findall(text_of(expected))]
    base = FROM_RE.findall(text_of(expected))[-1][0]
    family = local_family(base) or "unknown"
    proof = prove(
        dockerfile,
        dockerfile.read_bytes(),
        fixed,
        dockerfile.parent,
        engine=running_engine,
        expected_user=users[-1] if users else None,
        family=family,
    )
    if proof.status == "unprovable":
        pytest.skip(f"the original does not build here: {proof.reasons[-3:]}")
    assert_proven(proof, users[-1], family)


@pytest.mark.engine
def test_the_proof_fails_on_the_inherited_volume_the_fix_warned_about(
    running_engine: Engine,
) -> None:
    dockerfile = SAMPLES / "volume-inherited" / "Dockerfile"
    source = dockerfile.read_bytes()
    result = fix(source, Settings(), path=str(dockerfile))
    assert any("VOLUME /data comes from stage base" in w for w in result.analysis.warnings)
    expected = sample_expected(dockerfile)
    assert expected is not None and expected.read_bytes() == result.output
    proof = prove(
        dockerfile,
        source,
        result.output,
        dockerfile.parent,
        engine=running_engine,
        expected_user="10001:10001",
        family="debian",
    )
    assert proof.status == "failed", proof.reasons
    assert "/data (WORKDIR/VOLUME) is not writable by UID 10001" in proof.reasons, proof.reasons


@pytest.mark.engine
@pytest.mark.parametrize("case", ["alpine", "distroless"])
def test_docker_cli_proves_a_fix_too(
    case: str, docker_cli: Engine, hello_binary: Path, tmp_path: Path
) -> None:
    base, family, body = TEMPLATE_CASES[case]
    shutil.copy(hello_binary, tmp_path / "hello")
    original = f"FROM {base}\n{body}".encode()
    result = fix(original, Settings(), path="Dockerfile", context=directory_reader(tmp_path))
    assert result.change is not None
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        result.output,
        tmp_path,
        engine=docker_cli,
        expected_user=result.change.user,
        family=family,
    )
    assert_proven(proof, result.change.user, family)


# Families without a local image: their user-creation commands are run on the Debian image
# (shadow's useradd/groupadd take the same flags on RHEL, SUSE and Arch) and, for the
# shadow-less minimal images, on BusyBox too.
FOREIGN_CASES = {
    "rhel": ("registry.access.redhat.com/ubi9/ubi:9.4", "docker.io/library/debian:bookworm-slim"),
    "suse": ("opensuse/leap:15.6", "docker.io/library/debian:bookworm-slim"),
    "arch": ("archlinux:latest", "docker.io/library/debian:bookworm-slim"),
    "rhel-minimal": (
        "registry.access.redhat.com/ubi9/ubi-minimal",
        "docker.io/library/alpine:3.20",
    ),
}


@pytest.mark.engine
@pytest.mark.parametrize("family", sorted(FOREIGN_CASES))
def test_template_of_a_family_without_local_image_runs_on_a_stand_in(
    family: str, running_engine: Engine, tmp_path: Path
) -> None:
    base, stand_in = FOREIGN_CASES[family]
    original = f"FROM {base}\n{APP}".encode()
    result = fix(original, Settings(), path="Dockerfile")
    assert (result.analysis.family, result.changed) == (family, True)
    assert result.change is not None
    first_line = f"FROM {base}\n".encode()
    assert result.output.startswith(first_line)
    swap = f"FROM {stand_in}\n".encode()
    proof = prove(
        tmp_path / "Dockerfile",
        swap + original[len(first_line) :],
        swap + result.output[len(first_line) :],
        tmp_path,
        engine=running_engine,
        expected_user=result.change.user,
        family=family,
    )
    assert_proven(proof, result.change.user, family)


# --- behaviour: both images run with their own ENTRYPOINT/CMD, compared -------------------


def ran(
    running: bool = False,
    code: int | None = 0,
    log: tuple[str, ...] = (),
    changes: tuple[tuple[str, str], ...] = (),
    started: bool = True,
) -> Behaviour:
    return Behaviour(started, running, None if running else code, 2.0, log, changes)


def with_behaviour(s: Side, behaviour: Behaviour) -> Side:
    return dataclasses.replace(s, behaviour=behaviour)


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        (ran(running=True), ran(code=1), "exited 1 after 2.0 s, where the original kept running"),
        (ran(running=True), ran(code=0), "stopped (exit 0)"),
        (ran(code=0), ran(code=2), "exited 2; the original exited 0"),
        (ran(), ran(started=False), "does not start"),
        (ran(log=("ok",)), ran(log=("ok", "open /data/x: Permission denied")), "gains lines"),
        (ran(), ran(log=("mkdir: Operation not permitted",)), "Operation not permitted"),
        (ran(), ran(log=("EACCES: open '/app/cache'",)), "EACCES"),
        (ran(), ran(log=("Read-only file system",)), "Read-only file system"),
    ],
)
def test_judge_fails_a_fixed_container_that_behaves_worse(
    before: Behaviour, after: Behaviour, why: str
) -> None:
    reasons = judge(
        with_behaviour(side(0, "root"), before),
        with_behaviour(side(), after),
        "10001",
        "debian",
        True,
        None,
    )
    assert any(why in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (ran(running=True), ran(running=True)),
        (ran(code=0), ran(code=0)),
        (ran(log=("x: Permission denied",)), ran(log=("x: Permission denied",))),
        (ran(code=3), ran(code=3)),  # the original fails by itself: nothing to compare with
    ],
)
def test_judge_accepts_a_fixed_container_that_behaves_the_same(
    before: Behaviour, after: Behaviour
) -> None:
    reasons = judge(
        with_behaviour(side(0, "root"), before),
        with_behaviour(side(), after),
        "10001",
        "debian",
        True,
        None,
    )
    assert reasons == []


def test_written_paths_are_the_directories_added_to_and_the_files_changed() -> None:
    behaviour = ran(
        changes=(
            ("C", "/etc"),
            ("A", "/etc/hosts"),  # the engine's, not the app's
            ("C", "/var"),
            ("C", "/var/lib"),
            ("C", "/var/lib/app"),
            ("A", "/var/lib/app/x"),
            ("A", "/opt/a"),
            ("A", "/opt/a/b"),  # inside a directory the app made itself
            ("C", "/srv/app/config.yml"),
            ("D", "/srv/old"),
            ("A", "/proc/self"),
        )
    )
    original = with_behaviour(side(0, "root"), behaviour)
    assert written_paths(original) == ["/var/lib/app", "/opt", "/srv/app/config.yml", "/srv"]


def test_written_paths_below_a_home_the_fix_moved_are_written_below_the_new_home() -> None:
    behaviour = ran(changes=(("C", "/root"), ("A", "/root/.cache"), ("A", "/srv/x")))
    config = ImageConfig("", "/", (), (), (), {}, 0, ("PATH=/bin", "HOME=/root"))
    original = dataclasses.replace(with_behaviour(side(0, "root"), behaviour), config=config)
    fixed = ImageConfig("10001", "/", (), (), (), {}, 0, ("HOME=/home/app",))
    assert written_paths(original, fixed) == ["/srv", "/home/app"]
    assert written_paths(original, config) == ["/root", "/srv"]  # HOME not moved: /root


def test_written_paths_leave_out_the_workdir_the_engine_creates_at_start() -> None:
    """An image whose WORKDIR has no directory yet gets one from the engine when it starts
    (podman's diff: A /srv, A /srv/app): the application wrote nothing there."""
    config = ImageConfig("", "/srv/app", (), (), (), {}, 0)

    def written(*changes: tuple[str, str], workdir: ImageConfig = config) -> list[str]:
        original = with_behaviour(side(0, "root"), ran(changes=changes))
        return written_paths(dataclasses.replace(original, config=workdir))

    assert written(("A", "/srv"), ("A", "/srv/app")) == []
    # What the application then writes into it still counts.
    assert written(("A", "/srv"), ("A", "/srv/app"), ("A", "/srv/app/log")) == ["/srv/app"]
    elsewhere = ImageConfig("", "/work", (), (), (), {}, 0)
    assert written(("A", "/srv"), ("A", "/srv/app"), workdir=elsewhere) == ["/"]


def test_judge_fails_when_the_user_cannot_write_where_the_original_wrote() -> None:
    before = with_behaviour(side(0, "root"), ran(changes=(("A", "/srv/state"),)))
    config = ImageConfig("10001", "/app", (), (), (), {}, 0)
    after = dataclasses.replace(
        with_behaviour(side(writable={"/app": True, "/srv": False}), ran()), config=config
    )
    reasons = judge(before, after, "10001", "debian", True, None)
    assert reasons == ["/srv: the original container wrote there, and UID 10001 cannot"]


@pytest.mark.engine
def test_a_fix_whose_application_crashes_on_start_is_not_proven(
    running_engine: Engine, tmp_path: Path
) -> None:
    """PID 1 runs as 10001, as written: and the application dies at once, writing where
    only root can. The proof runs both images as a user would and compares."""
    original = (
        b"FROM docker.io/library/debian:bookworm-slim\n"
        b'CMD ["sh", "-c", "echo started > /srv/state && exec sleep 30"]\n'
    )
    result = fix(original, Settings(), path="Dockerfile")
    assert result.change is not None
    proof = prove(
        tmp_path / "Dockerfile",
        original,
        result.output,
        tmp_path,
        engine=running_engine,
        expected_user=result.change.user,
        family="debian",
    )
    assert proof.status == "failed", proof
    text = "\n".join(proof.reasons)
    assert "where the original kept running" in text
    assert "Permission denied" in text
    assert "/srv: the original container wrote there, and UID 10001 cannot" in text
    assert proof.before.behaviour is not None and proof.before.behaviour.running
    assert proof.before.behaviour.pid1_uid == 0


@pytest.mark.engine
def test_an_application_that_writes_its_state_is_proven_after_the_fix(
    running_engine: Engine,
) -> None:
    sample = SAMPLES / "workdir-mkdir-volume"
    proof = prove(
        sample / "Dockerfile",
        (sample / "Dockerfile").read_bytes(),
        (sample / "expected").read_bytes(),
        sample,
        engine=running_engine,
        expected_user="10001:10001",
        family="debian",
    )
    assert proof.status == "proven", proof.reasons
    assert proof.after is not None and proof.after.behaviour is not None
    assert proof.after.behaviour.exit_code == 0
    changed = {path for _, path in proof.before.behaviour.changes}  # type: ignore[union-attr]
    assert {"/srv/app/logs/app.log", "/var/lib/app-cache/warm"} <= changed


# --- the account database: what the fix changed of it, and what it does not need ------------

ORIGINAL_ACCOUNTS = {
    "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nextra:x:1000:1000::/home/extra:/bin/bash\n",
    "/etc/shadow": "root:*:1:0:::::\nextra:!:1:0:::::\n",
    "/etc/group": "root:x:0:\nextra:x:1000:\n",
}


def with_accounts(s: Side, *, locked: bool = False, added: str = "app") -> Side:
    files = dict(ORIGINAL_ACCOUNTS)
    if locked:
        files["/etc/passwd"] = files["/etc/passwd"].replace("extra:/bin/bash", "extra:/bin/false")
    if added:
        files["/etc/passwd"] += f"{added}:x:10001:10001::/home/app:/usr/sbin/nologin\n"
        files["/etc/shadow"] += f"{added}:!:2:0:::::\n"
        files["/etc/group"] += f"{added}:x:10001:\n"
    return dataclasses.replace(s, accounts=files)


def test_judge_accepts_the_user_added_and_the_shells_locked() -> None:
    before = with_accounts(side(0, "root"), added="")
    for locked in (False, True):
        after = with_accounts(side(), locked=locked)
        assert judge(before, after, "10001:10001", "debian", True, None) == []


def test_judge_fails_a_fix_that_changed_another_account() -> None:
    before = with_accounts(side(0, "root"), added="")
    after = with_accounts(side())
    assert after.accounts is not None
    after.accounts["/etc/passwd"] = after.accounts["/etc/passwd"].replace(
        "root:/bin/bash", "root:/bin/sh"
    )
    reasons = judge(before, after, "10001:10001", "debian", True, None)
    assert reasons == [
        "the account database changed: /etc/passwd: 'root:x:0:0:root:/root:/bin/bash' became "
        "'root:x:0:0:root:/root:/bin/sh'"
    ]


def test_judge_with_lock_users_fails_a_login_shell_left_behind() -> None:
    before = with_accounts(side(0, "root"), added="")
    after = with_accounts(side())
    reasons = judge(before, after, "10001:10001", "debian", True, None, lock_users=True)
    assert reasons == [
        "--lock-users left a login shell: extra uid=1000 shell=/bin/bash: login shell"
    ]
    locked = with_accounts(side(), locked=True)
    assert judge(before, locked, "10001:10001", "debian", True, None, lock_users=True) == []


def test_the_report_lists_the_accounts_the_fixed_image_does_not_need() -> None:
    import io

    from fixuser.verify import report

    before = with_accounts(side(0, "root"), added="")
    for locked, lines in (
        (False, ["  users:      extra uid=1000 shell=/bin/bash: login shell"]),
        (
            True,
            [
                "  users:      none it does not need",
                "  locked:     extra: /bin/bash -> /bin/false",
            ],
        ),
    ):
        out = io.StringIO()
        report(
            Proof(Path("Dockerfile"), "proven", before, with_accounts(side(), locked=locked), None),
            out,
        )
        text = out.getvalue().splitlines()
        assert [line for line in text if line.startswith(("  users:", "  locked:"))] == lines
        assert "  accounts:   added app; nothing else changed" in text


def test_the_report_prints_a_name_and_a_build_error_each_on_one_line() -> None:
    import io

    from fixuser.escape import UNSAFE
    from fixuser.verify import Side, report

    out = io.StringIO()
    path = Path("svc\n::error::x\x1b[2J/Dockerfile")
    report(Proof(path, "failed", Side(False), None, None, ("step 2:\n::warning::y\r",)), out)
    lines = out.getvalue().splitlines()
    assert lines == [
        "svc\\n::error::x\\x1b[2J/Dockerfile: FAILED",
        "  | step 2:\\n::warning::y\\r",
    ]
    assert re.search(UNSAFE, out.getvalue().replace("\n", "")) is None
