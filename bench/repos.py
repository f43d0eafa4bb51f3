"""Run fixuser over whole repositories and print, per role, what it found, fixed and proved.

    .venv/bin/python bench/repos.py [--no-verify] [--run-seconds 3] [--json out.json] [REPO...]

Without REPO it writes the fixture repositories of ``testing/repos.py`` (a codegen monorepo,
a Debian package builder, devcontainers, a Cypress image, a bake base, a scratch artifact, a
compose init service marked ``# fixuser: ignore``) into a temporary directory, each a git
repository; with REPO it reads those directories instead (never changing them: fix runs in a
copy). For each repository it runs the installed CLI as a user does: ``fixuser check --format
json``, then ``fixuser fix --diff`` and ``fixuser fix`` in a copy, and compares every Dockerfile
before and after. With ``--verify`` (the default when a container engine answers) every fixed
Dockerfile whose base images are built here (``tests/images/build.sh``) goes through ``fixuser
verify`` in the unfixed repository; fixed files with other bases count as unprovable.

Prints one row per role: files, their verdicts, fixes made, and proven / failed / unprovable.
Exit 1 when fix changed a file of a role fixuser leaves alone by default (tool, test,
build-base, artifact) or a file it reports ignored, when ``fix --diff`` and ``fix`` disagree on
what changes, or when a proof failed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repository: its testing/ package

from testing.repos import FIXTURES  # noqa: E402

FIXED_ROLES = ("service", "dev")  # what fix fixes without --roles
ROLE_ORDER = ("service", "dev", "test", "tool", "build-base", "artifact")
FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
DIFF_FILE_RE = re.compile(r"^\+\+\+ b/(.+)$", re.M)


@dataclass
class FileResult:
    repo: str
    path: str
    role: str
    verdict: str
    fixed: bool = False
    proof: str = ""  # proven, failed, unprovable: why; "" when not fixed or not verified
    problems: list[str] = field(default_factory=list)


def fixuser() -> str:
    """The installed CLI beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("fixuser")
    return str(beside) if beside.exists() else (shutil.which("fixuser") or "fixuser")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([fixuser(), *args], cwd=cwd, capture_output=True, text=True)


def check(repo: Path) -> list[dict[str, Any]]:
    proc = run(repo, "check", "--format", "json", ".")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"fixuser check failed in {repo}: {proc.stderr.strip()}")
    files: list[dict[str, Any]] = json.loads(proc.stdout)["files"]
    return files


def snapshot(root: Path, paths: list[str]) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in paths}


def stages(text: str) -> list[tuple[str, str]]:
    """(name, text) of each stage: its FROM line to the next (the text before the first FROM
    is left out)."""
    starts = [m.start() for m in FROM_RE.finditer(text)]
    found = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(text)
        m = FROM_RE.match(text, start)
        assert m is not None
        found.append((m.group(2) or str(n), text[start:end]))
    return found


def artifact_stages_changed(before: bytes, after: bytes) -> list[str]:
    """Stages ``FROM scratch`` without CMD or ENTRYPOINT (they only carry files out: the role
    artifact, stage by stage) whose text the fix changed."""
    old, new = stages(before.decode("latin-1")), stages(after.decode("latin-1"))
    if len(old) != len(new):
        return ["(the fix changed the number of stages)"]
    return [
        name
        for (name, a), (_, b) in zip(old, new, strict=True)
        if a != b
        and FROM_RE.match(a).group(1).lower() == "scratch"  # type: ignore[union-attr]
        and not re.search(r"^\s*(CMD|ENTRYPOINT)\b", a, re.I | re.M)
    ]


def fix_in_copy(
    repo: Path, paths: list[str], scratch: Path
) -> tuple[dict[str, tuple[bytes, bytes]], set[str]]:
    """({file ``fix`` changed: (before, after)}, files ``fix --diff`` named), in a copy."""
    copy = scratch / "fixed"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(repo, copy, symlinks=True)
    diffed = set(DIFF_FILE_RE.findall(run(copy, "fix", "--diff", ".").stdout))
    before = snapshot(copy, paths)
    proc = run(copy, "fix", ".")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"fixuser fix failed in {repo}: {proc.stderr.strip()}")
    after = snapshot(copy, paths)
    return {p: (before[p], after[p]) for p in paths if before[p] != after[p]}, diffed


def local_bases(dockerfile: Path) -> bool:
    from testing.engine import local_family  # the list of images tests/images/build.sh makes

    text = dockerfile.read_text("latin-1")
    stages = {m.group(2).lower() for m in FROM_RE.finditer(text) if m.group(2)}
    bases = [m.group(1) for m in FROM_RE.finditer(text) if m.group(1).lower() not in stages]
    return bool(bases) and all(local_family(b) for b in bases)


def prove(repo: Path, path: str, run_seconds: float) -> str:
    if not local_bases(repo / path):
        return "unprovable: a base image not built here"
    proc = run(repo, "verify", "--run-seconds", str(run_seconds), path)
    if proc.returncode == 0:
        return "proven"
    if proc.returncode == 1:
        return "failed: " + (proc.stdout.strip().splitlines() or ["?"])[0]
    return "unprovable: " + (proc.stderr.strip().splitlines() or ["?"])[-1]


def measure(name: str, repo: Path, scratch: Path, verify: bool, seconds: float) -> list[FileResult]:
    files = check(repo)
    paths = [f["path"] for f in files]
    changed, diffed = fix_in_copy(repo, paths, scratch)
    results = []
    for f in files:
        r = FileResult(name, f["path"], f["role"]["name"], f["verdict"], f["path"] in changed)
        if r.fixed and (r.role not in FIXED_ROLES or r.verdict == "ignored"):
            r.problems.append(f"fix changed a file of role {r.role}, verdict {r.verdict}")
        elif r.fixed:
            for stage in artifact_stages_changed(*changed[r.path]):
                r.problems.append(f"fix changed stage {stage}: FROM scratch, no CMD (artifact)")
        if (f["path"] in diffed) != r.fixed:
            r.problems.append("fix --diff and fix disagree")
        if r.fixed and verify:
            r.proof = prove(repo, r.path, seconds)
            if r.proof.startswith("failed"):
                r.problems.append(r.proof)
        results.append(r)
    return results


def table(results: list[FileResult], verify: bool) -> list[str]:
    by_role: dict[str, list[FileResult]] = defaultdict(list)
    for r in results:
        by_role[r.role].append(r)
    roles = [r for r in ROLE_ORDER if r in by_role] + sorted(set(by_role) - set(ROLE_ORDER))
    head = ["role", "files", "verdicts", "fixes made"]
    if verify:
        head += ["proven", "failed", "unprovable"]
    rows = [head]
    for role in roles:
        group = by_role[role]
        verdicts = Counter(r.verdict for r in group)
        row = [
            role,
            str(len(group)),
            ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())),
            str(sum(r.fixed for r in group)),
        ]
        if verify:
            proofs = Counter(r.proof.split(":")[0] for r in group if r.proof)
            row += [str(proofs[k]) for k in ("proven", "failed", "unprovable")]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def engine_answers() -> bool:
    from fixuser.containers.engine import NoEngineError, find_engine

    try:
        find_engine()
    except NoEngineError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="*", type=Path, help="repositories (default: fixtures)")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--run-seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    verify = engine_answers() if args.verify is None else args.verify
    results: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="fixuser-repos-") as tmp:
        scratch = Path(tmp)
        if args.repos:
            repos = [(p.resolve().name, p.resolve()) for p in args.repos]
        else:
            repos = []
            for name, write in FIXTURES.items():
                write(scratch / "fixtures" / name, commit=True)
                repos.append((name, scratch / "fixtures" / name))
        for name, repo in repos:
            results += measure(name, repo, scratch, verify, args.run_seconds)
    for r in results:
        proof = f"  [{r.proof}]" if r.proof else ""
        fixed = "fixed" if r.fixed else "unchanged"
        print(f"{r.repo}/{r.path}: {r.role}, {r.verdict}, {fixed}{proof}")
        for problem in r.problems:
            print(f"  PROBLEM: {problem}")
    print()
    print("\n".join(table(results, verify)))
    problems = sum(len(r.problems) for r in results)
    print(f"\n{len(results)} files in {len(repos)} repositories; {problems} problem(s)")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
