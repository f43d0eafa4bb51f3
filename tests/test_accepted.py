"""``# fixuser: ignore``: what a team accepts as root on purpose is listed as accepted, never
failed, in every format, and fix leaves it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

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
