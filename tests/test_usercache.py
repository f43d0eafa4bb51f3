"""fixuser.usercache: the user's cache directory is a shortcut, never a failure.

Every way a cache directory can be unusable (a file in its way, a read-only file system, a
path the system refuses, another user's directory) leaves fixuser's output exactly what it is
with a working cache, and nothing on stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixuser import usercache

REPO = Path(__file__).resolve().parents[1]
# Samples whose fixes render the templates of eight families.
SAMPLES = (
    "debian-basic",
    "alpine-basic",
    "ubi9",
    "ubi-minimal",
    "opensuse",
    "archlinux",
    "distroless-writable",
    "scratch",
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cache_is_under_xdg_cache_home_or_else_home_dot_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert usercache.root() == str(tmp_path / "xdg" / "fixuser")
    for ignored in ("", "relative/cache"):  # the XDG specification: ignore a relative path
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert usercache.root() == str(tmp_path / "home" / ".cache" / "fixuser")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert usercache.root() == str(tmp_path / "home" / ".cache" / "fixuser")


def test_a_file_is_kept_and_read_back_in_directories_only_its_user_can_write(
    cache: Path,
) -> None:
    assert usercache.read("kind", "name") is None
    usercache.write("kind", "name", b"data")
    assert usercache.read("kind", "name") == b"data"
    for directory in (cache, cache / "fixuser", cache / "fixuser" / "kind"):
        assert directory.stat().st_mode & 0o777 == 0o700
    assert sorted(os.listdir(cache / "fixuser" / "kind")) == ["name"]  # no temporary left


def test_a_file_appears_only_whole_renamed_from_a_temporary_in_the_same_directory(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # So two runs writing the same file at once leave one whole file or the other, and a
    # third run reading it meanwhile finds the old file, the new one or none: never a part.
    renames: list[tuple[str, str, bytes]] = []
    real_replace = os.replace

    def replace(source: str, target: str) -> None:
        assert not os.path.exists(target) or Path(target).read_bytes() == b"old"
        renames.append((source, target, Path(source).read_bytes()))
        real_replace(source, target)

    usercache.write("kind", "name", b"old")
    monkeypatch.setattr(os, "replace", replace)
    data = os.urandom(1 << 20)
    usercache.write("kind", "name", data)
    ((source, target, written),) = renames
    assert target == str(cache / "fixuser" / "kind" / "name") and written == data
    assert os.path.dirname(source) == os.path.dirname(target) and source != target
    assert usercache.read("kind", "name") == data


def test_a_write_replaces_the_older_versions_it_names(cache: Path) -> None:
    usercache.write("kind", "table-1", b"one")
    usercache.write("kind", "other-1", b"other")
    usercache.write("kind", "table-2", b"two", replaces="table-")
    assert sorted(os.listdir(cache / "fixuser" / "kind")) == ["other-1", "table-2"]


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_directory_others_may_write_is_neither_read_nor_written(cache: Path, mode: int) -> None:
    usercache.write("kind", "name", b"data")
    os.chmod(cache / "fixuser" / "kind", mode)
    assert usercache.read("kind", "name") is None
    usercache.write("kind", "other", b"data")
    assert not (cache / "fixuser" / "kind" / "other").exists()
    os.chmod(cache / "fixuser" / "kind", 0o700)
    os.chmod(cache / "fixuser", mode)
    assert usercache.read("kind", "name") is None


def test_another_users_directory_is_neither_read_nor_written(cache: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    usercache.write("kind", "name", b"data")
    os.chown(cache / "fixuser" / "kind", 65534, 65534)
    assert usercache.read("kind", "name") is None
    usercache.write("kind", "other", b"data")
    assert not (cache / "fixuser" / "kind" / "other").exists()


# --- fixuser itself, with each kind of unusable cache directory ------------------------------


def fixuser(
    cwd: Path, cache: str, wrap: tuple[str, ...] = (), *args: str
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    return subprocess.run(
        [*wrap, sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
    )


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    tree = tmp_path / "samples"
    for name in SAMPLES:
        shutil.copytree(REPO / "samples" / name, tree / name)
    return tree


def read_only(directory: Path) -> tuple[str, ...]:
    """A prefix that runs a command with ``directory`` mounted read-only over itself, in a
    mount namespace of its own (a user namespace as well, so that no root is needed)."""
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
         str(directory), "true"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        from testing.engine import unavailable  # skip, or in CI fail

        unavailable(f"cannot mount a read-only directory: {probe.stderr.strip()}")
    return ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
            str(directory))  # fmt: skip


def test_fixuser_with_no_usable_cache_writes_what_it_writes_with_one(
    samples: Path, tmp_path: Path
) -> None:
    working = str(tmp_path / "working")
    expected = [fixuser(samples, working, (), *args) for args in (("check",), ("fix", "--diff"))]
    assert [e.returncode for e in expected] == [1, 1]
    assert b"Traceback" not in expected[1].stderr and expected[1].stderr.count(b"would fix") > 5
    assert expected[1].stdout.count(b"+++ b/") == len(SAMPLES)
    assert sorted(os.listdir(Path(working) / "fixuser")) == ["jinja", "tables"]

    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n")
    blocked = tmp_path / "blocked"
    (blocked / "fixuser").parent.mkdir()
    (blocked / "fixuser").write_text("not a directory\n")
    empty_read_only = tmp_path / "read-only-empty"
    empty_read_only.mkdir(mode=0o700)
    warm_read_only = tmp_path / "read-only-warm"  # a cache from another run, now read-only
    shutil.copytree(working, warm_read_only)
    os.remove(next((warm_read_only / "fixuser" / "jinja").iterdir()))  # one template misses
    warm_files = sorted(p.name for p in warm_read_only.rglob("*"))
    unusable: dict[str, tuple[str, tuple[str, ...]]] = {
        "a file where the directory should be": (str(in_the_way), ()),
        "a file where fixuser's directory should be": (str(blocked), ()),
        "a path the system refuses to create": ("/proc/self/fixuser-cache", ()),
        "a read-only, empty directory": (str(empty_read_only), read_only(empty_read_only)),
        "a read-only directory of an earlier run": (
            str(warm_read_only),
            read_only(warm_read_only),
        ),
    }
    for why, (cache, wrap) in unusable.items():
        for args, want in zip((("check",), ("fix", "--diff")), expected, strict=True):
            done = fixuser(samples, cache, wrap, *args)
            assert (done.returncode, done.stdout, done.stderr) == (
                want.returncode,
                want.stdout,
                want.stderr,  # what fix says of each file: no word of the cache
            ), why
    assert sorted(os.listdir(empty_read_only)) == []  # read-only indeed: nothing was written
    assert sorted(p.name for p in warm_read_only.rglob("*")) == warm_files


def test_runs_writing_an_empty_cache_at_once_all_write_the_same(
    samples: Path, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    argv = [sys.executable, "-m", "fixuser", "fix", "--diff", "--jobs", "1"]
    runs = [
        subprocess.Popen(argv, cwd=samples, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = {run.communicate(timeout=300) for run in runs}
    assert len(outputs) == 1
    again = fixuser(samples, cache, (), "fix", "--diff", "--jobs", "1")
    assert {(again.stdout, again.stderr)} == outputs
    leftovers = [p for p in Path(cache).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_fixuser_version_makes_no_cache_directory(tmp_path: Path) -> None:
    done = fixuser(tmp_path, str(tmp_path / "cache"), (), "--version")
    assert done.returncode == 0 and not (tmp_path / "cache").exists()
