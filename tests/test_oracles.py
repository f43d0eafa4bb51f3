"""Oracles: what other tools consider compliant, run on every sample output.

- hadolint reports no rule the input did not already break (DL3059, the info-level hint to
  merge consecutive RUNs, is tolerated) and no DL3002 in the runtime stage;
- Checkov's CKV_DOCKER_3 (a user was created) and CKV_DOCKER_8 (the last USER is not root)
  pass on every output fix changed, and no Checkov check fails that passed on the input;
- BuildKit's own parser (PyPI ``dockerfile``) parses every output, and the input's
  instructions appear in it in order.

With ``CI=true`` a missing tool fails the run; otherwise its tests are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixuser.core import check, fix
from fixuser.settings import Settings
from testing.preserve import as_text, missing_instructions
from testing.samples import SAMPLE_LIST, Sample, ids

pytestmark = pytest.mark.oracle

TOLERATED = {"DL3059"}
CHECKOV_RULES = ("CKV_DOCKER_3", "CKV_DOCKER_8")
CHECKOV_FLAGS = ("--skip-download", "-o", "json")
CHANGED = [s for s in SAMPLE_LIST if s.expected != s.source]
# hadolint and Checkov judge the last stage; a sample fixed with --target (settings.toml)
# leaves the stages built FROM its target as root on purpose (they keep building as root).
LAST_STAGE = [s for s in SAMPLE_LIST if s.settings.target is None]
LAST_CHANGED = [s for s in CHANGED if s.settings.target is None]
# --strategy entrypoint installs the distribution's current su-exec or util-linux (for setpriv)
# where the base may lack it: pinning a version would break at the distribution's next update,
# the trade-off hadolint's version-pinning warnings name.
PINNING = {"DL3008", "DL3018", "DL3033", "DL3037", "DL3041"}


def by_entrypoint(sample: Sample) -> bool:
    """Fixed with --strategy entrypoint: no USER, a wrapper drops privileges at start."""
    return sample.settings.strategy == "entrypoint" and sample.expected != sample.source


def missing_tool(what: str) -> None:
    message = f"{what} is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: oracle tools are required)")
    pytest.skip(message)


def tool(name: str) -> str:
    """A command from the venv (next to this interpreter) or from PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        missing_tool(name)
    assert found is not None
    return found


# --- hadolint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hadolint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """hadolint's findings for every sample input and output, in one run: "<name>/in" ->."""
    binary = tool("hadolint")
    folder = tmp_path_factory.mktemp("hadolint")
    paths = []
    for sample in SAMPLE_LIST:
        for kind, data in (("in", sample.source), ("out", sample.expected)):
            path = folder / f"{sample.name}.{kind}.Dockerfile"
            path.write_bytes(data)
            paths.append(str(path))
    run = subprocess.run(
        [binary, "--no-fail", "-f", "json", *paths], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    findings: dict[str, list[dict[str, Any]]] = {}
    for finding in json.loads(run.stdout or "[]"):
        name, kind, _ = Path(finding["file"]).name.rsplit(".", 2)
        findings.setdefault(f"{name}/{kind}", []).append(finding)
    return findings


@pytest.mark.parametrize("sample", LAST_STAGE, ids=[s.name for s in LAST_STAGE])
def test_hadolint_reports_no_rule_the_input_did_not_break(
    sample: Sample, hadolint: dict[str, list[dict[str, Any]]]
) -> None:
    before = {f["code"] for f in hadolint.get(f"{sample.name}/in", [])}
    after = hadolint.get(f"{sample.name}/out", [])
    tolerated = TOLERATED | ({"DL3066"} if named_user(sample) else set())
    tolerated |= PINNING if by_entrypoint(sample) else set()
    tolerated |= {"SC2016"} if quotes_code(sample) else set()
    new = [f for f in after if f["code"] not in before | tolerated]
    assert new == []


def quotes_code(sample: Sample) -> bool:
    """The fix single-quotes a path holding $(...) or backticks, so that it stays a path:
    shellcheck's SC2016 (info: "expressions don't expand in single quotes") is the point."""
    inserted = set(sample.expected.splitlines()) - set(sample.source.splitlines())
    return any(re.search(rb"'[^']*(\$\(|`)[^']*'", line) for line in inserted)


def named_user(sample: Sample) -> bool:
    """Issue 2 requires a USER name (DL3066, info level) in exactly two cases: Windows
    (ContainerUser has no number) and a user the file created leaving the UID to the system."""
    change = fix(sample.source, Settings(), context=sample.context()).change
    return change is not None and not change.user.replace(":", "").isdigit()


@pytest.mark.parametrize("sample", LAST_CHANGED, ids=[s.name for s in LAST_CHANGED])
def test_hadolint_finds_no_dl3002_in_the_runtime_stage(
    sample: Sample, hadolint: dict[str, list[dict[str, Any]]]
) -> None:
    runtime = check(sample.expected, Settings(), context=sample.context()).stage_line
    dl3002 = [
        f
        for f in hadolint.get(f"{sample.name}/out", [])
        if f["code"] == "DL3002" and f["line"] >= runtime
    ]
    assert dl3002 == []


def test_hadolint_flags_a_target_fix_only_where_a_child_stage_keeps_building_as_root(
    hadolint: dict[str, list[dict[str, Any]]],
) -> None:
    """The trade-off of fixing --target base: the stage built FROM it gets USER root (its RUN
    steps need it), which DL3002 flags (and DL3066, info: a name, not a number); nothing
    else is new."""
    sample = next(s for s in SAMPLE_LIST if s.name == "target-with-children")
    lines = sample.expected.decode().splitlines()
    user_root = [n for n, line in enumerate(lines, 1) if line == "USER root"]
    before = {f["code"] for f in hadolint.get(f"{sample.name}/in", [])}
    new = [
        (f["code"], f["line"])
        for f in hadolint.get(f"{sample.name}/out", [])
        if f["code"] not in before | TOLERATED
    ]
    assert sorted(new) == sorted(
        (code, line) for line in user_root for code in ("DL3002", "DL3066")
    )


# --- Checkov -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Checkov's results over every sample input and output, in one run (it starts slowly):
    "<name>/in" -> {check id: PASSED | FAILED}."""
    binary = tool("checkov")
    folder = tmp_path_factory.mktemp("checkov")
    for sample in SAMPLE_LIST:
        # Checkov silently skips a file that is not UTF-8 (0 resources): it reads the
        # Latin-1 sample transcoded, which changes no instruction.
        for kind, data in (("in", sample.source), ("out", sample.expected)):
            path = folder / f"{sample.name}.{kind}.Dockerfile"
            path.write_text(as_text(data), "utf-8", newline="")
    run = subprocess.run(
        # Without --quiet: the JSON then lists the passed checks too, so a check that did not
        # run at all is told apart from one that passed.
        [binary, "-d", str(folder), "--framework", "dockerfile", "--compact", *CHECKOV_FLAGS],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.stdout.strip(), run.stderr
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    results: dict[str, dict[str, str]] = {}
    for one in reports:
        for outcome, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
            for item in one.get("results", {}).get(key, []):
                name, kind, _ = Path(item["file_abs_path"]).name.rsplit(".", 2)
                results.setdefault(f"{name}/{kind}", {})[item["check_id"]] = outcome
    return results


@pytest.mark.parametrize("sample", LAST_CHANGED, ids=[s.name for s in LAST_CHANGED])
def test_checkov_user_checks_pass_on_every_fix(
    sample: Sample, checkov: dict[str, dict[str, str]]
) -> None:
    results = checkov.get(f"{sample.name}/out", {})
    if by_entrypoint(sample):
        # A static check cannot see a privilege drop at start: Checkov wants a USER (and,
        # without one, has no last USER to judge). The CIS audit of the running container is
        # what passes: tests/test_engine_entrypoint.py reads PID 1's UID.
        assert {rule: results.get(rule, "missing") for rule in CHECKOV_RULES} == {
            "CKV_DOCKER_3": "FAILED",
            "CKV_DOCKER_8": "missing",
        }
        return
    assert {rule: results.get(rule, "missing") for rule in CHECKOV_RULES} == {
        rule: "PASSED" for rule in CHECKOV_RULES
    }


@pytest.mark.parametrize("sample", LAST_STAGE, ids=[s.name for s in LAST_STAGE])
def test_checkov_fails_nothing_that_passed_on_the_input(
    sample: Sample, checkov: dict[str, dict[str, str]]
) -> None:
    before = checkov.get(f"{sample.name}/in", {})
    after = checkov.get(f"{sample.name}/out", {})
    broken = sorted(k for k, v in after.items() if v == "FAILED" and before.get(k) != "FAILED")
    assert broken == []


# --- BuildKit's parser ---------------------------------------------------------------------


def buildkit() -> Any:
    try:
        import dockerfile
    except ImportError:
        missing_tool("the dockerfile package (BuildKit's parser)")
    return dockerfile


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_buildkit_parses_every_output_with_the_input_instructions_in_order(
    sample: Sample,
) -> None:
    parser = buildkit()
    source, output = as_text(sample.source), as_text(sample.expected)
    assert missing_instructions(parser, source, output) == []


@pytest.mark.parametrize("sample", CHANGED, ids=[s.name for s in CHANGED])
def test_buildkit_sees_one_non_root_user_as_the_runtime_stages_last(sample: Sample) -> None:
    commands = buildkit().parse_string(as_text(sample.expected))
    froms = [i for i, c in enumerate(commands) if c.cmd.upper() == "FROM"]
    runtime = froms[-1]  # the last stage, or the --target one
    if sample.settings.target is not None:
        named = [i for i in froms if [w.lower() for w in commands[i].value[1:2]] == ["as"]]
        runtime = next(i for i in named if commands[i].value[2] == sample.settings.target)
    end = next((i for i in froms if i > runtime), len(commands))
    if by_entrypoint(sample):  # no USER: the runtime stage's ENTRYPOINT is the wrapper
        entry = [c for c in commands[runtime:end] if c.cmd.upper() == "ENTRYPOINT"]
        copies = [c for c in commands[runtime:end] if c.cmd.upper() == "COPY"]
        assert entry and entry[-1].value[0] == "/usr/local/bin/fixuser-entrypoint"
        assert any(c.value[-1] == "/usr/local/bin/fixuser-entrypoint" for c in copies)
        assert not any(c.cmd.upper() == "USER" for c in commands[runtime:end])
        return
    users = [c for c in commands[runtime:end] if c.cmd.upper() == "USER"]
    if not users:  # a FROM <stage> chain: the USER is in the stage it is built from
        users = [c for c in commands if c.cmd.upper() == "USER"]
    assert users, "no USER"
    assert users[-1].value[0].split(":")[0].lower() not in ("root", "0")
