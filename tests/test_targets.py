"""Every stage the repository ships is checked and fixed, and the stages built FROM a fixed
one keep building as before."""

from __future__ import annotations

from fixuser.core import check, fix
from fixuser.diff import unified
from fixuser.edits import apply
from fixuser.model import Target, Verdict
from fixuser.settings import Settings

SOURCE = (
    b"FROM debian:bookworm-slim AS base\n"
    b"RUN mkdir -p /app\n"
    b"COPY app.sh /app/\n"
    b'CMD ["/app/app.sh"]\n'
    b"\n"
    b"FROM base AS worker\n"
    b"RUN echo w > /etc/worker\n"
    b'CMD ["/app/app.sh", "work"]\n'
    b"\n"
    b"FROM base AS dev\n"
    b'CMD ["bash"]\n'
)
SHIPS = (Target("base", "compose.yaml:4"), Target("worker", "compose.yaml:9"))


def test_check_reports_every_shipped_stage_and_the_file_takes_the_worst() -> None:
    mixed = SOURCE.replace(b"FROM base AS worker\n", b"FROM base AS worker\nUSER nobody\n")
    analysis = check(mixed, Settings(), targets=SHIPS)
    assert [(t.stage, t.source, t.verdict) for t in analysis.targets] == [
        ("base", "compose.yaml:4", Verdict.ROOT),
        ("worker", "compose.yaml:9", Verdict.COMPLIANT),
    ]
    assert (analysis.verdict, analysis.stage) == (Verdict.ROOT, "base")


def test_a_shipped_stage_is_what_check_judges_not_the_last_stage() -> None:
    # The case: compose builds base, the last stage (dev) runs as a user. Judged by
    # its last stage the file is compliant, and what ships runs as root.
    dev_user = SOURCE.replace(b'CMD ["bash"]\n', b'USER 1000\nCMD ["bash"]\n')
    assert check(dev_user, Settings()).verdict is Verdict.COMPLIANT  # without context: dev
    analysis = check(dev_user, Settings(), targets=(Target("base", "compose.yaml:4"),))
    assert (analysis.verdict, analysis.stage) == (Verdict.ROOT, "base")


def test_fix_fixes_every_shipped_stage_and_a_second_fix_changes_nothing() -> None:
    result = fix(SOURCE, Settings(), targets=SHIPS)
    assert result.changed
    after = check(result.output, Settings(), targets=SHIPS)
    assert [t.verdict for t in after.targets] == [Verdict.COMPLIANT, Verdict.COMPLIANT]
    assert fix(result.output, Settings(), targets=SHIPS).output == result.output
    text = result.output.decode()
    # one user, created once in base; worker reuses it and builds as root first
    assert text.count("useradd") == 1
    worker = text.split("FROM base AS worker\n", 1)[1].split("FROM base AS dev", 1)[0]
    assert worker.index("USER root") < worker.index("RUN echo w") < worker.index("USER 10001")
    dev = text.split("FROM base AS dev\n", 1)[1]
    assert dev.startswith("# fixuser: stage base now runs as") and "USER root" in dev


def test_a_multi_stage_fix_diff_applies_to_the_input_lines() -> None:
    result = fix(SOURCE, Settings(), targets=SHIPS)
    assert apply(result.lines, result.edits).encode() == result.output
    diff = unified("Dockerfile", result.lines, result.edits)
    assert "+USER root" in diff and diff.count("+USER 10001:10001") == 2


def test_the_default_stage_alone_and_an_explicit_target_are_plain_checks() -> None:
    plain = check(SOURCE, Settings())
    assert check(SOURCE, Settings(), targets=(Target(None, "default"),)) == plain
    chosen = check(SOURCE, Settings(target="worker"), targets=SHIPS)
    assert (chosen.stage, chosen.targets) == ("worker", ())  # --target still overrides


def test_a_target_the_file_does_not_have_is_passed_over() -> None:
    analysis = check(SOURCE, Settings(), targets=(Target("nope", "compose.yaml:2"), *SHIPS))
    assert [t.stage for t in analysis.targets] == ["base", "worker"]
