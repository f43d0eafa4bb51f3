"""Findings of a run: text, JSON and SARIF output, and the exit code they add up to."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from fixuser import __version__
from fixuser.model import Analysis, Verdict

if TYPE_CHECKING:
    from fixuser.context import Override

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
    """A finding or error as fixuser reports it on stderr: ``path: problem``, one line."""
    return f"{path}: {problem}\n"


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
        lines.append(line + "\n")
        finding = finding_line(analysis)
        if finding:
            problems.append(problem_line(outcome.path, finding))
        problems += [problem_line(outcome.path, f"warning: {w}") for w in analysis.warnings]
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        key = "error" if outcome.error else str(outcome.analysis.verdict)  # type: ignore[union-attr]
        counts[key] = counts.get(key, 0) + 1
    problems += [f"{o.path}:{o.line}: {o.message}\n" for o in report.overrides]
    problems += [problem_line(path, f"warning: {problem}") for path, problem in report.notes]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    n = len(report.outcomes)
    lines.append(f"{n} file{'' if n == 1 else 's'}: {summary or 'none found'}\n")
    err.write("".join(problems))
    err.flush()
    out.write("".join(lines))


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
            "artifactLocation": {"uri": path.lstrip("./") if path.startswith("./") else path},
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
        from fixuser.context import RULES as OVERRIDE_RULES

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


def write(report: Report, fmt: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
    out, err = out or sys.stdout, err or sys.stderr
    if fmt == "text":
        write_text(report, out, err)
        return
    data = as_json(report) if fmt == "json" else as_sarif(report)
    # One write: json.dump writes each token on its own, a system call each when unbuffered.
    out.write(json.dumps(data, indent=2) + "\n")
