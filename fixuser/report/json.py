"""The JSON report (``check --format json``), and how every JSON format is written."""

from __future__ import annotations

import json
from typing import Any, TextIO

from fixuser import __version__
from fixuser.escape import utf8_data
from fixuser.model import Verdict
from fixuser.report.findings import Report, role_json, targets_json


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
        if outcome.analysis.verdict is Verdict.IGNORED:  # a pragma keeps it: "reason" says which
            entry["accepted"] = True
        entry["role"] = role_json(outcome.analysis)
        files.append(entry)
    overrides = [
        {"path": o.path, "line": o.line, "rule": o.rule, "message": o.message}
        | ({"accepted": True, "reason": o.reason} if o.accepted else {})
        for o in report.overrides
    ]
    return {
        "version": __version__,
        "files": files,
        "overrides": overrides,
        "errors": errors,
        "notes": [{"path": path, "note": problem} for path, problem in report.notes],
    }


def json_text(data: Any) -> str:
    """``data`` as the JSON formats write it, in one string for one write (json.dump writes
    each token on its own, a system call each when Python runs unbuffered). A file name that
    is not UTF-8 has its bytes written \\xNN, as the text report shows it (utf8_data)."""
    return json.dumps(utf8_data(data), indent=2) + "\n"


def write_json(report: Report, out: TextIO, err: TextIO) -> None:
    out.write(json_text(as_json(report)))
