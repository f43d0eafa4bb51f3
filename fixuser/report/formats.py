"""The output formats of ``fixuser check --format``, by name, and the one writer of a report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from fixuser.report.ci import write_github, write_gitlab
from fixuser.report.findings import Report
from fixuser.report.json import write_json
from fixuser.report.sarif import write_sarif
from fixuser.report.text import write_text

# Each writes the report to the first stream (stdout) and, the text report only, its findings
# and errors to the second (stderr). The order is the order --help lists them in.
FORMATS: dict[str, Callable[[Report, TextIO, TextIO], None]] = {
    "text": write_text,
    "json": write_json,
    "sarif": write_sarif,
    "gitlab": write_gitlab,
    "github": write_github,
}


def write(report: Report, fmt: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
    FORMATS[fmt](report, out or sys.stdout, err or sys.stderr)
