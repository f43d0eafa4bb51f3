"""Hostile and spaced paths and a reused name built for real (issue 20 item 1): the fixed
image has each directory BuildKit's reading of the file names owned by the user, and no file
the paths' shell code would have made at build time."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from fixuser.containers.engine import Engine
from fixuser.core import fix
from fixuser.settings import Settings
from testing.engine import RUN_ID, SAMPLES, build_tagged

pytestmark = pytest.mark.engine

MARKERS = ["/tmp/fixuser-pwned-arg", "/tmp/fixuser-pwned-workdir", "/tmp/fixuser-pwned-volume"]
# sample -> (the directories that must be the user's, its UID)
OWNED = {
    "hostile-paths": (
        [
            "/app$(touch /tmp/fixuser-pwned-workdir)",
            "/data;touch /tmp/fixuser-pwned-volume",
            "/var/lib/app #1",
            "/srv/it's `touch /tmp/fixuser-pwned-arg`",
            "/home/app",
        ],
        10001,
    ),
    "workdir-quoted-spaces": (
        [
            "/config/Library/Application Support",
            "/srv/media library",
            "/var/lib/plex/Library/Application Support",
        ],
        1000,
    ),
    "reused-user-dollar": (["/srv/app"], None),
}


@pytest.mark.parametrize("name", list(OWNED))
def test_a_hostile_or_spaced_path_is_owned_as_written_and_nothing_ran_at_build_time(
    name: str, engine: Engine, images: list[str]
) -> None:
    folder: Path = SAMPLES / name
    result = fix((folder / "Dockerfile").read_bytes(), Settings(), path=str(folder))
    tag = build_tagged(
        engine, images, result.output, folder, f"localhost/fixuser-test/{name}:{RUN_ID}"
    )
    paths, uid = OWNED[name]
    found = engine.read_files(tag, [*paths, *MARKERS, "/etc/passwd"])
    assert not [m for m in MARKERS if m in found], "shell code in a path ran at build time"
    if uid is None:  # the reused name svc$: its UID is what useradd gave it
        passwd = found["/etc/passwd"]
        assert isinstance(passwd, bytes)
        line = next(x for x in passwd.decode().splitlines() if x.startswith("svc$:"))
        uid = int(line.split(":")[2])
    for path in paths:
        entry = found.get(path)
        assert isinstance(entry, tarfile.TarInfo), f"{path} is no directory of the image"
        assert entry.uid == uid, f"{path} is owned by {entry.uid}, not {uid}"


@pytest.mark.parametrize("name", ["hostile-paths", "reused-user-dollar"])
def test_the_fixed_hostile_image_runs_as_its_user(
    name: str, running_engine: Engine, images: list[str]
) -> None:
    folder: Path = SAMPLES / name
    result = fix((folder / "Dockerfile").read_bytes(), Settings(), path=str(folder))
    tag = build_tagged(
        running_engine, images, result.output, folder, f"localhost/fixuser-test/{name}-run:{RUN_ID}"
    )
    done = running_engine.run(tag, [])
    assert done.returncode == 0, done.stderr
    expected = "uid=10001(app)" if name == "hostile-paths" else "svc$"
    assert expected in done.stdout
