"""The engine edge: parsing what engines and /proc say, and real builds and runs."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixuser.containers.engine import (
    BuildOptions,
    Engine,
    EngineError,
    NoEngineError,
    config_from,
    find_engine,
    outside,
    parse_passwd,
    parse_probe,
    parse_status_uid,
    resolve_user,
    writable_by,
)
from testing.engine import LOCAL_IMAGES, RUN_ID, normalise

STATUS = "Name:\tsleep\nState:\tS (sleeping)\nUid:\t0\t10001\t10001\t10001\nGid:\t0\t0\t0\t0\n"
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/nonexistent:/sbin/nologin\n"
GROUP = "root:x:0:\napp:x:10001:\n"


def test_effective_uid_is_the_second_field_of_uid_line() -> None:
    assert parse_status_uid(STATUS) == 10001
    assert parse_status_uid("Name:\tx\n") is None


def test_resolve_user_by_name_number_and_group() -> None:
    assert resolve_user("app", PASSWD, GROUP) == (10001, None, "app")
    assert resolve_user("10001:10001", PASSWD, GROUP) == (10001, 10001, "app")
    assert resolve_user("app:app", PASSWD, GROUP) == (10001, 10001, "app")
    assert resolve_user("", PASSWD, GROUP) == (0, None, "root")
    assert resolve_user("4242", PASSWD, GROUP) == (4242, None, None)
    assert resolve_user("ghost", PASSWD, GROUP) == (None, None, None)


def test_first_passwd_entry_of_a_uid_wins() -> None:
    assert parse_passwd("toor:x:0:0::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n")[0] == "toor"


def test_writable_by_owner_group_other_and_root() -> None:
    assert writable_by(0o755, 10001, 10001, 10001, set())
    assert not writable_by(0o755, 0, 0, 10001, {10001})
    assert writable_by(0o775, 0, 10001, 10001, {10001})
    assert writable_by(0o1777, 0, 0, 10001, set())
    assert writable_by(0o555, 5, 5, 0, set())
    assert not writable_by(0o500, 10001, 10001, 10001, set())


def test_parse_probe_output() -> None:
    out = "uid 10001\nname app\nwritable /app\nreadonly /data\nmissing /gone\n"
    assert parse_probe(out) == (10001, "app", {"/app": True, "/data": False, "/gone": False})


def test_config_from_docker_and_oci_keys() -> None:
    docker = config_from(
        {"User": "app", "WorkingDir": "/app", "Volumes": {"/data": {}}, "Cmd": ["sh"]},
        5,
        lower=False,
    )
    assert (docker.user, docker.workdir, docker.volumes, docker.cmd) == (
        "app",
        "/app",
        ("/data",),
        ("sh",),
    )
    oci = config_from({"user": "1:1", "workingdir": "/w", "volumes": None}, 0, lower=True)
    assert (oci.user, oci.workdir, oci.volumes) == ("1:1", "/w", ())


def test_temporary_dockerfile_never_lands_inside_the_context(tmp_path: Path) -> None:
    import tempfile

    system_tmp = Path(tempfile.gettempdir()).resolve()
    chosen = outside(system_tmp)
    assert chosen is not None
    assert system_tmp not in Path(chosen).resolve().parents
    assert outside(tmp_path / "ctx") is None  # a context below /tmp: /tmp itself is outside


def test_unknown_engine_name_is_refused() -> None:
    with pytest.raises(NoEngineError, match="unknown engine"):
        find_engine("rkt")


def test_no_engine_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NoEngineError, match="apt-get install podman"):
        find_engine()


def test_normalise_image_names() -> None:
    assert normalise("debian:12") == "docker.io/library/debian:12"
    assert normalise("alpine") == "docker.io/library/alpine:latest"
    assert normalise("gcr.io/distroless/static-debian12") == (
        "gcr.io/distroless/static-debian12:latest"
    )
    assert normalise("bitnami/redis:7") == "docker.io/bitnami/redis:7"


# --- a real engine -----------------------------------------------------------------------


@pytest.mark.engine
def test_every_local_base_image_is_present(engine: Engine) -> None:
    for ref in LOCAL_IMAGES:
        assert engine.image_exists(ref), ref


@pytest.mark.engine
@pytest.mark.parametrize(
    ("image", "has_shell"),
    [
        ("docker.io/library/debian:bookworm-slim", True),
        ("docker.io/library/alpine:3.20", True),
        ("gcr.io/distroless/static-debian12:latest", False),
    ],
)
def test_base_images_run_as_root(running_engine: Engine, image: str, has_shell: bool) -> None:
    user = running_engine.runtime_user(image)
    assert (user.uid, user.name, user.has_shell) == (0, "root", has_shell)


@pytest.mark.engine
def test_build_reads_dockerfile_from_outside_the_context(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n# the one in the working tree\n")
    (tmp_path / "data.txt").write_text("hello\n")
    text = b"FROM docker.io/library/alpine:3.20\nCOPY . /ctx/\nRUN ls /ctx > /listing\n"
    tag = f"localhost/fixuser-test/context:{RUN_ID}"
    try:
        engine.build(text, tmp_path, tag)
        files = engine.read_files(tag, ["/listing"])
        listing = files["/listing"]
        assert isinstance(listing, bytes)
        assert listing.split() == [b"Dockerfile", b"data.txt"]  # the tree's own, unchanged
        assert (tmp_path / "Dockerfile").read_text().startswith("FROM scratch")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "data.txt"]
    finally:
        engine.remove_image(tag)


@pytest.mark.engine
def test_build_args_and_target_pass_through(engine: Engine, tmp_path: Path) -> None:
    text = (
        b"FROM docker.io/library/alpine:3.20 AS first\nARG WHO=nobody\nRUN echo $WHO > /who\n"
        b"FROM first AS second\nRUN exit 1\n"
    )
    tag = f"localhost/fixuser-test/args:{RUN_ID}"
    try:
        engine.build(text, tmp_path, tag, BuildOptions((("WHO", "fixuser"),), target="first"))
        who = engine.read_files(tag, ["/who"])["/who"]
        assert who == b"fixuser\n"
    finally:
        engine.remove_image(tag)


@pytest.mark.engine
def test_failed_build_carries_the_engine_error_lines(engine: Engine, tmp_path: Path) -> None:
    text = b"FROM docker.io/library/alpine:3.20\nRUN echo broken-step >&2; exit 3\n"
    with pytest.raises(EngineError) as caught:
        engine.build(text, tmp_path, f"localhost/fixuser-test/broken:{RUN_ID}")
    assert any("broken-step" in line or "exit" in line for line in caught.value.lines)


@pytest.mark.engine
def test_read_files_gives_directory_owner_and_mode(engine: Engine, tmp_path: Path) -> None:
    files = engine.read_files("gcr.io/distroless/static-debian12", ["/home/nonroot", "/nope"])
    entry = files["/home/nonroot"]
    assert isinstance(entry, tarfile.TarInfo)
    assert (entry.uid, entry.mode & 0o777) == (65532, 0o700)
    assert "/nope" not in files


# --- facts about this engine that decide how fixuser makes directories writable -----------


def owner_of(engine: Engine, tag: str, path: str) -> tuple[int, int] | None:
    entry = engine.read_files(tag, [path]).get(path)
    return (entry.uid, entry.gid) if isinstance(entry, tarfile.TarInfo) else None


@pytest.fixture(scope="module")
def facts_image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ctx = tmp_path_factory.mktemp("facts")
    (ctx / "src").mkdir()
    (ctx / "src" / "f").write_text("x\n")
    text = (
        b"FROM docker.io/library/debian:bookworm-slim\n"
        b"VOLUME /v\n"
        b"RUN chown 65532:65532 /v\n"
        b"RUN mkdir /owned && chown 65532:65532 /owned\n"
        b"VOLUME /owned\n"
        b"USER 65532:65532\n"
        b"WORKDIR /x\n"
        b"COPY --chown=65532:65532 src /newdir/\n"
        b"COPY src /plain/\n"
    )
    tag = f"localhost/fixuser-test/facts:{RUN_ID}"
    engine.build(text, ctx, tag)
    yield tag
    engine.remove_image(tag)


@pytest.mark.engine
def test_fact_workdir_after_user_is_created_owned_by_that_user(
    engine: Engine, facts_image: str
) -> None:
    if engine.name == "docker":
        pytest.skip("recorded for podman/buildah")
    assert owner_of(engine, facts_image, "/x") == (65532, 65532)


@pytest.mark.engine
def test_fact_copy_chown_creates_the_destination_owned(engine: Engine, facts_image: str) -> None:
    assert owner_of(engine, facts_image, "/newdir") == (65532, 65532)
    assert owner_of(engine, facts_image, "/plain") == (0, 0)


def runtime_owner(engine: Engine, tag: str, path: str) -> str:
    """Owner of ``path`` as a container of ``tag`` sees it (volumes are mounted then)."""
    done = engine.run(tag, ["-c", f"stat -c %u:%g {path}"], entrypoint="/bin/sh", user="0")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.engine
def test_fact_chown_after_volume_is_lost_and_before_it_is_kept(
    running_engine: Engine, facts_image: str
) -> None:
    assert runtime_owner(running_engine, facts_image, "/v") == "0:0"
    assert runtime_owner(running_engine, facts_image, "/owned") == "65532:65532"


@pytest.mark.engine
def test_fact_chown_of_a_volume_inherited_from_the_parent_stage_is_lost(
    running_engine: Engine, tmp_path: Path
) -> None:
    """Why fix warns about a VOLUME a parent stage declares instead of chowning it."""
    if running_engine.name == "docker":
        pytest.skip("recorded for podman/buildah")
    text = (
        b"FROM docker.io/library/debian:bookworm-slim AS base\n"
        b"VOLUME /inherited\n"
        b"FROM base\n"
        b"RUN mkdir -p /inherited && chown 65532:65532 /inherited\n"
    )
    tag = f"localhost/fixuser-test/inherited-volume:{RUN_ID}"
    running_engine.build(text, tmp_path, tag)
    try:
        assert runtime_owner(running_engine, tag, "/inherited") == "0:0"
    finally:
        running_engine.remove_image(tag)


def test_missing_engine_skips_locally_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from testing.engine import unavailable

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but no engine"):
        unavailable("no engine")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no engine"):
        unavailable("no engine")


def test_an_image_labelled_fixuser_dockerfile_names_its_dockerfile() -> None:
    from fixuser.containers.parse import dockerfile_label

    labels = {"fixuser.dockerfile": "svc/Dockerfile", "org.label-schema.vcs-url": "https://x"}
    assert dockerfile_label(labels) == "svc/Dockerfile"
    assert dockerfile_label({"org.label-schema.vcs-url": "https://x"}) == "https://x"
    assert dockerfile_label({}) is None
