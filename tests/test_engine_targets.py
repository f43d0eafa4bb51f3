"""What the kernel and the filesystem say about the samples of a fix that must keep the app working.

Each test builds a sample's original Dockerfile and its ``expected`` (exactly what fix produces,
as tests/test_samples.py proves), runs them and reads who PID 1 is (the ``Uid:`` line of its
/proc/1/status, as CIS 4.1 audits it), how the container's own CMD exits, or who owns the files
in the image: a fixed ``--target`` stage runs as 10001 while the stage built FROM it still builds
and runs as root; a HOME under /root is moved; the directories the app writes stay writable; a
trailing ``USER root`` after ``USER svc`` leaves svc; COPY into an inherited WORKDIR and a copied
class path directory are owned by the new user; and an app under /root, which no other user can
enter, is rightly left alone. Where a test says which failure the fix prevents, it builds the
fix without the line that prevents it and shows that failure.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from fixuser.containers.engine import BuildOptions, Completed, Engine, EngineError, parse_status_uid
from fixuser.core import check, fix
from fixuser.model import Verdict
from testing.engine import RUN_ID, SAMPLES, build_tagged, needs_mirror, start_container
from testing.samples import Sample, load

FIXED_UID = 10001  # Settings().uid: the user every fix below runs as
SLEEP = ("sleep", "60")  # argv for a container that stays up while PID 1 is read


def tag_for(name: str) -> str:
    return f"localhost/fixuser-test/targets-{name}:{RUN_ID}"


def build(
    engine: Engine,
    images: list[str],
    text: bytes,
    context: Path,
    name: str,
    options: BuildOptions | None = None,
) -> str:
    return build_tagged(engine, images, text, context, tag_for(name), options)


def sample_and_fix(name: str) -> tuple[Sample, bytes]:
    """The sample and what fix makes of it with its own settings: its ``expected``."""
    sample = load(SAMPLES / name)
    result = fix(sample.source, sample.settings, path=str(sample.folder), context=sample.context())
    assert result.output == sample.expected, name
    assert result.changed, name
    return sample, result.output


def without_lines(text: bytes, *lines: bytes) -> bytes:
    """``text`` with each of ``lines`` (whole lines, prefixes ending in ...) removed once."""
    kept = text.splitlines(keepends=True)
    for line in lines:
        prefix = line.removesuffix(b"...")
        hits = [
            i
            for i, have in enumerate(kept)
            if (have.startswith(prefix) if prefix != line else have.rstrip(b"\r\n") == line)
        ]
        assert len(hits) == 1, (line, text)
        del kept[hits[0]]
    return b"".join(kept)


def logs(engine: Engine, container: str) -> str:
    done = engine.command(["logs", container], check=False)
    return (done.stdout + done.stderr).strip()


def pid1_uid(engine: Engine, image: str, label: str, *argv: str) -> int | None:
    """The effective UID of PID 1 of a detached container of ``image`` (run with ``argv``)."""
    container = start_container(engine, image, label, argv=argv)
    try:
        status = engine.container_status(container)
        assert status is not None, f"{container} is not running: {logs(engine, container)}"
        return parse_status_uid(status)
    finally:
        engine.remove_container(container)


def own_cmd(engine: Engine, image: str) -> Completed:
    """A container of ``image`` run to completion with its own ENTRYPOINT/CMD and user."""
    return engine.run(image)


def shell(engine: Engine, image: str, script: str) -> Completed:
    """``sh -c script`` in a container of ``image``, as the image's user."""
    return engine.run(image, ["-c", script], entrypoint="/bin/sh")


def owners(engine: Engine, image: str, *paths: str) -> dict[str, int]:
    """path -> owning UID in ``image``: directories from its filesystem, files by ``stat``.

    ``Engine.read_files`` gives a directory's TarInfo (its owner) but a regular file's bytes only,
    so the owner of a file is what ``stat`` in a container of the image says.
    """
    found = engine.read_files(image, paths)
    result: dict[str, int] = {}
    files: list[str] = []
    for path in paths:
        entry = found.get(path)
        assert entry is not None, f"{path} is not in {image}"
        if isinstance(entry, tarfile.TarInfo):
            assert entry.isdir(), (path, entry.type)
            result[path] = entry.uid
        else:
            files.append(path)
    if files:
        done = engine.run(image, ["-c", "%u %n", *files], entrypoint="stat", user="0")
        assert done.returncode == 0, done
        for line in done.stdout.splitlines():
            uid, _, path = line.partition(" ")
            result[path] = int(uid)
    assert set(result) == set(paths), (result, paths)
    return result


# --- a --target stage others build FROM ----------------------------------------------------


@pytest.mark.engine
def test_target_base_runs_as_10001_while_dev_built_from_it_still_builds_and_runs_as_root(
    running_engine: Engine, images: list[str], session_label: str
) -> None:
    sample, fixed = sample_and_fix("target-with-children")
    assert sample.settings.target == "base"
    base = BuildOptions(target="base")

    before = build(running_engine, images, sample.source, sample.folder, "children")
    assert pid1_uid(running_engine, before, session_label, *SLEEP) == 0

    # The default target (the last stage, dev): its RUN writing /etc ran as root, as before, and
    # it keeps the user it had.
    dev = build(running_engine, images, fixed, sample.folder, "children-fixed")
    assert pid1_uid(running_engine, dev, session_label, *SLEEP) == 0
    marker = running_engine.read_files(dev, ["/etc/dev-marker"]).get("/etc/dev-marker")
    assert marker == b"dev build\n", marker
    ran = own_cmd(running_engine, dev)
    assert (ran.returncode, ran.stdout.strip()) == (0, "0"), ran

    # --target base: the stage fixuser fixed runs as 10001, and has no dev marker.
    fixed_base = build(running_engine, images, fixed, sample.folder, "children-base", base)
    assert pid1_uid(running_engine, fixed_base, session_label, *SLEEP) == FIXED_UID
    ran = own_cmd(running_engine, fixed_base)
    assert (ran.returncode, ran.stdout.strip()) == (0, str(FIXED_UID)), ran
    assert "/etc/dev-marker" not in running_engine.read_files(fixed_base, ["/etc/dev-marker"])

    # The failure the USER root prevents: without it, dev inherits 10001 and its RUN fails.
    broken = without_lines(fixed, b"# fixuser: stage base...", b"USER root")
    assert b"USER root" not in broken
    with pytest.raises(EngineError) as failed:
        build(running_engine, images, broken, sample.folder, "children-no-user-root")
    message = "\n".join(failed.value.lines)
    assert "/etc/dev-marker" in message, message
    assert "Permission denied" in message, message


# --- ENV HOME=/root --------------------------------------------------------------------------


@pytest.mark.engine
@needs_mirror
def test_home_under_root_is_moved_so_the_app_writes_its_cache_as_10001_in_home_app(
    running_engine: Engine, images: list[str], session_label: str
) -> None:
    sample, fixed = sample_and_fix("home-root")

    before = build(running_engine, images, sample.source, sample.folder, "home")
    ran = own_cmd(running_engine, before)
    assert ran.returncode == 0 and ran.stdout.startswith("uid=0(root)"), ran

    after = build(running_engine, images, fixed, sample.folder, "home-fixed")
    ran = own_cmd(running_engine, after)
    assert ran.returncode == 0, ran
    assert ran.stdout.startswith(f"uid={FIXED_UID}(app) gid={FIXED_UID}(app)"), ran
    assert pid1_uid(running_engine, after, session_label, *SLEEP) == FIXED_UID
    seen = shell(
        running_engine, after, 'echo "$HOME"; run.sh >/dev/null; cat "$HOME/.cache/app/stamp"'
    )
    assert seen.returncode == 0, seen
    home, stamp = seen.stdout.splitlines()[0], seen.stdout.splitlines()[1:]
    assert home == "/home/app", seen
    assert stamp, seen  # run.sh wrote the stamp under the new HOME

    # The failure the ENV HOME prevents: HOME stays /root (0700), which 10001 cannot write.
    broken = without_lines(fixed, b"ENV HOME=/home/app")
    assert b"ENV HOME=/root" in broken and b"ENV HOME=/home/app" not in broken
    stale = build(running_engine, images, broken, sample.folder, "home-no-env-home")
    ran = own_cmd(running_engine, stale)
    assert ran.returncode != 0, ran
    message = ran.stderr + ran.stdout
    assert "cannot create directory '/root" in message, message
    assert "Permission denied" in message, message


@pytest.mark.engine
def test_a_home_set_to_root_after_the_user_line_is_followed_by_the_users_home(
    running_engine: Engine, images: list[str]
) -> None:
    sample, fixed = sample_and_fix("home-root-set-late")
    assert fixed.index(b"ENV HOME=/home/app") > fixed.index(b"ENV HOME=/root")

    after = build(running_engine, images, fixed, sample.folder, "home-late-fixed")
    ran = own_cmd(running_engine, after)
    assert ran.returncode == 0, ran
    assert ran.stdout.startswith(f"uid={FIXED_UID}(app) gid={FIXED_UID}(app)"), ran
    seen = shell(
        running_engine, after, 'echo "$HOME"; run.sh >/dev/null; cat "$HOME/.cache/app/stamp"'
    )
    assert seen.returncode == 0, seen
    assert seen.stdout.splitlines()[0] == "/home/app", seen
    assert seen.stdout.splitlines()[1:], seen  # run.sh wrote its stamp under the new HOME

    # Had the new HOME gone with the USER line, the ENV HOME=/root below it would win.
    early = fixed.replace(b"ENV HOME=/home/app\n", b"").replace(
        b"USER 10001:10001\n", b"USER 10001:10001\nENV HOME=/home/app\n"
    )
    stale = build(running_engine, images, early, sample.folder, "home-late-early")
    ran = own_cmd(running_engine, stale)
    assert ran.returncode != 0, ran
    assert "Permission denied" in ran.stderr + ran.stdout, ran


# --- the directories the app writes ------------------------------------------------------------


@pytest.mark.engine
def test_workdir_dirs_run_made_and_state_outside_stay_writable_so_the_cmd_exits_0_as_10001(
    running_engine: Engine, images: list[str]
) -> None:
    sample, fixed = sample_and_fix("workdir-mkdir-volume")

    before = build(running_engine, images, sample.source, sample.folder, "workdir")
    ran = own_cmd(running_engine, before)
    assert ran.returncode == 0 and ran.stdout.startswith("uid=0(root)"), ran

    after = build(running_engine, images, fixed, sample.folder, "workdir-fixed")
    ran = own_cmd(running_engine, after)
    assert ran.returncode == 0, ran  # wrote /srv/app/data, /srv/app/logs, /var/lib/app-cache
    assert ran.stdout.startswith(f"uid={FIXED_UID}(app)"), ran


# --- USER root after USER svc -------------------------------------------------------------------


@pytest.mark.engine
def test_trailing_user_root_removed_after_user_svc_runs_pid_1_as_svc_2000_built_as_svc(
    running_engine: Engine, images: list[str], session_label: str
) -> None:
    sample, fixed = sample_and_fix("trailing-user-root-after-user")

    before = build(running_engine, images, sample.source, sample.folder, "trailing")
    assert pid1_uid(running_engine, before, session_label, *SLEEP) == 0

    after = build(running_engine, images, fixed, sample.folder, "trailing-fixed")
    assert pid1_uid(running_engine, after, session_label, *SLEEP) == 2000
    ran = own_cmd(running_engine, after)
    assert ran.returncode == 0 and ran.stdout.startswith("uid=2000(svc) gid=2000(svc)"), ran
    built = running_engine.read_files(after, ["/home/svc/built"]).get("/home/svc/built")
    assert built == b"built as svc\n", built  # the RUN under USER svc ran as svc, as before


# --- COPY into a WORKDIR inherited from the parent stage ---------------------------------------


@pytest.mark.engine
def test_copy_into_inherited_workdir_and_the_dir_its_run_made_are_owned_by_10001(
    running_engine: Engine, images: list[str]
) -> None:
    sample, fixed = sample_and_fix("copy-inherited-workdir")
    paths = ("/srv/app", "/srv/app/uploads", "/srv/app/app.py")  # no python: app.py never runs

    before = build(running_engine, images, sample.source, sample.folder, "inherited")
    assert owners(running_engine, before, *paths) == dict.fromkeys(paths, 0)

    after = build(running_engine, images, fixed, sample.folder, "inherited-fixed")
    assert owners(running_engine, after, *paths) == dict.fromkeys(paths, FIXED_UID)
    app = running_engine.read_files(after, ["/srv/app/app.py"]).get("/srv/app/app.py")
    assert app == (sample.folder / "app.py").read_bytes()
    assert running_engine.image_config(after).user == f"{FIXED_UID}:{FIXED_UID}"


# --- COPY of a class path directory --------------------------------------------------------------


@pytest.mark.engine
def test_copied_class_path_directory_is_owned_by_10001_and_the_cmd_exits_0_as_10001(
    running_engine: Engine, images: list[str]
) -> None:
    sample, fixed = sample_and_fix("classpath-directory-copy")
    paths = ("/app", "/app/Main.class.txt")

    before = build(running_engine, images, sample.source, sample.folder, "classpath")
    assert owners(running_engine, before, *paths) == dict.fromkeys(paths, 0)
    ran = own_cmd(running_engine, before)
    assert ran.returncode == 0 and ran.stdout.startswith("uid=0(root)"), ran

    after = build(running_engine, images, fixed, sample.folder, "classpath-fixed")
    assert owners(running_engine, after, *paths) == dict.fromkeys(paths, FIXED_UID)
    ran = own_cmd(running_engine, after)
    assert ran.returncode == 0, ran
    assert ran.stdout.startswith(f"uid={FIXED_UID}(app)"), ran


# --- an app under /root ----------------------------------------------------------------------


@pytest.mark.engine
def test_app_under_root_is_left_alone_because_forced_as_10001_its_container_cannot_start(
    running_engine: Engine, images: list[str]
) -> None:
    sample = load(SAMPLES / "app-under-root")
    found = check(sample.source, sample.settings, context=sample.context())
    assert found.verdict is Verdict.NEEDS_ROOT, found
    left = fix(sample.source, sample.settings, context=sample.context())
    assert not left.changed and left.output == sample.source == sample.expected
    forced = fix(sample.source, sample.settings.replace(force=True), context=sample.context())
    assert forced.change is not None and forced.change.user == f"{FIXED_UID}:{FIXED_UID}"

    before = build(running_engine, images, sample.source, sample.folder, "under-root")
    ran = own_cmd(running_engine, before)
    assert ran.returncode == 0 and ran.stdout.startswith("uid=0(root)"), ran

    after = build(running_engine, images, forced.output, sample.folder, "under-root-forced")
    assert running_engine.image_config(after).workdir == "/root/app"
    ran = own_cmd(running_engine, after)
    # /root is 0700: as 10001 no path below it resolves, so /root/app/run.sh never runs (runc
    # itself still enters the WORKDIR: a relative ./run.sh would start).
    assert ran.returncode != 0, ran
    message = ran.stderr + ran.stdout
    assert "permission denied" in message.lower(), message
    assert "uid=" not in ran.stdout, ran


@pytest.mark.engine
def test_every_shipped_stage_is_fixed_and_every_target_still_builds(
    running_engine: Engine, images: list[str], tmp_path: Path
) -> None:
    """compose builds base and worker (worker FROM base), the last stage dev ships nowhere:
    both shipped stages run as 10001, worker's RUN still ran as root, dev keeps root."""
    from fixuser.model import Target
    from fixuser.settings import Settings

    (tmp_path / "app.sh").write_text("#!/bin/sh\nid -u\n")
    (tmp_path / "app.sh").chmod(0o755)
    source = (
        b"FROM docker.io/library/debian:bookworm-slim AS base\n"
        b"RUN mkdir -p /app\n"
        b"COPY app.sh /app/\n"
        b'CMD ["/app/app.sh"]\n'
        b"FROM base AS worker\n"
        b"RUN echo w > /etc/worker\n"
        b'CMD ["/app/app.sh"]\n'
        b"FROM base AS dev\n"
        b"RUN echo d > /etc/dev\n"
        b'CMD ["/app/app.sh"]\n'
    )
    ships = (Target("base", "compose.yaml:3"), Target("worker", "compose.yaml:7"))
    fixed = fix(source, Settings(), targets=ships).output
    uids = {}
    for target in ("base", "worker", None):  # None: docker build . (the last stage, dev)
        name = f"ships-{target or 'default'}"
        tag = build(running_engine, images, fixed, tmp_path, name, BuildOptions(target=target))
        ran = own_cmd(running_engine, tag)
        assert ran.returncode == 0, ran
        uids[target] = int(ran.stdout.strip())
    assert uids == {"base": FIXED_UID, "worker": FIXED_UID, None: 0}
    worker = tag_for("ships-worker")
    assert running_engine.read_files(worker, ["/etc/worker"])["/etc/worker"] == b"w\n"
