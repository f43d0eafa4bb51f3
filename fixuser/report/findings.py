"""Findings of a run and the exit code they add up to, and what every output format says of
them the same way. Each format has a module of its own beside this one (text, json, sarif, ci),
and fixuser.report.formats names them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from fixuser.errors import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from fixuser.model import Analysis, Verdict

if TYPE_CHECKING:
    from fixuser.project.model import Override

RULE_ID = "CIS-DOCKER-4.1"


class Outcome(NamedTuple):
    path: str
    analysis: Analysis | None = None
    error: str = ""
    changed: bool = False
    user: str = ""  # the USER written by fix


class Report:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        # What the repository sets at run time that undoes any USER, and the context files
        # it could not read.
        self.overrides: list[Override] = []
        self.notes: list[tuple[str, str]] = []  # (path, problem)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def check_exit(self) -> int:
        if self.errors:
            return EXIT_ERROR
        if any(not o.accepted for o in self.overrides):
            return EXIT_FINDING
        if any(o.analysis and o.analysis.verdict.is_finding for o in self.outcomes):
            return EXIT_FINDING
        return EXIT_OK

    def fix_exit(self) -> int:
        if self.errors:
            return EXIT_ERROR
        # A USER that names no user cannot be fixed by guessing: it fails like a change would.
        if any(
            o.changed or (o.analysis and o.analysis.verdict is Verdict.INVALID_USER)
            for o in self.outcomes
        ):
            return EXIT_FINDING
        return EXIT_OK


def finding_line(analysis: Analysis) -> str | None:
    if analysis.verdict is Verdict.ROOT:
        return f"runs as root (CIS Docker 4.1): user {analysis.user}"
    if analysis.verdict is Verdict.ROOT_BY_DESIGN:
        return f"PID 1 stays root (CIS Docker 4.1): {analysis.reason}"
    if analysis.verdict is Verdict.NEEDS_ROOT:
        return f"needs root, left as root (CIS Docker 4.1): {analysis.reason}"
    if analysis.verdict is Verdict.INVALID_USER:
        return f"error: {analysis.reason}"
    return None


def ships(analysis: Analysis) -> str:
    """``; ships prod (compose.yaml:5) root``: the stages the repository ships, when
    something names one; "" when nothing does."""
    if not analysis.targets:
        return ""
    return "; ships " + ", ".join(f"{t.stage} ({t.source}) {t.verdict}" for t in analysis.targets)


def targets_json(analysis: Analysis) -> list[dict[str, str]]:
    """The stages the repository ships, each with what builds it; the last stage alone
    ("default") when nothing names one."""
    if not analysis.targets:
        only = {"stage": analysis.stage, "source": "default", "verdict": str(analysis.verdict)}
        return [{**only, "user": analysis.user}]
    return [
        {"stage": t.stage, "source": t.source, "verdict": str(t.verdict), "user": t.user}
        for t in analysis.targets
    ]


def summary_line(report: Report) -> str:
    """``2 files: 1 compliant, 1 root``: the count of each verdict (and of errors)."""
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        key = "error" if outcome.error else str(outcome.analysis.verdict)  # type: ignore[union-attr]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    n = len(report.outcomes)
    return f"{n} file{'' if n == 1 else 's'}: {summary or 'none found'}\n"


def ci_path(path: str) -> str:
    """``path`` as code scanning (SARIF) and the CI systems want it: relative to the current
    directory (the checkout's root in CI) when it is below it, without ``./``, with ``/``."""
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if relative != ".." and not relative.startswith(".." + os.sep):
            path = relative
    return os.path.normpath(path).replace(os.sep, "/")
