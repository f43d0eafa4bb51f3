"""Issue 20's proof: over Dockerfiles generated from a grammar (testing/fuzzgen.py: stages,
ARG/ENV with nested defaults, USER in every spelling, heredocs quoted and not, exec forms,
continuations, CRLF, hostile paths), judged by BuildKit's own parser (PyPI ``dockerfile``) and
an oracle of the runtime user that is not fixuser's code.

FIXUSER_FUZZ_EXAMPLES sets the examples per property (300 by default, a few seconds each);
bench/fuzz.py runs the same judgement over 100,000 inputs.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("dockerfile")

from fixuser.model import Verdict
from testing import fuzzgen

EXAMPLES = int(os.environ.get("FIXUSER_FUZZ_EXAMPLES", "300"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def dockerfiles(draw: st.DrawFn) -> bytes:
    return fuzzgen.generate(fuzzgen.DrawChooser(draw))


def defects(source: bytes, *names: str) -> dict[str, str]:
    found = fuzzgen.judge(source).defects
    return {name: found[name] for name in names if name in found}


@PROPERTY
@given(dockerfiles())
def test_fix_never_crashes_nor_refuses_a_file_buildkit_builds(source: bytes) -> None:
    assert defects(source, "crash", "refused a file BuildKit builds") == {}


@PROPERTY
@given(dockerfiles())
def test_every_output_parses_with_buildkit_and_keeps_every_instruction_and_line_in_order(
    source: bytes,
) -> None:
    assert defects(source, "output does not parse", "lost instructions", "lost lines") == {}


@PROPERTY
@given(dockerfiles())
def test_fix_is_idempotent(source: bytes) -> None:
    assert defects(source, "non-idempotent") == {}


@PROPERTY
@given(dockerfiles())
def test_check_names_the_user_buildkit_runs_the_container_as(source: bytes) -> None:
    found = defects(
        source, "compliant while root", "root verdict while not root", "unknown though decidable"
    )
    assert found == {}


@PROPERTY
@given(dockerfiles())
def test_after_the_fix_the_container_does_not_run_as_root_by_buildkit_expansion(
    source: bytes,
) -> None:
    assert defects(source, "root after fix") == {}


@pytest.mark.skipif(fuzzgen.DASH is None, reason="needs dash")
@PROPERTY
@given(dockerfiles())
def test_every_inserted_run_passes_dash_n_and_touches_exactly_the_intended_paths(
    source: bytes,
) -> None:
    assert defects(source, "dash -n failure", "operand mismatch") == {}


# --- the judge itself can fail -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "user", "root"),
    [
        ("FROM debian:12\nUSER ${A:-${B:-root}}\n", "root", True),
        ("FROM debian:12\nUSER ${U:-root}\nENV U=app\n", "root", True),
        ("FROM debian:12\nENV U=app\nUSER ${U:-root}\n", "app", False),
        ('FROM debian:12\nUSER "ro"ot\n', "root", True),
        ("FROM debian:12\nARG U=\nUSER $U\n", "", True),
        ("ARG U=app\nFROM debian:12 AS a\nARG U\nFROM a\nUSER $U\n", "app", False),
        ("FROM gcr.io/distroless/static-debian12:nonroot\n", "nonroot", False),
        ("FROM debian:12 AS a\nUSER 1000\nFROM a\n", "1000", False),
        ('FROM debian:12\nRUN echo "<<EOF"\nUSER root\nRUN <<EOF\nUSER app\nEOF\n', "root", True),
    ],
)
def test_the_oracle_reads_the_runtime_user_as_buildkit_does(
    source: str, user: str, root: bool
) -> None:
    runtime = fuzzgen.runtime_user(source)
    assert (runtime.user, runtime.root) == (user, root)


def test_the_oracle_marks_a_user_a_build_argument_could_change() -> None:
    assert fuzzgen.runtime_user("FROM debian:12\nARG U\nUSER $U\n").influenced == {"U"}
    assert fuzzgen.runtime_user("FROM debian:12\nARG U=app\nUSER $U\n").influenced == set()


def test_the_judge_flags_a_compliant_verdict_on_a_root_container() -> None:
    judgement = fuzzgen.Judgement(b"")
    source = "FROM debian:12\nUSER ${A:-${B:-root}}\n"
    fuzzgen.judge_user(judgement, Verdict.COMPLIANT, "x", source, source, False)
    assert "compliant while root" in judgement.defects


@pytest.mark.skipif(fuzzgen.DASH is None, reason="needs dash")
def test_the_judge_flags_an_unquoted_or_split_operand_and_a_syntax_error() -> None:
    source = "FROM debian:12\n"
    for run, category in [
        ("RUN mkdir -p /srv/a b && chown 1:1 /srv/a b\n", "operand mismatch"),
        ("RUN mkdir -p /srv/$(id) && chown 1:1 /srv/$(id)\n", "operand mismatch"),
        ("RUN mkdir -p /srv/x;id && chown 1:1 /srv/x;id\n", "operand mismatch"),
        ("RUN mkdir -p '/srv/a b' && chown 1:1 '/srv/a b' &&\n", "dash -n failure"),
    ]:
        judgement = fuzzgen.Judgement(b"")
        fuzzgen.judge_inserted(judgement, source, source + run, ["/srv/a b", "/srv/$(id)"])
        assert category in judgement.defects, run
    judgement = fuzzgen.Judgement(b"")
    run = "RUN mkdir -p '/srv/a b' '/srv/$(id)' && chown 1:1 '/srv/a b' /srv/\\$\\(id\\)\n"
    fuzzgen.judge_inserted(judgement, source, source + run, ["/srv/a b", "/srv/$(id)"])
    assert judgement.defects == {}
