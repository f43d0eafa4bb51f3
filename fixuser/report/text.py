"""The text report: a line a file on stdout and the summary; findings, warnings and errors on
stderr, a line each."""

from __future__ import annotations

from typing import TextIO

from fixuser.escape import printable
from fixuser.model import Analysis, Verdict
from fixuser.report.findings import Report, finding_line, role_part, ships, summary_line
from fixuser.report.stream import problem_line

# Verdicts whose finding line already carries the reason.
REASON_IN_FINDING = frozenset({Verdict.ROOT_BY_DESIGN, Verdict.NEEDS_ROOT, Verdict.INVALID_USER})


def describe(analysis: Analysis) -> str:
    return (
        (
            f"{analysis.verdict}: stage {analysis.stage} (line {analysis.stage_line}) "
            f"FROM {analysis.base_image or '?'}, {analysis.family} ({analysis.evidence}), "
            f"user {analysis.user or '-'}"
        )
        + ships(analysis)
        + role_part(analysis)
    )


def write_text(report: Report, out: TextIO, err: TextIO) -> None:
    """The report on ``out``, findings and errors on ``err``: each stream in one write (the
    report comes once everything is read; thousands of small writes cost a system call each
    when Python runs unbuffered)."""
    lines: list[str] = []
    problems: list[str] = []
    for outcome in report.outcomes:
        if outcome.error:
            problems.append(problem_line(outcome.path, outcome.error))
            continue
        assert outcome.analysis is not None
        analysis = outcome.analysis
        line = f"{outcome.path}: {describe(analysis)}"
        if analysis.reason and analysis.verdict not in REASON_IN_FINDING:
            line += f" — {analysis.reason}"
        lines.append(printable(line) + "\n")
        finding = finding_line(analysis, report.roles)
        if finding:
            problems.append(problem_line(outcome.path, finding))
        problems += [problem_line(outcome.path, f"warning: {w}") for w in analysis.warnings]
    for o in report.overrides:
        if o.accepted:  # listed with the report, not among the findings
            lines.append(printable(f"{o.path}:{o.line}: accepted: {o.message} — {o.reason}") + "\n")
        else:
            problems.append(problem_line(f"{o.path}:{o.line}", o.message))
    problems += [problem_line(path, f"warning: {problem}") for path, problem in report.notes]
    lines.append(summary_line(report))
    err.write("".join(problems))
    err.flush()
    out.write("".join(lines))
