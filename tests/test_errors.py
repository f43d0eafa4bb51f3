"""One error type, one handler: every expected failure reaches ``fixuser.main.main`` as one line
and its exit code; an unexpected exception exits 3 with its traceback; Ctrl-C exits 130."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

import pytest

import fixuser
from fixuser import errors
from fixuser.commands import check
from fixuser.errors import FixuserError
from fixuser.main import ISSUES, main

# Every expected-failure class fixuser has, by module and name: a new one joins this list.
EXPECTED = {
    "fixuser.model.DockerfileError",
    "fixuser.model.FixRefused",
    "fixuser.dockerfile.lex.LexError",
    "fixuser.dockerfile.lex.Unresolved",
    "fixuser.containers.engine.EngineError",
    "fixuser.containers.engine.NoEngineError",
    "fixuser.tree.fileio.FileProblem",
    "fixuser.tree.discover.DiscoveryError",
    "fixuser.settings.SettingsError",
    "fixuser.quoting.Unwritable",
    "fixuser.branches.repo.RepoError",
    "fixuser.branches.forge.ForgeError",
    "fixuser.branches.batch.StartError",
    "fixuser.branches.clone_commit.Conflict",
}
# What each constructor takes when it is not one message.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "DiscoveryError": ("Dockerfile", "a planted failure"),
    "Unresolved": ("a planted failure",),
}


def every_subclass() -> list[type[FixuserError]]:
    for module in pkgutil.walk_packages(fixuser.__path__, "fixuser."):
        if module.name != "fixuser.__main__":
            importlib.import_module(module.name)
    found: list[type[FixuserError]] = []
    todo = list(FixuserError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


SUBCLASSES = every_subclass()


def planted(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """``fixuser check`` raises ``error`` where its run would start."""

    def run(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(check, "run", run)


def test_every_expected_failure_is_a_fixuser_error() -> None:
    assert {f"{cls.__module__}.{cls.__qualname__}" for cls in SUBCLASSES} == EXPECTED


def test_the_exit_codes_are_the_documented_ones() -> None:
    assert (errors.EXIT_OK, errors.EXIT_FINDING, errors.EXIT_ERROR) == (0, 1, 2)
    assert (errors.EXIT_BUG, errors.EXIT_INTERRUPTED) == (3, 130)


def test_the_bases_code_catches_them_by_stay() -> None:
    from fixuser.dockerfile.lex import LexError
    from fixuser.model import DockerfileError
    from fixuser.quoting import Unwritable
    from fixuser.settings import SettingsError
    from fixuser.tree.fileio import FileProblem

    assert issubclass(FileProblem, OSError)
    for cls in (DockerfileError, LexError, SettingsError, Unwritable):
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda cls: cls.__qualname__)
def test_each_fixuser_error_is_one_line_and_its_exit_code_through_main(
    cls: type[FixuserError], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(monkeypatch, cls(*ARGUMENTS.get(cls.__name__, ("a planted failure",))))
    assert main(["check", "."]) == cls.exit_code == errors.EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("fixuser: ") and err.endswith("a planted failure\n")
    assert err.count("\n") == 1


def test_an_error_with_its_own_exit_code_exits_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Particular(FixuserError):
        exit_code = 7

    planted(monkeypatch, Particular("said once"))
    assert main(["check", "."]) == 7
    assert capsys.readouterr().err == "fixuser: said once\n"


def test_a_message_is_made_printable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(monkeypatch, FixuserError("a name with\na line break"))
    assert main(["check", "."]) == errors.EXIT_ERROR
    assert capsys.readouterr().err.count("\n") == 1


def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fixuser]\nuser = "Not A Name"\n')
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "."]) == errors.EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("fixuser: ") and "Not A Name" in err
    assert err.count("\n") == 1


def test_an_unexpected_exception_exits_3_with_its_traceback_and_a_report_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(monkeypatch, KeyError("planted bug"))
    assert main(["check", "."]) == errors.EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert "KeyError: 'planted bug'" in err
    assert err.rstrip("\n").splitlines()[-1].endswith(ISSUES)
    assert "please report it" in err


def test_an_os_error_that_is_not_the_environment_is_a_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(monkeypatch, PermissionError(13, "Permission denied", "/somewhere"))
    assert main(["check", "."]) == errors.EXIT_BUG
    assert "Traceback" in capsys.readouterr().err


def test_an_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(monkeypatch, KeyboardInterrupt())
    assert main(["check", "."]) == errors.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "fixuser: interrupted\n"
