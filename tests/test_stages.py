"""Stages, FROM chains, ARG/ENV resolution and the effective user (as hadolint DL3002)."""

from __future__ import annotations

import shlex

import hypothesis
import pytest
from hypothesis import strategies as st

from fixuser.core import check, fix
from fixuser.dockerfile.parse import parse
from fixuser.dockerfile.stages import build_stages, chain, global_args, last_user
from fixuser.dockerfile.users import is_root_user, misspelled_root
from fixuser.dockerfile.words import env_pairs, posix_split, substitute
from fixuser.model import Verdict
from fixuser.settings import Settings


def stages_of(text: str):  # type: ignore[no-untyped-def]
    dockerfile = parse(text.encode())
    return dockerfile, build_stages(dockerfile)


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("root", True),
        ("0", True),
        ("root:root", True),
        ("0:0", True),
        ("0:1000", True),
        # The runtime reads the user part with Go's strconv.Atoi: every spelling of 0 is 0.
        ("000", True),
        ("00:1000", True),
        ("+0:wheel", True),
        ("-0", True),
        ("0000:0", True),
        ("  0 ", True),
        # Names are case-sensitive on Linux: ROOT is no user at all (misspelled_root).
        ("ROOT", False),
        ("Root:root", False),
        ("ContainerAdministrator", True),
        ("containeradministrator", True),
        ("+1000", False),
        ("-1", False),
        ("0x0", False),
        ("0_0", False),
        ("1000", False),
        ("1000:0", False),
        ("app", False),
        ("rooty", False),
        ("ContainerUser", False),
    ],
)
def test_root_is_what_the_runtime_runs_as_uid_0(user: str, root: bool) -> None:
    assert is_root_user(user) is root


@pytest.mark.parametrize(
    ("user", "misspelled"),
    [("ROOT", True), ("Root:0", True), ("rOOt", True), ("root", False), ("rooty", False)],
)
def test_misspelled_root_is_only_a_case_variant_of_root(user: str, misspelled: bool) -> None:
    assert misspelled_root(user) is misspelled


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$A", {"A": "1"}, "1"),
        ("${A}", {"A": "1"}, "1"),
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A:+y}", {"A": "1"}, "y"),
        ("${A:+y}", {}, ""),
        ("a-${B}-c", {"B": "b"}, "a-b-c"),
        ("${A:-$HOME}", {"HOME": "/root"}, "/root"),
    ],
)
def test_substitute_expands_like_buildkit(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute(text, env) == expected


def test_env_pairs_read_both_forms_as_written_for_buildkit_to_expand() -> None:
    assert env_pairs("A=1 B=\"two words\" C='$A'", "\\") == [
        ("A", "1"),
        ("B", '"two words"'),
        ("C", "'$A'"),
    ]
    assert env_pairs('LEGACY some "value"', "\\") == [("LEGACY", 'some "value"')]


def test_global_args_resolve_in_order() -> None:
    dockerfile, _ = stages_of("ARG TAG=12\nARG IMAGE=debian:${TAG}\nFROM ${IMAGE}\n")
    assert global_args(dockerfile, {}) == {"TAG": "12", "IMAGE": "debian:12"}


def test_an_arg_declared_without_a_value_stays_unset_next_to_one_with_a_value() -> None:
    dockerfile, _ = stages_of("ARG A=1 B\nFROM debian:12\n")
    assert global_args(dockerfile, {}) == {"A": "1"}
    assert global_args(dockerfile, {"B": "2"}) == {"A": "1", "B": "2"}


def test_from_resolves_arg_defaults() -> None:
    _, stages = stages_of("ARG TAG=12\nFROM debian:${TAG} AS base\n")
    assert stages[0].image == "debian:12"
    assert stages[0].name == "base"


def test_from_with_an_arg_without_value_is_unresolved() -> None:
    _, stages = stages_of("ARG BASE\nFROM ${BASE}\n")
    assert stages[0].unresolved == "BASE"
    assert check(b"ARG BASE\nFROM ${BASE}\n", Settings()).verdict is Verdict.UNKNOWN


def test_stage_chains_follow_names_case_insensitively() -> None:
    _, stages = stages_of("FROM debian:12 AS Base\nFROM base AS mid\nFROM mid\n")
    assert [s.index for s in chain(stages, stages[2])] == [2, 1, 0]


def test_from_a_number_is_an_image_as_in_buildkit_not_a_stage_index() -> None:
    # BuildKit looks FROM up by stage name only (dispatchStates.addState): FROM 0 pulls
    # docker.io/library/0. Only COPY --from takes an index.
    _, stages = stages_of("FROM debian:12 AS base\nUSER 1000\nFROM 0\n")
    assert stages[1].parent is None
    assert chain(stages, stages[1]) == (stages[1],)


def test_from_platform_flag_is_not_the_image() -> None:
    _, stages = stages_of("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n")
    assert stages[0].image == "golang:1.22"


def test_user_is_inherited_through_a_stage_chain() -> None:
    _, stages = stages_of("FROM debian:12 AS base\nUSER 1000\nFROM base\nRUN x\n")
    assert last_user(stages, stages[1], {}).value == "1000"


def test_a_child_stage_user_wins_over_its_parent() -> None:
    _, stages = stages_of("FROM debian:12 AS base\nUSER 1000\nFROM base\nUSER root\n")
    assert last_user(stages, stages[1], {}).value == "root"


def test_user_variable_resolves_from_arg_and_env() -> None:
    _, stages = stages_of("FROM debian:12\nARG U=root\nENV V=${U}\nUSER ${V}\n")
    assert last_user(stages, stages[0], {}).value == "root"


def test_user_variable_without_a_value_is_unresolved_and_unknown() -> None:
    source = b"FROM debian:12\nARG U\nUSER $U\n"
    _, stages = stages_of(source.decode())
    assert last_user(stages, stages[0], {}).unresolved == "U"
    assert check(source, Settings()).verdict is Verdict.UNKNOWN


def test_env_and_arg_values_are_inherited_through_from_as_buildkit_does() -> None:
    # BuildKit's child stage starts from its parent's state, ARG values included (moby/buildkit
    # docs since #5381: "An ARG declared in a stage is inherited by its child stages").
    source = "FROM debian:12 AS base\nENV U=1000\nARG V=1001\nFROM base\nUSER ${U}\n"
    _, stages = stages_of(source)
    assert last_user(stages, stages[1], {}).value == "1000"
    assert check(b"FROM debian:12 AS b\nARG V=0\nFROM b\nUSER ${V:-app}\n", Settings()).verdict is (
        Verdict.ROOT
    )


def test_only_the_runtime_stage_matters() -> None:
    assert check(
        b"FROM debian:12 AS b\nUSER root\nFROM debian:12\nUSER 1000\n", Settings()
    ).verdict is (Verdict.COMPLIANT)


def test_target_picks_another_stage() -> None:
    source = b"FROM debian:12 AS app\nUSER 1000\nFROM debian:12 AS debug\n"
    assert check(source, Settings()).verdict is Verdict.ROOT
    assert check(source, Settings(target="app")).verdict is Verdict.COMPLIANT


@hypothesis.given(st.text(alphabet="ab \t\n\r'\"\\$=#-x\x0b", max_size=30))
@hypothesis.example('a"b\\"c"d')
@hypothesis.example("'' \"\" x")
@hypothesis.example('"\\\\\\"x\\y"')
def test_posix_split_splits_and_refuses_what_shlex_does(text: str) -> None:
    try:
        expected: list[str] | None = shlex.split(text, posix=True)
    except ValueError:
        expected = None
    try:
        got: list[str] | None = posix_split(text)
    except ValueError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    "source",
    [
        # nested defaults: the inner ${B:-root} is the value, not the text "${B:-root}"
        "FROM debian:12\nUSER ${A:-${B:-root}}\n",
        "FROM debian:12\nARG B=root\nUSER ${A:-${B:-app}}\n",
        # quotes and escapes are the shell's: USER "root" is root
        'FROM debian:12\nUSER "root"\n',
        "FROM debian:12\nUSER 'ro'ot\n",
        "FROM debian:12\nUSER r\\oot\n",
        # the values in effect at the USER line, not the stage's last ones
        "FROM debian:12\nUSER ${U:-root}\nENV U=app\n",
        "FROM debian:12\nARG U=root\nUSER $U\nARG U=app\n",
        # every pair of one ENV expands against the values before that ENV
        "FROM debian:12\nENV U=root\nENV U=app V=$U\nUSER $V\n",
        # an ARG after an ENV of the same name replaces it (dispatchArg adds it to the env)
        "FROM debian:12\nENV U=app\nARG U=root\nUSER $U\n",
        # a stage's own default wins over the global ARG's value
        "ARG U=app\nFROM debian:12\nARG U=root\nUSER $U\n",
        # an ARG without a default takes the global value
        "ARG U=root\nFROM debian:12\nARG U\nUSER ${U:-app}\n",
        # ${X:+...}: X set, so the alternative
        "FROM debian:12\nARG X=1\nUSER ${X:+root}\n",
        # an empty user resets the image's user: the container starts as root
        "FROM debian:12\nARG U=\nUSER $U\n",
        "FROM gcr.io/distroless/static-debian12:nonroot\nUSER ${U:+nonroot}\n",
        "FROM debian:12\nUSER :1000\n",
    ],
)
def test_a_user_that_buildkit_expands_to_root_is_root(source: str) -> None:
    found = check(source.encode(), Settings())
    assert found.verdict is Verdict.ROOT, found.user


@pytest.mark.parametrize(
    "source",
    [
        "ARG U=root\nFROM debian:12\nARG U=app\nUSER $U\n",
        "FROM debian:12\nENV U=root\nENV U=app\nUSER $U\n",
        "FROM debian:12\nARG A=1\nUSER ${A:+app}\n",
        "FROM debian:12\nUSER ${A-app}\n",
        "FROM debian:12\nENV D=app.tar.gz\nUSER ${D%%.*}\n",
    ],
)
def test_a_user_that_buildkit_expands_to_a_user_is_compliant(source: str) -> None:
    assert check(source.encode(), Settings()).verdict is Verdict.COMPLIANT


@pytest.mark.parametrize(
    "source",
    [
        "FROM debian:12\nRUN true\nARG U=\nUSER $U\n",
        'FROM debian:12\nRUN true\nUSER ${NOPE:+x}\nCMD ["run"]\n',
        "FROM gcr.io/distroless/static-debian12:nonroot\nARG U=\nUSER $U\n",
    ],
)
def test_an_empty_user_is_fixed_and_a_second_run_changes_nothing(source: str) -> None:
    once = fix(source.encode(), Settings()).output
    assert once != source.encode()
    assert check(once, Settings()).verdict is Verdict.COMPLIANT
    assert fix(once, Settings()).output == once


def test_a_user_buildkit_cannot_expand_is_unknown_with_the_reason() -> None:
    found = check(b"FROM debian:12\nUSER ${A B}\n", Settings())
    assert found.verdict is Verdict.UNKNOWN
    assert "BuildKit cannot expand" in found.reason


def test_an_empty_user_is_described_as_nothing_and_why_it_is_root() -> None:
    found = check(b"FROM debian:12\nARG U=\nUSER $U\n", Settings())
    assert found.user == "(nothing) (line 3: USER $U is empty, which runs as root)"
