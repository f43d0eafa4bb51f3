"""Base images fixuser does not know: their user is assumed root, said so, and read from an
engine's local image store when --inspect-images allows it (issue 22, item 4)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fixuser.containers import store
from fixuser.containers.engine import Engine
from fixuser.core import check
from fixuser.main import main
from fixuser.model import Verdict
from fixuser.report.findings import Outcome, Report
from fixuser.report.json import as_json
from fixuser.settings import Settings, SettingsError, read_table
from testing.engine import build_tagged

UNKNOWN = b'FROM registry.example.com/team/base:1\nCOPY app /app\nCMD ["/app"]\n'


def test_an_unknown_base_is_assumed_root_and_says_so() -> None:
    analysis = check(UNKNOWN, Settings())
    assert analysis.verdict is Verdict.ROOT
    assert analysis.assumed
    assert analysis.user == "root (assumed root: base image not in fixuser's table)"


def test_the_json_report_carries_assumed() -> None:
    report = Report()
    report.add(Outcome("Dockerfile", check(UNKNOWN, Settings())))
    report.add(Outcome("known/Dockerfile", check(b"FROM debian:12\nCMD x\n", Settings())))
    files = as_json(report)["files"]
    assert [f["assumed"] for f in files] == [True, False]


@pytest.mark.parametrize(
    "source",
    [
        b"FROM debian:12\nCMD x\n",  # the table knows debian runs as root
        b"FROM registry.example.com/team/base:1\nUSER root\n",  # the file says root
        b"FROM registry.example.com/team/base:1\nUSER 1000\n",
        b"# fixuser: ignore\nFROM registry.example.com/team/base:1\n",
    ],
)
def test_a_user_the_table_or_the_file_states_is_not_assumed(source: bytes) -> None:
    assert not check(source, Settings()).assumed


def test_a_user_from_the_local_store_replaces_the_assumption() -> None:
    settings = Settings(image_users=(("registry.example.com/team/base:1", "12345"),))
    analysis = check(UNKNOWN, settings)
    assert (analysis.verdict, analysis.assumed) == (Verdict.COMPLIANT, False)
    assert analysis.user == "12345 (the base image's default, read from the local image store)"


def test_an_empty_user_in_the_store_is_root_and_no_longer_assumed() -> None:
    settings = Settings(image_users=(("registry.example.com/team/base:1", ""),))
    analysis = check(UNKNOWN, settings)
    assert (analysis.verdict, analysis.assumed) == (Verdict.ROOT, False)


def test_image_users_is_not_a_project_setting() -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        read_table(b'[tool.fixuser]\nimage-users = [["a", "b"]]\n', "pyproject.toml")
    with pytest.raises(SettingsError):
        Settings(image_users=(("only-one",),))  # type: ignore[arg-type]


def fake_engines(directory: Path, listing: str) -> Path:
    """docker and podman that record each call in ``calls`` and answer ``listing``."""
    calls = directory / "calls"
    for name in ("docker", "podman"):
        script = directory / name
        script.write_text(
            f'#!/bin/sh\necho "{name} $*" >> {calls}\n'
            f"case \"$1\" in images) printf '%s\\n' '{listing}';; "
            "image) echo 4242;; esac\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return calls


def test_check_asks_no_engine_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = fake_engines(bin_dir, "registry.example.com/team/base:1 sha256:" + "ab" * 32)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "Dockerfile").write_bytes(UNKNOWN)
    assert main(["check", "--format", "json", str(tmp_path)]) == 1
    assert not calls.exists()
    assert json.loads(capsys.readouterr().out)["files"][0]["assumed"] is True

    assert main(["check", "--inspect-images", "--format", "json", str(tmp_path)]) == 0
    analysis = json.loads(capsys.readouterr().out)["files"][0]
    assert (analysis["verdict"], analysis["assumed"]) == ("compliant", False)
    assert calls.read_text().splitlines()[0].startswith("docker images")
    # The answer is kept by image ID: a second run lists the store but inspects nothing.
    calls.unlink()
    assert main(["check", "--inspect-images", str(tmp_path)]) == 0
    assert [line.split()[1] for line in calls.read_text().splitlines()] == ["images"]


def test_an_engine_that_does_not_answer_leaves_the_assumption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor podman
    assert store.image_users(["registry.example.com/team/base:1"]) == ()


@pytest.mark.engine
def test_the_config_user_of_a_local_image_is_read(
    running_engine: Engine,
    images: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if running_engine.name not in store.ENGINES:
        pytest.skip(f"{running_engine.name}: --inspect-images asks docker or podman")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tag = build_tagged(
        running_engine,
        images,
        b"FROM docker.io/library/alpine:3.20\nUSER 12345\n",
        tmp_path,
        "localhost/fixuser-test/store-nonroot:1",
    )
    found = store.image_users(["fixuser-test/store-nonroot:1"], (running_engine.name,))
    assert found == (("fixuser-test/store-nonroot:1", "12345"),)
    image_id = running_engine.command(["image", "inspect", "--format", "{{.Id}}", tag]).stdout
    cached = tmp_path / "cache" / "fixuser" / store.CACHE / image_id.strip().removeprefix("sha256:")
    assert cached.read_text() == "12345"
