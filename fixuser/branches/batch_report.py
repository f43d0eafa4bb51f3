"""The batch report: one record per repository, written as JSON and as Markdown beside it.

``merge`` makes one of the reports of sharded runs (a CI matrix), for ``fixuser batch-report``
(``commands/batch_report.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fixuser.errors import EXIT_ERROR as EXIT_ERROR  # batch's, too
from fixuser.errors import EXIT_FINDING, EXIT_OK
from fixuser.escape import html_text, md_code, md_text, utf8_data
from fixuser.tree.fileio import atomic_write

# In the order the summary lists them: what needs a reviewer first, failures last.
OUTCOMES = (
    "pushed",
    "unchanged",  # the remote's branch is this very fix already (an earlier run's)
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
EXIT_FAILED = EXIT_FINDING  # a repository failed


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """What happened to one Dockerfile of a repository: exactly the keys of its JSON object."""

    path: str  # repository-relative, posix
    # fixuser's verdict on the file as found (fixuser.model.Verdict), "error" when it cannot
    # be read as a Dockerfile, "" in a record of an older fixuser, which kept only the path.
    verdict: str = ""
    family: str = ""
    # The user the container runs as with fixuser's change: the USER written when ``changed``,
    # the effective user as found otherwise.
    user: str = ""
    warnings: tuple[str, ...] = ()
    changed: bool = False  # fixuser's fix changes the file (in the commit at ``commit_sha``)
    reason: str = ""  # why the verdict; the JSON object has the key only when there is one
    # The stages the repository ships of the file, each ``{"stage", "source"}`` (as check's
    # JSON); empty, and no key, when nothing in the repository names one (the last ships).
    targets: tuple[tuple[str, str], ...] = ()
    # Its role (fixuser.project.roles): (name, evidence, why); empty, and no key, for a
    # service nothing in the repository names (and in a record of an older fixuser).
    role: tuple[str, str, str] = ("", "", "")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "verdict": self.verdict,
            "family": self.family,
            "user": self.user,
            "warnings": list(self.warnings),
            "changed": self.changed,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.targets:
            data["targets"] = [{"stage": s, "source": src} for s, src in self.targets]
        if self.role[0]:
            data["role"] = dict(zip(("name", "evidence", "why"), self.role, strict=True))
        return data

    @classmethod
    def from_json(cls, data: Any) -> FileRecord:
        if isinstance(data, str):  # an older fixuser wrote the paths alone
            return cls(data)
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise ValueError(f"not a file record: {data!r:.100}")
        return cls(
            path=data["path"],
            verdict=str(data.get("verdict") or ""),
            family=str(data.get("family") or ""),
            user=str(data.get("user") or ""),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            changed=bool(data.get("changed")),
            reason=str(data.get("reason") or ""),
            targets=tuple(
                (str(t.get("stage")), str(t.get("source")))
                for t in data.get("targets") or ()
                if isinstance(t, dict)
            ),
            role=role_of(data.get("role")),
        )


@dataclasses.dataclass(frozen=True)
class Record:
    """What happened to one repository: exactly the report's JSON keys."""

    repo: str  # as given on the command line or in the repos file
    outcome: str
    branch: str | None = None
    files: tuple[FileRecord, ...] = ()  # every Dockerfile found, left alone or not
    reason: str = ""
    url: str | None = None
    base_sha: str | None = None  # the commit whose Dockerfiles were judged and fixed
    commit_sha: str | None = None  # the fix commit made or reused on ``branch``
    # Run-time settings of the repository that undo a USER (compose ``user: root``, a pod's
    # ``runAsUser: 0``, ``privileged``): "path:line: message", the same lines check prints.
    overrides: tuple[str, ...] = ()
    # The PR/MR description of the fix: in the Markdown report (and beside the state file),
    # not in the report's JSON, whose keys are fixed.
    description: str = dataclasses.field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "outcome": self.outcome,
            "branch": self.branch,
            "files": [f.to_json() for f in self.files],
            "reason": self.reason,
            "url": self.url,
            "base_sha": self.base_sha,
            "commit_sha": self.commit_sha,
            "overrides": list(self.overrides),
        }

    @classmethod
    def from_json(cls, data: Any) -> Record:
        if not isinstance(data, dict) or data.get("outcome") not in OUTCOMES:
            raise ValueError(f"not a repository record: {data!r:.100}")
        return cls(
            repo=str(data["repo"]),
            outcome=str(data["outcome"]),
            branch=data.get("branch"),
            files=tuple(FileRecord.from_json(f) for f in data.get("files") or ()),
            reason=str(data.get("reason") or ""),
            url=data.get("url"),
            base_sha=data.get("base_sha"),
            commit_sha=data.get("commit_sha"),
            overrides=tuple(str(o) for o in data.get("overrides") or ()),
        )


def write_atomically(path: Path, text: str, *, durable: bool = True) -> None:
    """Readers (and a run killed with -9) see the old file or the new one, never half of one.

    ``durable`` also survives a power cut (fsync). The batch state file goes without it: it is
    rewritten after every repository, an fsync each time costs more than fixing a repository,
    and a lost update only means a resumed run redoes (and reuses) that repository's branch.
    A path of a repository that is not UTF-8 is written as its bytes. Raises FileProblem for a
    path that is not a regular file (a FIFO, a device: never replaced), OSError when the write
    fails (the old file is then still there).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8", "surrogateescape")
    atomic_write(path, data, durable=durable)


def to_json(records: Iterable[Record], *, compact: bool = False) -> str:
    """``compact`` for the state file: json's C encoder only runs without ``indent``."""
    # utf8_data: a file name that is not UTF-8 has its bytes written \xNN (fixuser.escape).
    data = utf8_data({"repositories": [r.to_json() for r in records]})
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
    many = "repository" if len(records) == 1 else "repositories"
    return f"{len(records)} {many}: " + (", ".join(parts) or "none")


# Everything in a record is data: a repository's names and texts, or a report merged from
# elsewhere. Each value is written |md_text (text), |md_code (a name) or html_text (inside
# HTML), so nothing in it renders as a link, an image, HTML, a mention or formatting.
SAFE_URL_RE = re.compile(r"https?://[^\s<>\x00-\x1f\x7f-\x9f]+")


def md_cell(text: str) -> str:
    """Text in a table cell: ``md_text`` escapes ``|`` too."""
    return md_text(text)


def md_code_cell(text: str) -> str:
    """A name in a table cell: a code span, its pipes escaped (GFM splits cells first)."""
    return md_code(text).replace("|", "\\|")


def md_link(url: str) -> str:
    """A review's address as an autolink when it is a plain http(s) URL; text otherwise."""
    return f"<{url}>" if SAFE_URL_RE.fullmatch(url) else md_text(url)


# The order the Markdown lists a repository's files in: what runs as root first.
VERDICTS = (
    "root",
    "invalid-user",
    "needs-root",
    "root-by-design",
    "drops-privileges",
    "unknown",
    "ignored",
    "compliant",
    "error",
)


def by_verdict(files: Iterable[FileRecord]) -> dict[str, list[FileRecord]]:
    """The files grouped by verdict, the groups in ``VERDICTS`` order (others after them)."""
    groups: dict[str, list[FileRecord]] = {}
    for f in files:
        groups.setdefault(f.verdict, []).append(f)
    rank = {v: i for i, v in enumerate(VERDICTS)}
    return dict(sorted(groups.items(), key=lambda item: rank.get(item[0], len(rank))))


def verdict_name(verdict: str) -> str:
    return md_text(verdict or "not recorded")  # a record of an older fixuser: the path alone


def role_of(data: Any) -> tuple[str, str, str]:
    if not isinstance(data, dict):
        return ("", "", "")
    name, evidence, why = (str(data.get(key) or "") for key in ("name", "evidence", "why"))
    return (name, evidence, why)


def file_line(f: FileRecord) -> list[str]:
    """One list item per file, its warnings nested under it."""
    family = f" ({md_text(f.family)})" if f.family else ""
    if f.changed:
        what = f"the fix runs it as {md_code(f.user)}"
    else:
        what = f"runs as {md_code(f.user)}" if f.user else ""
    said = "; ".join(x for x in (what, md_text(f.reason) if f.reason else "") if x)
    lines = [f"- {md_code(f.path)}{family}" + (f": {said}" if said else "")]
    if f.targets:
        ships = ", ".join(f"{md_code(s)} ({md_text(src)})" for s, src in f.targets)
        lines.append("  - ships: " + ships)
    if f.role[0]:
        name, evidence, why = f.role
        lines.append(f"  - role: {md_code(name)} ({md_code(evidence)}: {md_text(why)})")
    lines += [f"  - warning: {md_text(w)}" for w in f.warnings]
    return lines


def files_section(r: Record) -> list[str]:
    shas = [f"base {md_code(r.base_sha[:12])}"] if r.base_sha else []
    if r.commit_sha:
        shas.append(f"fix commit {md_code(r.commit_sha[:12])}")
    lines = [f"### {md_text(r.repo)}", "", " · ".join([r.outcome, *shas]), ""]
    if r.overrides:
        lines += ["**run-time overrides** (a USER in the image does not change them)", ""]
        lines += [f"- {md_code(o)}" for o in r.overrides]
        lines.append("")
    for verdict, group in by_verdict(r.files).items():
        lines += [f"**{verdict_name(verdict)}** ({len(group)})", ""]
        for f in group:
            lines += file_line(f)
        lines.append("")
    return lines


def to_markdown(records: Sequence[Record]) -> str:
    lines = ["# fixuser batch report (CIS Docker Benchmark 4.1)", "", summary_line(records), ""]
    ordered: list[Record] = []
    for outcome in OUTCOMES:
        group = [r for r in records if r.outcome == outcome]
        if not group:
            continue
        ordered += group
        lines += [f"## {outcome} ({len(group)})", "", "| repository | branch | files | details |"]
        lines.append("| --- | --- | --- | --- |")
        for r in group:
            link = md_link(r.url) if r.url else ""
            details = " ".join(x for x in (link, md_cell(r.reason) if r.reason else "") if x)
            tally = by_verdict(r.files)
            files = ", ".join(f"{len(g)} {verdict_name(v)}" for v, g in tally.items())
            branch = md_code_cell(r.branch) if r.branch else ""
            lines.append(f"| {md_cell(r.repo)} | {branch} | {files} | {details} |")
        lines.append("")
    # Every Dockerfile under its verdict, one line each: twenty files that drop privileges
    # are twenty paths, each with its own reason, not one reason for the lot.
    with_files = [r for r in ordered if r.files]
    if with_files:
        lines += ["## Dockerfiles", ""]
    for r in with_files:
        lines += files_section(r)
    described = [r for r in records if r.description]
    if described:
        lines += ["## Descriptions", ""]
    for r in described:
        # The description is Markdown fixuser rendered with every value escaped (review.py).
        lines += [f"<details><summary>{html_text(r.repo)}</summary>", "", r.description.rstrip()]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def write_report(path: Path, records: Sequence[Record]) -> list[str]:
    """The JSON report and its Markdown; each one that cannot be written (a full disk) is a
    line of what is returned, and the other is written all the same."""
    problems = []
    for where, text in ((path, to_json(records)), (markdown_path(path), to_markdown(records))):
        try:
            write_atomically(where, text)
        except OSError as e:
            problems.append(f"cannot write the report {where}: {e.strerror or e}")
    return problems


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
