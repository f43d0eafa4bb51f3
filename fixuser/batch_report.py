"""The batch report: one record per repository, written as JSON and as Markdown beside it.

``fixuser batch-report`` merges the reports of sharded runs (a CI matrix) into one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# In the order the summary lists them: what needs a reviewer first, failures last.
OUTCOMES = (
    "pushed",
    "committed",
    "would-fix",
    "compliant",
    "no-dockerfile",
    "drops-privileges",
    "root-by-design",
    "needs-root",
    "skipped-conflict",
    "failed",
)
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Record:
    """What happened to one repository: exactly the report's JSON keys."""

    repo: str  # as given on the command line or in the repos file
    outcome: str
    branch: str | None = None
    files: tuple[str, ...] = ()
    reason: str = ""
    url: str | None = None
    # The PR/MR description of the fix: in the Markdown report (and beside the state file),
    # not in the report's JSON, whose keys are fixed.
    description: str = dataclasses.field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "outcome": self.outcome,
            "branch": self.branch,
            "files": list(self.files),
            "reason": self.reason,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, data: Any) -> Record:
        if not isinstance(data, dict) or data.get("outcome") not in OUTCOMES:
            raise ValueError(f"not a repository record: {data!r:.100}")
        return cls(
            repo=str(data["repo"]),
            outcome=str(data["outcome"]),
            branch=data.get("branch"),
            files=tuple(data.get("files") or ()),
            reason=str(data.get("reason") or ""),
            url=data.get("url"),
        )


def write_atomically(path: Path, text: str, *, durable: bool = True) -> None:
    """Readers (and a run killed with -9) see the old file or the new one, never half of one.

    ``durable`` also survives a power cut (fsync). The batch state file goes without it: it is
    rewritten after every repository, an fsync each time costs more than fixing a repository,
    and a lost update only means a resumed run redoes (and reuses) that repository's branch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(records: Iterable[Record], *, compact: bool = False) -> str:
    """``compact`` for the state file: json's C encoder only runs without ``indent``."""
    data = {"repositories": [r.to_json() for r in records]}
    return json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2) + "\n"


def read_report(path: Path) -> list[Record]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("repositories"), list):
        raise ValueError('expected {"repositories": [...]}')
    return [Record.from_json(item) for item in data["repositories"]]


def markdown_path(path: Path) -> Path:
    return path.with_suffix(".md")


def counts(records: Iterable[Record]) -> Counter[str]:
    return Counter(r.outcome for r in records)


def summary_line(records: Sequence[Record]) -> str:
    tally = counts(records)
    parts = [f"{tally[o]} {o}" for o in OUTCOMES if tally[o]]
    return f"{len(records)} repositories: " + (", ".join(parts) or "none")


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(records: Sequence[Record]) -> str:
    lines = ["# fixuser batch report (CIS Docker Benchmark 4.1)", "", summary_line(records), ""]
    for outcome in OUTCOMES:
        group = [r for r in records if r.outcome == outcome]
        if not group:
            continue
        lines += [f"## {outcome} ({len(group)})", "", "| repository | branch | files | details |"]
        lines.append("| --- | --- | --- | --- |")
        for r in group:
            details = " ".join(x for x in (f"<{r.url}>" if r.url else "", r.reason) if x)
            files = "<br>".join(f"`{f}`" for f in r.files)
            branch = f"`{r.branch}`" if r.branch else ""
            lines.append(f"| {md_cell(r.repo)} | {branch} | {files} | {md_cell(details)} |")
        lines.append("")
    described = [r for r in records if r.description]
    if described:
        lines += ["## Descriptions", ""]
    for r in described:
        lines += [f"<details><summary>{md_cell(r.repo)}</summary>", "", r.description.rstrip()]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def write_report(path: Path, records: Sequence[Record]) -> None:
    write_atomically(path, to_json(records))
    write_atomically(markdown_path(path), to_markdown(records))


def exit_code(records: Iterable[Record]) -> int:
    return EXIT_FAILED if any(r.outcome == "failed" for r in records) else EXIT_OK


def merge(reports: Iterable[Sequence[Record]]) -> list[Record]:
    """One record per repository, in first-seen order; a later report's record wins.

    Later wins so that merging ``shard-1.json`` with a rerun of shard 1 keeps the rerun.
    """
    merged: dict[str, Record] = {}
    for records in reports:
        for record in records:
            merged[record.repo] = record
    return list(merged.values())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="JSON reports to merge")
    parser.add_argument(
        "--report",
        "-o",
        type=Path,
        help="write the merged JSON here (and Markdown beside it, suffix .md)",
    )


def run(args: argparse.Namespace) -> int:
    loaded = []
    for name in args.reports:
        try:
            loaded.append(read_report(Path(name)))
        except (OSError, ValueError) as e:
            print(f"fixuser batch-report: {name}: {e}", file=sys.stderr)
            return EXIT_ERROR
    records = merge(loaded)
    if args.report is not None:
        write_report(args.report, records)
    else:
        sys.stdout.write(to_markdown(records))
    print(summary_line(records), file=sys.stderr)
    return exit_code(records)
