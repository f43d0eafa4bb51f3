"""The CI views of a run: a GitLab Code Quality report (``check --format gitlab``) and GitHub
workflow commands (``check --format github``), both made of the same issues."""

from __future__ import annotations

import re
from typing import Any, NamedTuple, TextIO

from fixuser.escape import printable
from fixuser.model import Verdict
from fixuser.report.findings import (
    RULE_ID,
    Report,
    ci_path,
    counts,
    finding_line,
    ships,
    summary_line,
)
from fixuser.report.json import json_text

# GitLab's severities (info, minor, major, critical, blocker) by what the finding is: a stage
# fixuser fixes, or an override, is critical; what it leaves alone on purpose (a root master,
# what needs root) is major, as is a file it could not read; warnings are minor.
VERDICT_SEVERITY = {
    Verdict.ROOT: "critical",
    Verdict.INVALID_USER: "critical",
    Verdict.ROOT_BY_DESIGN: "major",
    Verdict.NEEDS_ROOT: "major",
}
OVERRIDE_SEVERITY = {"FIXUSER-K8S-ESCALATION": "major"}  # the others: critical
ERROR_RULE, CONTEXT_RULE = "FIXUSER-ERROR", "FIXUSER-CONTEXT"
LINE_PREFIX = re.compile(r"line (\d+): ")
LINE_NUMBER = re.compile(r"\bline \d+\b")  # "user root (line 2)": not part of what it is


class Issue(NamedTuple):
    """A finding, warning or error as a CI system shows it: a file, a line, a rule."""

    path: str  # relative to the current directory where it is below it, posix
    line: int  # 1-based
    rule: str  # RULE_ID, a FIXUSER-* warning rule, an override rule, ERROR_RULE, CONTEXT_RULE
    level: str  # "error" or "warning" (GitHub's annotation levels)
    severity: str  # GitLab's
    message: str
    identity: str  # what stays the same while the issue does (its line numbers are masked)


def split_line(text: str, default: int) -> tuple[int, str]:
    """``line 7: EXPOSE 80 ...`` -> (7, ``EXPOSE 80 ...``); text without the prefix keeps
    ``default``."""
    match = LINE_PREFIX.match(text)
    if match is None:
        return max(default, 1), text
    return max(int(match.group(1)), 1), text[match.end() :]


def issues(report: Report) -> list[Issue]:
    """Every finding of the run, passing files left out, in the order of the text report."""
    found: list[Issue] = []
    for outcome in report.outcomes:
        path = ci_path(outcome.path)
        if outcome.error or outcome.analysis is None:
            line, text = split_line(outcome.error, 1)
            message = f"fixuser could not read it: {text}"
            found.append(Issue(path, line, ERROR_RULE, "error", "major", message, text))
            continue
        analysis = outcome.analysis
        finding = finding_line(analysis, report.roles)
        if finding:
            severity = VERDICT_SEVERITY.get(analysis.verdict, "critical")
            level = "error"
            if not counts(analysis, report.roles):  # a role fix leaves alone: a note
                level, severity = "warning", "info"
            line, identity = max(analysis.stage_line, 1), f"stage {analysis.stage}: {finding}"
            message = finding + ships(analysis)
            found.append(Issue(path, line, RULE_ID, level, severity, message, identity))
        for warning in analysis.warnings:
            line, text = split_line(warning, analysis.stage_line)
            found.append(Issue(path, line, warning.rule, "warning", "minor", text, text))
    for override in report.overrides:
        if override.accepted:  # kept on purpose (# fixuser: ignore): no issue to raise
            continue
        severity = OVERRIDE_SEVERITY.get(override.rule, "critical")
        line, message = max(override.line, 1), override.message
        found.append(
            Issue(ci_path(override.path), line, override.rule, "error", severity, message, message)
        )
    for note_path, problem in report.notes:
        line, text = split_line(problem, 1)
        found.append(Issue(ci_path(note_path), line, CONTEXT_RULE, "warning", "info", text, text))
    return found


# --- GitLab Code Quality ---------------------------------------------------------------


def fingerprints(found: list[Issue]) -> list[str]:
    """A fingerprint per issue, the same from run to run while the issue stays: a hash of its
    path, rule and identity (never a line number, so an edit above it does not make it a new
    issue), and of how many identical issues came before it in the file."""
    import hashlib  # only the GitLab format hashes: a check need not load OpenSSL at start

    seen: dict[tuple[str, str, str], int] = {}
    prints = []
    for issue in found:
        key = (issue.path, issue.rule, LINE_NUMBER.sub("line", issue.identity))
        seen[key] = seen.get(key, 0) + 1
        text = "\0".join((*key, str(seen[key])))
        prints.append(hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest())
    return prints


def as_gitlab(report: Report) -> list[dict[str, Any]]:
    """A GitLab Code Quality report (``artifacts: reports: codequality``)."""
    found = issues(report)
    return [
        {
            "description": issue.message,
            "check_name": issue.rule,
            "fingerprint": fingerprint,
            "severity": issue.severity,
            "location": {"path": issue.path, "lines": {"begin": issue.line}},
        }
        for issue, fingerprint in zip(found, fingerprints(found), strict=True)
    ]


def write_gitlab(report: Report, out: TextIO, err: TextIO) -> None:
    out.write(json_text(as_gitlab(report)))


# --- GitHub workflow commands ----------------------------------------------------------


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does (``escapeData``): the
    runner turns ``%0A`` back into a line break in the annotation. Any other control
    character, and a byte that is not UTF-8, is shown escaped (fixuser.escape.printable)."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    """A workflow command's property value (``escapeProperty``): ``:`` and ``,`` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def as_github(report: Report) -> str:
    """GitHub Actions workflow commands, one a line (``::error file=...,line=...,title=...::``),
    which the runner turns into annotations on the pull request, then the summary line."""
    lines = [
        f"::{issue.level} file={escape_property(issue.path)},line={issue.line},"
        f"title={escape_property(issue.rule)}::{escape_data(issue.message)}\n"
        for issue in issues(report)
    ]
    lines.append(summary_line(report))
    return "".join(lines)


def write_github(report: Report, out: TextIO, err: TextIO) -> None:
    out.write(as_github(report))
