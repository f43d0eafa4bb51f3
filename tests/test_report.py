"""How fix's per-file lines reach its streams: in blocks on a pipe, at once on a terminal."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fixuser import core
from fixuser.model import Analysis, Shipped, Verdict, WarningRule, WarningText
from fixuser.project.model import Override
from fixuser.report.ci import as_github, as_gitlab, escape_data, escape_property
from fixuser.report.findings import Outcome, Report, ci_path
from fixuser.report.sarif import as_sarif, sarif_location
from fixuser.report.stream import Blocks
from fixuser.settings import Settings
from fixuser.tree import workers
from fixuser.tree.pipeline import fix_all
from fixuser.tree.source import WorkTree

LOW_PORT, BUILDER_ROOT = WarningRule.LOW_PORT, WarningRule.BUILDER_ROOT
ROOT_DOCKERFILE = b'FROM debian:bookworm-slim\nCMD ["/app/run"]\n'


class CountingStream(io.StringIO):
    """A stream that is not a terminal and counts the writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str, /) -> int:
        self.writes += 1
        return super().write(text)


def test_off_a_terminal_lines_are_held_and_written_once_a_stream() -> None:
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err)
    for n in range(100):
        blocks.out.write(f"diff {n}\n")
        blocks.err.write(f"file {n}: would fix\n")
    assert out.writes == err.writes == 0  # nothing yet: under the block size
    blocks.flush()
    assert out.writes == err.writes == 1
    assert out.getvalue() == "".join(f"diff {n}\n" for n in range(100))
    assert err.getvalue() == "".join(f"file {n}: would fix\n" for n in range(100))


def test_a_full_block_is_written_before_the_end() -> None:
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err)
    line = "x" * 1000 + "\n"
    for _ in range(Blocks.LIMIT // len(line) + 1):
        blocks.out.write(line)
    assert out.writes == 1  # the block filled up: written without waiting for the end
    blocks.err.write("late\n")
    blocks.flush()
    assert err.getvalue() == "late\n"
    assert out.getvalue() == line * (Blocks.LIMIT // len(line) + 1)


def test_live_blocks_write_through_off_a_terminal_too() -> None:
    # fix in place and --verify: each line as its file is done, even into a CI log.
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err, live=True)
    blocks.err.write("a: fixed\n")
    assert err.writes == 1 and err.getvalue() == "a: fixed\n"


def test_on_a_terminal_each_line_goes_out_at_once() -> None:
    main, side = os.openpty()
    with open(side, "w", encoding="utf-8") as terminal:
        blocks = Blocks(terminal, CountingStream())
        blocks.out.write("diff 1\n")
        terminal.flush()  # Python's own buffer, which a terminal flushes at each newline
        ready, _, _ = select.select([main], [], [], 5)
        assert ready, "the line did not reach the terminal before the end of the run"
        assert os.read(main, 100).replace(b"\r\n", b"\n") == b"diff 1\n"
    os.close(main)


def test_fix_over_pipes_writes_every_line_of_both_streams(tmp_path: Path) -> None:
    for n in range(30):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--diff", str(tmp_path)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.count(b"\n+++ b/") == 30
    assert proc.stderr.count(b": would fix: USER 10001:10001") == 30
    assert not any(
        (tmp_path / str(n) / "Dockerfile").read_bytes() != ROOT_DOCKERFILE for n in range(30)
    )


# --- the CI formats: GitLab Code Quality and GitHub workflow commands -----------------------

# GitLab's documented shape of a Code Quality issue (docs.gitlab.com/ci/testing/code_quality/):
# these five fields, nothing else.
GITLAB_ISSUE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "check_name", "fingerprint", "severity", "location"],
    "properties": {
        "description": {"type": "string", "minLength": 1},
        "check_name": {"type": "string", "minLength": 1},
        "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
        "location": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "lines"],
            "properties": {
                "path": {"type": "string", "pattern": "^(?![/.]/?)[^\\\\]+$"},
                "lines": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["begin"],
                    "properties": {"begin": {"type": "integer", "minimum": 1}},
                },
            },
        },
    },
}
GITLAB_REPORT = {"type": "array", "items": GITLAB_ISSUE}
# ::error file=PATH,line=N,title=RULE::MESSAGE, properties escaped (no raw , or :).
WORKFLOW_COMMAND = re.compile(r"::(error|warning) file=[^,:\r\n]+,line=[1-9]\d*,title=[^,:]+::.+")
COMPOSE_ROOT = "services:\n  api:\n    build: ./svc\n    user: root\n"
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n"
    "    spec:\n      containers:\n        - name: api\n          image: api\n"
    "          securityContext:\n            privileged: true\n"
)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """Findings of every kind: a root stage with two identical warnings, a compliant file, a
    file fixuser cannot read, a compose override and a Kubernetes one."""
    repo = tmp_path / "repo"
    (repo / "svc").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / "svc" / "Dockerfile").write_bytes(
        b'FROM debian:bookworm-slim\nEXPOSE 80\nEXPOSE 80\nCMD ["/app/run"]\n'
    )
    (repo / "ok.Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000:1000\n")
    (repo / "Dockerfile.broken").write_bytes(b"RUN echo no from\n")
    (repo / "compose.yaml").write_text(COMPOSE_ROOT)
    (repo / "k8s").mkdir()
    (repo / "k8s" / "deployment.yaml").write_text(DEPLOYMENT)
    return repo


def check(fmt: str, cwd: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", "check", "--format", fmt, *paths],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_gitlab_report_has_the_documented_shape(repository: Path) -> None:
    done = check("gitlab", repository)
    assert done.returncode == 2 and done.stderr == ""  # 2: a file could not be read
    report = json.loads(done.stdout)
    jsonschema.Draft4Validator(GITLAB_REPORT).validate(report)
    by_rule = {(i["check_name"], i["location"]["path"], i["severity"]) for i in report}
    assert by_rule == {
        ("CIS-DOCKER-4.1", "svc/Dockerfile", "critical"),
        ("FIXUSER-LOW-PORT", "svc/Dockerfile", "minor"),
        ("FIXUSER-ERROR", "Dockerfile.broken", "major"),
        ("FIXUSER-COMPOSE-ROOT", "compose.yaml", "critical"),
        ("FIXUSER-K8S-PRIVILEGED", "k8s/deployment.yaml", "critical"),
        ("FIXUSER-K8S-ESCALATION", "k8s/deployment.yaml", "major"),
    }
    lines = {(i["check_name"], i["location"]["lines"]["begin"]) for i in report}
    assert {("FIXUSER-LOW-PORT", 2), ("FIXUSER-LOW-PORT", 3), ("FIXUSER-COMPOSE-ROOT", 4)} <= lines
    assert not any(i["location"]["path"] == "ok.Dockerfile" for i in report)  # passing
    fingerprints = [i["fingerprint"] for i in report]
    assert len(set(fingerprints)) == len(fingerprints)  # the two EXPOSE 80 too


def test_gitlab_fingerprints_are_stable(repository: Path, tmp_path: Path) -> None:
    first = json.loads(check("gitlab", repository).stdout)
    assert json.loads(check("gitlab", repository).stdout) == first  # a second run
    # Elsewhere on disk (another CI runner's directory), with every path given absolute.
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(repository, moved)
    assert json.loads(check("gitlab", moved, str(moved)).stdout) == first
    # An edit above the findings moves their lines, not their fingerprints.
    dockerfile = moved / "svc" / "Dockerfile"
    dockerfile.write_bytes(b"# a comment\n" + dockerfile.read_bytes())
    shifted = json.loads(check("gitlab", moved).stdout)
    assert [i["fingerprint"] for i in shifted] == [i["fingerprint"] for i in first]
    assert [i["location"]["lines"]["begin"] for i in shifted] != [
        i["location"]["lines"]["begin"] for i in first
    ]


def test_gitlab_report_of_a_compliant_tree_is_an_empty_array(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000:1000\n")
    done = check("gitlab", tmp_path)
    assert (done.returncode, json.loads(done.stdout)) == (0, [])


def test_github_workflow_commands_annotate_each_finding(repository: Path) -> None:
    done = check("github", repository)
    assert done.returncode == 2 and done.stderr == ""
    *commands, summary = done.stdout.splitlines()
    assert summary == "3 files: 1 compliant, 1 error, 1 root"
    assert all(WORKFLOW_COMMAND.fullmatch(line) for line in commands), commands
    assert (
        "::error file=svc/Dockerfile,line=1,title=CIS-DOCKER-4.1::"
        "runs as root (CIS Docker 4.1): user root (the base image's default)"
    ) in commands
    assert (
        "::warning file=svc/Dockerfile,line=3,title=FIXUSER-LOW-PORT::EXPOSE 80: a port below "
        "1024 needs root or CAP_NET_BIND_SERVICE; move the server to a port >= 1024"
    ) in commands
    assert (
        "::error file=compose.yaml,line=4,title=FIXUSER-COMPOSE-ROOT::"
        "service api runs as root (user: root)"
    ) in commands
    assert any(c.startswith("::error file=k8s/deployment.yaml,line=") for c in commands)
    assert any(
        c.startswith("::error file=Dockerfile.broken,line=1,title=FIXUSER-ERROR::")
        for c in commands
    )
    assert check("github", repository).stdout == done.stdout  # stable


def test_github_escapes_messages_and_properties() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    report = Report()
    report.add(Outcome("odd,name:x/Dockerfile", error="line 3: two\nlines"))
    (line, summary) = as_github(report).splitlines()
    assert line == (
        "::error file=odd%2Cname%3Ax/Dockerfile,line=3,title=FIXUSER-ERROR::"
        "fixuser could not read it: two%0Alines"
    )
    assert summary == "1 file: 1 error"


def analysis(verdict: Verdict, line: int = 1, **fields: Any) -> Analysis:
    return Analysis(verdict, "0", line, "debian", "debian", "table", "root", **fields)


def test_severities_follow_what_fixuser_does_with_the_finding() -> None:
    report = Report()
    for verdict in Verdict:  # the passing ones give no issue at all
        report.add(Outcome(f"{verdict}/Dockerfile", analysis(verdict, reason="why")))
    report.overrides = [
        Override("compose.yaml", 4, "FIXUSER-COMPOSE-PRIVILEGED", "service api is privileged"),
        Override("k8s/pod.yaml", 9, "FIXUSER-K8S-ESCALATION", "pod may escalate"),
    ]
    report.notes = [("k8s/broken.yaml", "line 2: not YAML, skipped")]
    severities = {i["location"]["path"]: i["severity"] for i in as_gitlab(report)}
    assert severities == {
        "root/Dockerfile": "critical",
        "invalid-user/Dockerfile": "critical",
        "root-by-design/Dockerfile": "major",
        "needs-root/Dockerfile": "major",
        "compose.yaml": "critical",
        "k8s/pod.yaml": "major",
        "k8s/broken.yaml": "info",
    }


def test_a_finding_keeps_its_fingerprint_when_its_line_moves() -> None:
    def fingerprint(line: int) -> str:
        report = Report()
        warnings = (
            WarningText(LOW_PORT, f"line {line + 1}: EXPOSE 80: a port below 1024 needs root"),
            WarningText(
                BUILDER_ROOT,
                f"line {line + 2}: builder stage build ends in USER root (line {line + 2})",
            ),
        )
        user = f"root (line {line + 3})"  # USER root, below the FROM
        found = Analysis(Verdict.ROOT, "0", line, "debian", "debian", "", user, "", warnings)
        report.add(Outcome("Dockerfile", found))
        return " ".join(i["fingerprint"] for i in as_gitlab(report))

    assert fingerprint(1) == fingerprint(7)
    assert len(set(fingerprint(1).split())) == 3


def test_shipped_stages_are_named_in_the_finding() -> None:
    shipped = (Shipped("builder", "compose.yaml:5", Verdict.ROOT, "root"),)
    report = Report()
    report.add(Outcome("Dockerfile", analysis(Verdict.ROOT, targets=shipped)))
    (issue,) = as_gitlab(report)
    assert issue["description"].endswith("; ships builder (compose.yaml:5) root")


def test_ci_paths_are_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ci_path(str(tmp_path / "svc" / "Dockerfile")) == "svc/Dockerfile"
    assert ci_path("./svc/../Dockerfile") == "Dockerfile"
    assert ci_path("/elsewhere/Dockerfile") == "/elsewhere/Dockerfile"  # not below: as given


def test_sarif_uris_keep_a_leading_dot_directory() -> None:
    # ./.docker/Dockerfile is .docker/Dockerfile, not docker/Dockerfile.
    location = sarif_location("./.docker/Dockerfile", 3)["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": ".docker/Dockerfile"},
        "region": {"startLine": 3},
    }


# --- warnings carry their rule from where they are raised ----------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# shared/ stands beside the project's checkout (CI lays a copy there too).
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
# Settings under which each kind of warning is raised somewhere in the samples or the corpus:
# --force's, --lock-users' on images without a shell, UID 1000 taken by node's user, the
# entrypoint wrapper's children.
WARNING_RUNS = {
    "check": (Settings(), False),
    "fix": (Settings(), True),
    "entrypoint": (Settings(strategy="entrypoint"), True),
    "lock-users": (Settings(lock_users=True, uid=1000), True),
    "force": (Settings(force=True), True),
}
SUDO_BUILDER_DOCKERFILE = (
    b"FROM debian:bookworm-slim AS build\nUSER root\nRUN make\n"
    b'FROM debian:bookworm-slim\nEXPOSE 80\nRUN sudo -u app true\nCMD ["/app/run"]\n'
)


def corpus_files() -> list[str]:
    """Every file the corpus's MANIFEST.tsv lists (as bench/outputs.py runs them)."""
    rows = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [str(CORPUS / row.split("\t", 1)[0]) for row in rows if row.strip()]


def raised_warnings(paths: list[str], jobs: int = 1) -> list[WarningText]:
    """Every warning fixuser raises over ``paths``, each run of WARNING_RUNS in turn."""
    found: list[WarningText] = []
    for settings, fix in WARNING_RUNS.values():
        tree = WorkTree(paths, context=settings.target is None)
        for item in fix_all(tree, settings, fix=fix, jobs=jobs):
            if item.result is not None:
                found += item.result.analysis.warnings
    return found


def sarif_rule_ids() -> set[str]:
    return {rule["id"] for rule in as_sarif(Report())["runs"][0]["tool"]["driver"]["rules"]}


@pytest.mark.parametrize("where", ["samples", "corpus"])
def test_every_warning_raised_carries_a_rule_that_sarif_defines(where: str) -> None:
    if where == "corpus" and not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    warnings = raised_warnings([str(SAMPLES)] if where == "samples" else corpus_files())
    assert warnings
    untyped = [w for w in warnings if not isinstance(w, WarningText)]
    assert not untyped, untyped[:5]
    rules = {w.rule for w in warnings}
    assert rules <= sarif_rule_ids()
    if where == "corpus":  # every kind is raised there: none is left out of this test
        assert rules == set(WarningRule)


def test_sarif_defines_every_warning_rule_in_its_order() -> None:
    rules = as_sarif(Report())["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["CIS-DOCKER-4.1", *WarningRule]
    assert all(r["shortDescription"]["text"] for r in rules)


def rules_reported(report: Report) -> tuple[list[str], list[str], list[str]]:
    """The warnings' rules as SARIF, GitLab and GitHub report them."""
    results = as_sarif(report)["runs"][0]["results"]
    titles = re.findall(r"^::warning [^:]*,title=([^:]+)::", as_github(report), re.M)
    return (
        [r["ruleId"] for r in results if r["level"] == "warning"],
        [i["check_name"] for i in as_gitlab(report) if i["severity"] == "minor"],
        titles,
    )


def test_a_reworded_warning_keeps_its_rule() -> None:
    found = core.check(SUDO_BUILDER_DOCKERFILE, Settings())
    assert [w.rule for w in found.warnings] == [
        WarningRule.LOW_PORT,
        WarningRule.SUDO,
        WarningRule.BUILDER_ROOT,
    ]
    # The same warnings reworded, each in the words that once gave another rule away.
    decoys = ["sudo in the builder stage", "uid 7 is already used", "EXPOSE 22 with --force"]
    reworded = tuple(
        WarningText(w.rule, f"line {n}: {text}")
        for n, (w, text) in enumerate(zip(found.warnings, decoys, strict=True), 2)
    )
    before, after = Report(), Report()
    before.add(Outcome("Dockerfile", found))
    after.add(Outcome("Dockerfile", found._replace(warnings=reworded)))
    expected = ["FIXUSER-LOW-PORT", "FIXUSER-SUDO", "FIXUSER-BUILDER-ROOT"]
    assert rules_reported(before) == rules_reported(after) == (expected, expected, expected)
    assert as_github(after).count("sudo in the builder stage") == 1  # the new wording shows


def test_a_warning_that_mentions_another_rules_words_keeps_its_own_rule() -> None:
    # The regexes that once read rules from the wording took this VOLUME warning for sudo's.
    inherited = b'FROM debian:bookworm-slim AS base\nVOLUME /srv/sudo\nFROM base\nCMD ["/app"]\n'
    (warning,) = core.fix(inherited, Settings()).analysis.warnings
    assert "VOLUME /srv/sudo comes from stage base" in warning
    assert warning.rule is WarningRule.OTHER


def test_a_warning_is_its_text_everywhere_text_is_read() -> None:
    warning = WarningText(WarningRule.SUDO, "line 3: sudo in the runtime stage")
    assert warning == "line 3: sudo in the runtime stage"
    assert f"warning: {warning}" == "warning: line 3: sudo in the runtime stage"
    assert json.dumps([warning]) == '["line 3: sudo in the runtime stage"]'


def test_a_warning_keeps_its_rule_through_pickle_and_copy() -> None:
    warning = WarningText(WarningRule.FORCED, "--force: fixing a root-by-design stage")
    for copied in (pickle.loads(pickle.dumps(warning)), copy.deepcopy(warning)):
        assert type(copied) is WarningText
        assert (copied, copied.rule) == (warning, WarningRule.FORCED)


@pytest.mark.skipif(not workers.can_fork(), reason="workers need fork (Linux)")
def test_warnings_from_worker_processes_keep_their_rules() -> None:
    one = raised_warnings([str(SAMPLES)])
    many = raised_warnings([str(SAMPLES)], jobs=2)  # forked workers pickle their results
    assert [(w, w.rule) for w in many] == [(w, w.rule) for w in one]
