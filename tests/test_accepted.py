"""``# fixuser: ignore``: what a team accepts as root on purpose is listed as accepted, never
failed, in every format, and fix leaves it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from fixuser import core
from fixuser.model import Target, Verdict
from fixuser.settings import Settings

SARIF_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"

ONE_SHOT = (
    b"FROM debian:bookworm-slim\n"
    b"RUN useradd --uid 10001 --user-group app\n"
    b"USER app\n"
    b"# fixuser: ignore: chowns the volumes once, as root\n"
    b"USER root\n"
    b'CMD ["chown", "-R", "10001:10001", "/data"]\n'
)


def fixuser(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args], cwd=cwd, capture_output=True, text=True
    )


def sarif_results(text: str) -> list[dict[str, object]]:
    sarif = json.loads(text)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)
    results: list[dict[str, object]] = sarif["runs"][0]["results"]
    return results


@pytest.fixture
def one_shot(tmp_path: Path) -> Path:
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "Dockerfile").write_bytes(ONE_SHOT)
    return tmp_path


def test_a_pragma_above_the_last_user_root_accepts_the_stage(one_shot: Path) -> None:
    assert fixuser("check", cwd=one_shot).returncode == 0
    proc = fixuser("check", "--format", "json", cwd=one_shot)
    [entry] = json.loads(proc.stdout)["files"]
    assert entry["accepted"] is True
    assert entry["verdict"] == "ignored"
    assert entry["reason"] == "# fixuser: ignore above line 5: USER root"
    [result] = sarif_results(fixuser("check", "--format", "sarif", cwd=one_shot).stdout)
    assert result["suppressions"] == [{"kind": "inSource", "justification": entry["reason"]}]
    assert fixuser("fix", cwd=one_shot).returncode == 0
    assert (one_shot / "init" / "Dockerfile").read_bytes() == ONE_SHOT


def test_a_pragma_above_an_earlier_user_accepts_nothing(tmp_path: Path) -> None:
    earlier = ONE_SHOT.replace(
        b"USER app\n# fixuser: ignore: chowns the volumes once, as root\n",
        b"# fixuser: ignore\nUSER app\n",
    )
    (tmp_path / "Dockerfile").write_bytes(earlier)
    proc = fixuser("check", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    [entry] = json.loads(proc.stdout)["files"]
    assert "accepted" not in entry


COMPOSE = """\
services:
  app:
    build: app
  init:  # fixuser: ignore -- hands the volume to UID 1000, once
    image: alpine
    user: root
    command: chown -R 1000 /data
  worker:
    image: alpine
    user: "0"
"""
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      initContainers:
        - name: perms  # fixuser: ignore
          image: busybox
          securityContext:
            runAsUser: 0
      containers:
        - name: api
          image: api
          securityContext:
            runAsNonRoot: true
            runAsUser: 0  # fixuser: ignore
        - name: sidecar
          image: proxy
          securityContext:
            runAsNonRoot: true
            runAsUser: 0
"""


@pytest.fixture
def services(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000\n")
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "deploy.yaml").write_text(MANIFEST)
    return tmp_path


def test_overrides_on_a_line_with_the_pragma_are_accepted_and_the_rest_fail(
    services: Path,
) -> None:
    proc = fixuser("check", "--format", "json", cwd=services)
    assert proc.returncode == 1  # the worker and the sidecar
    found = {(o["path"], o["line"]): o for o in json.loads(proc.stdout)["overrides"]}
    accepted = {where: o["reason"] for where, o in found.items() if o.get("accepted")}
    assert accepted == {
        ("compose.yaml", 6): "# fixuser: ignore on line 4",  # on the service's line
        ("k8s/deploy.yaml", 11): "# fixuser: ignore on line 9",  # the container's escalation
        ("k8s/deploy.yaml", 12): "# fixuser: ignore on line 9",  # on the container's line
        ("k8s/deploy.yaml", 18): "# fixuser: ignore on line 18",  # on the setting's line
    }
    assert set(found) - set(accepted) == {("compose.yaml", 10), ("k8s/deploy.yaml", 23)}


def test_accepted_overrides_are_listed_not_failed_in_every_format(services: Path) -> None:
    (services / "compose.yaml").write_text(COMPOSE.replace('user: "0"', 'user: "1000"'))
    (services / "k8s" / "deploy.yaml").write_text(MANIFEST.split("        - name: sidecar")[0])
    text = fixuser("check", cwd=services)
    assert text.returncode == 0, text.stderr
    assert text.stderr == ""
    assert "compose.yaml:6: accepted: service init runs as root (user: root)" in text.stdout
    results = sarif_results(fixuser("check", "--format", "sarif", cwd=services).stdout)
    overrides = [r for r in results if str(r["ruleId"]).startswith("FIXUSER-")]
    assert len(overrides) == 4
    assert all(r["suppressions"][0]["kind"] == "inSource" for r in overrides)  # type: ignore[index]
    for ci in ("github", "gitlab"):
        proc = fixuser("check", "--format", ci, cwd=services)
        assert proc.returncode == 0
        assert "runs as root" not in proc.stdout


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        (b"FROM debian:12", b"# fixuser: ignore: kept as root on purpose\nFROM debian:12"),
        (  # below the parser directive, which must stay first; the file's line endings
            b"# syntax=docker/dockerfile:1\r\nFROM debian:12\r\n",
            b"# syntax=docker/dockerfile:1\r\n"
            b"# fixuser: ignore: kept as root on purpose\r\nFROM debian:12\r\n",
        ),
        (  # above the first instruction: every stage the file ships
            b"ARG V=12\nFROM debian:$V AS a\nFROM a\n",
            b"# fixuser: ignore: kept as root on purpose\nARG V=12\nFROM debian:$V AS a\nFROM a\n",
        ),
    ],
)
def test_keep_adds_the_pragma_that_accepts_the_whole_file(source: bytes, kept: bytes) -> None:
    settings = Settings()
    result = core.keep(source, core.check(source, settings))
    assert result.output == kept
    assert result.change is not None and result.change.strategy == "keep"
    shipped = [Target("a", "compose.yaml:3"), Target(None, "default")] if b" AS a" in source else []
    assert core.check(kept, settings, targets=shipped).verdict is Verdict.IGNORED
