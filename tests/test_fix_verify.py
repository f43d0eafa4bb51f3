"""fix --verify: a fix is written only when a real build and run prove it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixuser.containers.engine import Engine
from fixuser.main import main


def test_proven_fix_is_written(
    running_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "Dockerfile"
    target.write_text("FROM docker.io/library/alpine:3.20\nWORKDIR /site\nCOPY . .\n")
    code = main(["fix", "--verify", str(target)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "USER 10001:10001" in target.read_text()
    assert "fixed: USER 10001:10001" in err


def test_fix_that_fails_its_proof_is_not_written(
    running_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /usr/share is a system tree fixuser never chowns, so the new user cannot write its
    # WORKDIR there: the proof catches it and the file stays as it was.
    original = "FROM docker.io/library/alpine:3.20\nWORKDIR /usr/share/site\nCOPY . .\n"
    target = tmp_path / "Dockerfile"
    target.write_text(original)
    code = main(["fix", "--verify", str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "not written: the fix failed its proof" in err
    assert "/usr/share/site" in err
    assert target.read_text() == original
