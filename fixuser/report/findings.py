"""Findings of a run: text, JSON, SARIF, GitLab Code Quality and GitHub workflow-command
output, and the exit code they add up to."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from fixuser import __version__
from fixuser.escape import printable, utf8_data
from fixuser.model import Analysis, Verdict

if TYPE_CHECKING:
    from fixuser.project.context import Override

EXIT_OK, EXIT_FINDING, EXIT_ERROR = 0, 1, 2
RULE_ID = "CIS-DOCKER-4.1"
# Warnings get rule ids of their own, by what they are about.
WARNING_RULES = (
    (re.compile(r"EXPOSE"), "FIXUSER-LOW-PORT", "A port below 1024 needs root"),
    (re.compile(r"\bsudo\b"), "FIXUSER-SUDO", "sudo in the runtime stage"),
    (
        re.compile(r"(builder|parent) stage"),
        "FIXUSER-BUILDER-ROOT",
        "A builder stage ends in USER root",
    ),
    (re.compile(r"uid \d+ is already used"), "FIXUSER-UID-TAKEN", "The UID is taken"),
    (re.compile(r"--force"), "FIXUSER-FORCED", "A stage was fixed with --force"),
    (re.compile(r"."), "FIXUSER-WARNING", "Other warning"),
)
INFORMATION_URI = "https://www.cisecurity.org/benchmark/docker"


def warning_rule(text: str) -> str:
    return next(rule for pattern, rule, _ in WARNING_RULES if pattern.search(text))


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
        if self.overrides:
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


def problem_line(path: str, problem: str) -> str:
    """A finding or error as fixuser reports it on stderr: ``path: problem``, one line
    whatever the path and the problem hold (fixuser.escape.printable)."""
    return printable(f"{path}: {problem}") + "\n"


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...


def error_line(path: str, problem: str, stream: Writer | None = None) -> None:
    # One write per line: print() makes two (text, then newline), each a system call when
    # Python runs unbuffered, and another process writing to the terminal could split them.
    (stream or sys.stderr).write(problem_line(path, problem))


class Blocks:
    """stdout and stderr of a command that reports file by file (fix --diff).

    On a terminal (or with ``live``) every write goes straight out, so the user sees each file
    as it is done. Otherwise both streams are held and written in blocks of about 64 KiB,
    stdout's before stderr's, and whatever is left by ``flush`` at the end: a pipe's reader
    (a CI log, ``| less``) is then woken once a block instead of once a line, which cost
    fix ~30 ms over a 1,465-file corpus with stderr on a pipe. Within each stream the order
    is kept; only how the two interleave coarsens, from a file to a block.
    """

    LIMIT = 1 << 16

    def __init__(self, out: TextIO, err: TextIO, *, live: bool = False) -> None:
        self.streams = (out, err)
        self.live = live or out.isatty() or err.isatty()
        self.held: tuple[list[str], list[str]] = ([], [])
        self.size = 0
        self.out = Held(self, 0)
        self.err = Held(self, 1)

    def write(self, which: int, text: str) -> int:
        if self.live:
            return self.streams[which].write(text)
        self.held[which].append(text)
        self.size += len(text)
        if self.size >= self.LIMIT:
            self.flush()
        return len(text)

    def flush(self) -> None:
        self.size = 0
        for stream, held in zip(self.streams, self.held, strict=True):
            if held:
                text = "".join(held)
                held.clear()
                stream.write(text)
            stream.flush()


class Held:
    """One of a Blocks' streams, as something to write to."""

    __slots__ = ("blocks", "which")

    def __init__(self, blocks: Blocks, which: int) -> None:
        self.blocks = blocks
        self.which = which

    def write(self, text: str, /) -> int:
        return self.blocks.write(self.which, text)


def describe(analysis: Analysis) -> str:
    text = (
        f"{analysis.verdict}: stage {analysis.stage} (line {analysis.stage_line}) "
        f"FROM {analysis.base_image or '?'}, {analysis.family} ({analysis.evidence}), "
        f"user {analysis.user or '-'}"
    )
    if analysis.targets:
        text += "; ships " + ", ".join(
            f"{t.stage} ({t.source}) {t.verdict}" for t in analysis.targets
        )
    return text


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


# Verdicts whose finding line already carries the reason.
REASON_IN_FINDING = frozenset({Verdict.ROOT_BY_DESIGN, Verdict.NEEDS_ROOT, Verdict.INVALID_USER})


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
        finding = finding_line(analysis)
        if finding:
            problems.append(problem_line(outcome.path, finding))
        problems += [problem_line(outcome.path, f"warning: {w}") for w in analysis.warnings]
    problems += [problem_line(f"{o.path}:{o.line}", o.message) for o in report.overrides]
    problems += [problem_line(path, f"warning: {problem}") for path, problem in report.notes]
    lines.append(summary_line(report))
    err.write("".join(problems))
    err.flush()
    out.write("".join(lines))


def summary_line(report: Report) -> str:
    """``2 files: 1 compliant, 1 root``: the count of each verdict (and of errors)."""
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        key = "error" if outcome.error else str(outcome.analysis.verdict)  # type: ignore[union-attr]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    n = len(report.outcomes)
    return f"{n} file{'' if n == 1 else 's'}: {summary or 'none found'}\n"


def as_json(report: Report) -> dict[str, Any]:
    files, errors = [], []
    for outcome in report.outcomes:
        if outcome.error:
            errors.append({"path": outcome.path, "error": outcome.error})
            continue
        assert outcome.analysis is not None
        entry = {"path": outcome.path, **outcome.analysis._asdict()}
        entry["verdict"] = str(outcome.analysis.verdict)
        entry["warnings"] = list(outcome.analysis.warnings)
        entry["targets"] = targets_json(outcome.analysis)
        files.append(entry)
    overrides = [
        {"path": o.path, "line": o.line, "rule": o.rule, "message": o.message}
        for o in report.overrides
    ]
    return {
        "version": __version__,
        "files": files,
        "overrides": overrides,
        "errors": errors,
        "notes": [{"path": path, "note": problem} for path, problem in report.notes],
    }


def sarif_location(path: str, line: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            # Relative to the checkout, as code scanning wants it (ci_path, below).
            "artifactLocation": {"uri": ci_path(path)},
            "region": {"startLine": max(line, 1)},
        }
    }


def as_sarif(report: Report) -> dict[str, Any]:
    rules = [
        {
            "id": RULE_ID,
            "name": "RunAsNonRootUser",
            "shortDescription": {
                "text": "The container's runtime stage must run as a non-root user"
            },
            "fullDescription": {
                "text": "CIS Docker Benchmark 4.1: create a user for the container and switch to "
                "it with USER; `fixuser fix` does both."
            },
            "helpUri": INFORMATION_URI,
            "defaultConfiguration": {"level": "error"},
        }
    ]
    seen = {RULE_ID}
    for _pattern, rule, text in WARNING_RULES:
        if rule not in seen:
            seen.add(rule)
            rules.append(
                {
                    "id": rule,
                    "shortDescription": {"text": text},
                    "defaultConfiguration": {"level": "warning"},
                }
            )
    if report.overrides:
        from fixuser.project.context import RULES as OVERRIDE_RULES

        for rule_id in sorted({o.rule for o in report.overrides}):
            rules.append(
                {
                    "id": rule_id,
                    "shortDescription": {"text": OVERRIDE_RULES.get(rule_id, rule_id)},
                    "defaultConfiguration": {"level": "error"},
                }
            )
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for outcome in report.outcomes:
        if outcome.error or outcome.analysis is None:
            continue
        analysis = outcome.analysis
        location = sarif_location(outcome.path, analysis.stage_line)
        failing = analysis.verdict.is_finding
        message = finding_line(analysis) or f"{analysis.verdict}: user {analysis.user}"
        results.append(
            {
                "ruleId": RULE_ID,
                "ruleIndex": index[RULE_ID],
                "kind": "fail" if failing else "pass",
                "level": "error" if failing else "none",
                "message": {"text": message},
                "locations": [location],
                "properties": {
                    "targets": targets_json(analysis),
                    "verdict": str(analysis.verdict),
                    "family": analysis.family,
                    "baseImage": analysis.base_image,
                },
            }
        )
        for warning in analysis.warnings:
            rule = warning_rule(warning)
            results.append(
                {
                    "ruleId": rule,
                    "ruleIndex": index[rule],
                    "kind": "fail",
                    "level": "warning",
                    "message": {"text": warning},
                    "locations": [location],
                }
            )
    for override in report.overrides:
        results.append(
            {
                "ruleId": override.rule,
                "ruleIndex": index[override.rule],
                "kind": "fail",
                "level": "error",
                "message": {"text": override.message},
                "locations": [sarif_location(override.path, override.line)],
            }
        )
    notifications = [
        {"level": "error", "message": {"text": f"{o.path}: {o.error}"}} for o in report.errors
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fixuser",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }


# --- CI views: GitLab Code Quality and GitHub workflow commands ---------------------------

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


def ci_path(path: str) -> str:
    """``path`` as both CI systems want it: relative to the current directory (the checkout's
    root in CI) when it is below it, without ``./``, with ``/``."""
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if relative != ".." and not relative.startswith(".." + os.sep):
            path = relative
    return os.path.normpath(path).replace(os.sep, "/")


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
        finding = finding_line(analysis)
        if finding:
            message = finding
            if analysis.targets:
                message += "; ships " + ", ".join(
                    f"{t.stage} ({t.source}) {t.verdict}" for t in analysis.targets
                )
            severity = VERDICT_SEVERITY.get(analysis.verdict, "critical")
            identity = f"stage {analysis.stage}: {finding}"
            found.append(
                Issue(
                    path, max(analysis.stage_line, 1), RULE_ID, "error", severity, message, identity
                )
            )
        for warning in analysis.warnings:
            line, text = split_line(warning, analysis.stage_line)
            found.append(Issue(path, line, warning_rule(warning), "warning", "minor", text, text))
    for override in report.overrides:
        severity = OVERRIDE_SEVERITY.get(override.rule, "critical")
        found.append(
            Issue(
                ci_path(override.path),
                max(override.line, 1),
                override.rule,
                "error",
                severity,
                override.message,
                override.message,
            )
        )
    for note_path, problem in report.notes:
        line, text = split_line(problem, 1)
        found.append(Issue(ci_path(note_path), line, CONTEXT_RULE, "warning", "info", text, text))
    return found


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


def write(report: Report, fmt: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
    out, err = out or sys.stdout, err or sys.stderr
    if fmt == "text":
        write_text(report, out, err)
        return
    if fmt == "github":
        out.write(as_github(report))
        return
    data: Any
    if fmt == "gitlab":
        data = as_gitlab(report)
    else:
        data = as_json(report) if fmt == "json" else as_sarif(report)
    # One write: json.dump writes each token on its own, a system call each when unbuffered.
    # utf8_data: a file name that is not UTF-8 has its bytes written \xNN, as text shows it.
    out.write(json.dumps(utf8_data(data), indent=2) + "\n")
