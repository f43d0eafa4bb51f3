"""The SARIF 2.1.0 report (``check --format sarif``), for GitHub code scanning: one rule per
kind of finding, one result per verdict, warning and override."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from fixuser import __version__
from fixuser.model import Analysis, Verdict, WarningRule, WarningText
from fixuser.report.findings import (
    RULE_ID,
    Report,
    ci_path,
    counts,
    finding_line,
    role_json,
    targets_json,
)
from fixuser.report.json import json_text

if TYPE_CHECKING:
    from fixuser.project.model import Override

INFORMATION_URI = "https://www.cisecurity.org/benchmark/docker"
# What each warning rule is about (its shortDescription). Every rule is listed in every run,
# whether a warning of it was raised or not.
WARNING_SUMMARY = {
    WarningRule.LOW_PORT: "A port below 1024 needs root",
    WarningRule.SUDO: "sudo in the runtime stage",
    WarningRule.BUILDER_ROOT: "A builder stage ends in USER root",
    WarningRule.UID_TAKEN: "The UID is taken",
    WarningRule.FORCED: "A stage was fixed with --force",
    WarningRule.OTHER: "Other warning",
}

Json = dict[str, Any]


def cis_rule() -> Json:
    return {
        "id": RULE_ID,
        "name": "RunAsNonRootUser",
        "shortDescription": {"text": "The container's runtime stage must run as a non-root user"},
        "fullDescription": {
            "text": "CIS Docker Benchmark 4.1: create a user for the container and switch to "
            "it with USER; `fixuser fix` does both."
        },
        "helpUri": INFORMATION_URI,
        "defaultConfiguration": {"level": "error"},
    }


def warning_rules() -> list[Json]:
    """Every rule a warning can have, in WarningRule's order."""
    return [
        {
            "id": rule,
            "shortDescription": {"text": WARNING_SUMMARY[rule]},
            "defaultConfiguration": {"level": "warning"},
        }
        for rule in WarningRule
    ]


def override_rules(report: Report) -> list[Json]:
    """The rules of the overrides this run found, and only those."""
    if not report.overrides:
        return []
    from fixuser.project.model import RULES as OVERRIDE_RULES

    return [
        {
            "id": rule_id,
            "shortDescription": {"text": OVERRIDE_RULES.get(rule_id, rule_id)},
            "defaultConfiguration": {"level": "error"},
        }
        for rule_id in sorted({o.rule for o in report.overrides})
    ]


def sarif_location(path: str, line: int) -> Json:
    return {
        "physicalLocation": {
            # Relative to the checkout, as code scanning wants it (findings.ci_path).
            "artifactLocation": {"uri": ci_path(path)},
            "region": {"startLine": max(line, 1)},
        }
    }


def verdict_result(
    analysis: Analysis, location: Json, index: dict[str, int], roles: tuple[str, ...]
) -> Json:
    """The file's verdict: a failing result when it is a finding of a role fixuser fixes
    (``roles``), one to review when of another role, a passing one otherwise."""
    failing = counts(analysis, roles)
    message = finding_line(analysis, roles) or f"{analysis.verdict}: user {analysis.user}"
    kind = "fail" if failing else "review" if analysis.verdict.is_finding else "pass"
    result: Json = {
        "ruleId": RULE_ID,
        "ruleIndex": index[RULE_ID],
        "kind": kind,
        "level": "error" if failing else "none",
        "message": {"text": message},
        "locations": [location],
        "properties": {
            "targets": targets_json(analysis),
            "verdict": str(analysis.verdict),
            "family": analysis.family,
            "baseImage": analysis.base_image,
            "role": role_json(analysis),
        },
    }
    if analysis.verdict is Verdict.IGNORED:  # accepted in the file itself, by its pragma
        result["message"] = {"text": f"accepted as it is: {analysis.reason}"}
        result["suppressions"] = [suppression(analysis.reason)]
    return result


def suppression(justification: str) -> Json:
    """SARIF's way to say "accepted where it is written" (a ``# fixuser: ignore`` pragma)."""
    return {"kind": "inSource", "justification": justification}


def warning_result(warning: WarningText, location: Json, index: dict[str, int]) -> Json:
    return {
        "ruleId": warning.rule,
        "ruleIndex": index[warning.rule],
        "kind": "fail",
        "level": "warning",
        "message": {"text": warning},
        "locations": [location],
    }


def results(report: Report, index: dict[str, int]) -> list[Json]:
    """Each file's verdict and its warnings, in the files' order, then the overrides."""
    found: list[Json] = []
    for outcome in report.outcomes:
        if outcome.error or outcome.analysis is None:
            continue
        analysis = outcome.analysis
        location = sarif_location(outcome.path, analysis.stage_line)
        found.append(verdict_result(analysis, location, index, report.roles))
        found += [warning_result(w, location, index) for w in analysis.warnings]
    found += [override_result(override, index) for override in report.overrides]
    return found


def override_result(override: Override, index: dict[str, int]) -> Json:
    """A run-time override: a failing result, suppressed in the source when accepted."""
    result: Json = {
        "ruleId": override.rule,
        "ruleIndex": index[override.rule],
        "kind": "fail",
        "level": "error",
        "message": {"text": override.message},
        "locations": [sarif_location(override.path, override.line)],
    }
    if override.accepted:
        result["suppressions"] = [suppression(override.reason)]
    return result


def as_sarif(report: Report) -> Json:
    rules = [cis_rule(), *warning_rules(), *override_rules(report)]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    # A file fixuser could not read is no result: the run says it did not finish.
    notifications = [
        {"level": "error", "message": {"text": f"{o.path}: {o.error}"}} for o in report.errors
    ]
    driver = {
        "name": "fixuser",
        "version": __version__,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    invocation = {
        "executionSuccessful": not report.errors,
        "toolExecutionNotifications": notifications,
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "invocations": [invocation],
                "results": results(report, index),
            }
        ],
    }


def write_sarif(report: Report, out: TextIO, err: TextIO) -> None:
    out.write(json_text(as_sarif(report)))
