"""The GitHub Action (action.yml), its shell steps run here as the runner runs them.

A small stand-in for the runner: the `${{ }}` expressions of each step's `env:` are evaluated
(inputs, github.action_path, runner.temp, earlier steps' outputs), `uses:` steps are skipped
(actions/setup-python: its python-path output is this interpreter), and each `run:` script
goes to `bash --noprofile --norc -eo pipefail`, GitHub's `shell: bash`, with GITHUB_OUTPUT,
GITHUB_WORKSPACE and RUNNER_TEMP set, in a git repository holding sample Dockerfiles. The
action installs fixuser from a copy of this checkout, pip reading the session's wheelhouse.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import pytest
import yaml

from testing.packaging import REPO, copy_checkout, offline_pip_env

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
SAMPLES = REPO / "samples"
# OASIS's schema, vendored (tests/fixtures/sarif/README says from where).
SARIF_SCHEMA = REPO / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class Ran(NamedTuple):
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]  # the run step's


def evaluate(expression: str, context: dict[str, Any]) -> str:
    """A dotted name (``inputs.paths``, ``steps.install.outputs.fixuser``) and its value; a
    step output never set is "", as on GitHub. Anything else (an operator, a function, an
    input or context that does not exist) fails the test, so action.yml keeps to what this
    stand-in understands."""
    assert re.fullmatch(r"[a-z_][\w.-]*", expression), f"unsupported: ${{{{ {expression} }}}}"
    head, *rest = expression.split(".")
    assert head in context, expression
    if head != "steps":
        assert rest and rest[0] in context[head], expression
    value: Any = context[head]
    for part in rest:
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value if isinstance(value, str) else ""


def substitute(text: str, context: dict[str, Any]) -> str:
    return EXPRESSION.sub(lambda m: evaluate(m.group(1), context), text)


def outputs_of(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's ``name=value`` lines (the action writes no multi-line values)."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        found[name] = value
    return found


def run_action(
    workspace: Path,
    temp: Path,
    action_path: Path,
    wheelhouse: Path,
    inputs: dict[str, str],
    installed: dict[str, dict[str, str]] | None = None,
) -> Ran:
    """Run the action's steps; with ``installed`` (the install step's outputs), the steps
    after the install only."""
    defaults = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    assert set(inputs) <= set(defaults)
    steps: dict[str, Any] = {"python": {"outputs": {"python-path": sys.executable}}}
    if installed:
        steps["install"] = {"outputs": installed}
    context = {
        "inputs": {**defaults, **inputs},
        "github": {"action_path": str(action_path), "workspace": str(workspace)},
        "runner": {"temp": str(temp)},
        "steps": steps,
    }
    env = offline_pip_env(wheelhouse)
    env.update(GITHUB_WORKSPACE=str(workspace), RUNNER_TEMP=str(temp), GITHUB_ACTIONS="true")
    last = Ran(0, "", "", {})
    for n, step in enumerate(ACTION["runs"]["steps"]):
        if "uses" in step or (installed and step["id"] in ("python", "install")):
            continue
        output = temp / f"output-{step['id']}-{n}"
        output.write_text("")
        step_env = {k: substitute(str(v), context) for k, v in step.get("env", {}).items()}
        script = temp / f"step-{step['id']}.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env={**env, **step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        steps[step["id"]] = {"outputs": outputs_of(output)}
        last = Ran(done.returncode, done.stdout, done.stderr, steps[step["id"]]["outputs"])
        if done.returncode != 0:
            break
    return last


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A repository as actions/checkout leaves it: one root Dockerfile, one compliant."""
    repo = tmp_path / "repo"
    (repo / "svc").mkdir(parents=True)
    (repo / "svc" / "Dockerfile").write_bytes(
        (SAMPLES / "debian-basic" / "Dockerfile").read_bytes()
    )
    (repo / "svc" / "app.sh").write_bytes((SAMPLES / "debian-basic" / "app.sh").read_bytes())
    (repo / "ok").mkdir()
    (repo / "ok" / "Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000:1000\n")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "initial", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def action(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> tuple[Path, Path]:
    """The action's checkout (a copy of this one) and the runner's temp directory."""
    return (
        copy_checkout(tmp_path_factory.mktemp("action") / "fixuser"),
        tmp_path_factory.mktemp("runner-temp"),
    )


@pytest.fixture(scope="module")
def installed(
    action: tuple[Path, Path], wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The whole action run once (check), from a fresh venv: the install step's outputs."""
    action_path, temp = action
    workspace = tmp_path_factory.mktemp("first-run")
    (workspace / "Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000:1000\n")
    ran = run_action(workspace, temp, action_path, wheelhouse, {})
    assert ran.status == 0, ran.stdout + ran.stderr
    venv = temp / "fixuser-venv"
    assert ran.outputs == {
        "sarif-file": "fixuser.sarif",
        "exit-code": "0",
    }
    assert (workspace / "fixuser.sarif").is_file()
    return {"python": str(venv / "bin" / "python"), "fixuser": str(venv / "bin" / "fixuser")}


def test_inputs_and_outputs_are_as_documented() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"command", "paths", "args", "sarif-file", "python-version"}
    assert ACTION["inputs"]["command"]["default"] == "check"
    assert set(ACTION["outputs"]) == {"exit-code", "sarif-file"}


def test_no_input_is_pasted_into_a_script() -> None:
    # ${{ inputs.args }} inside run: would let an input inject shell; env: carries them.
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step["name"]
            assert step["shell"] == "bash"


def test_the_install_step_installs_from_the_actions_checkout(installed: dict[str, str]) -> None:
    venv = Path(installed["python"]).parent.parent
    done = subprocess.run(
        [installed["python"], "-c", "import fixuser; print(fixuser.__file__)"],
        cwd=venv,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(venv)
    assert venv.name == "fixuser-venv"  # in the runner's temp directory, not the workspace


def test_check_writes_valid_sarif_annotates_and_exits_1(
    action: tuple[Path, Path], wheelhouse: Path, installed: dict[str, str], workspace: Path
) -> None:
    ran = run_action(workspace, action[1], action[0], wheelhouse, {}, installed)
    assert ran.status == 1, ran.stderr
    assert ran.outputs == {"sarif-file": "fixuser.sarif", "exit-code": "1"}
    sarif = json.loads((workspace / "fixuser.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)
    results = {
        (r["ruleId"], r["kind"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in sarif["runs"][0]["results"]
    }
    assert ("CIS-DOCKER-4.1", "fail", "svc/Dockerfile") in results
    assert ("CIS-DOCKER-4.1", "pass", "ok/Dockerfile") in results
    assert "::error file=svc/Dockerfile,line=1,title=CIS-DOCKER-4.1::runs as root" in ran.stdout
    assert ran.stdout.endswith("2 files: 1 compliant, 1 root\n")


def test_paths_and_args_are_split_as_shell_words(
    action: tuple[Path, Path], wheelhouse: Path, installed: dict[str, str], workspace: Path
) -> None:
    (workspace / "with space").mkdir()
    (workspace / "with space" / "Dockerfile").write_bytes(b"FROM alpine:3.20\nUSER 1000\n")
    inputs = {"paths": "'with space'\nok", "args": "--user 'svc'", "sarif-file": ""}
    ran = run_action(workspace, action[1], action[0], wheelhouse, inputs, installed)
    assert (ran.status, ran.outputs) == (0, {"exit-code": "0"}), ran.stdout + ran.stderr
    assert not (workspace / "fixuser.sarif").exists()
    assert ran.stdout == "2 files: 2 compliant\n"
    broken = run_action(workspace, action[1], action[0], wheelhouse, {"paths": "'open"}, installed)
    assert broken.status == 2 and "::error title=fixuser::" in broken.stdout


def test_fix_rewrites_and_a_second_check_passes(
    action: tuple[Path, Path], wheelhouse: Path, installed: dict[str, str], workspace: Path
) -> None:
    inputs = {"command": "fix", "args": "--uid 2000"}
    ran = run_action(workspace, action[1], action[0], wheelhouse, inputs, installed)
    assert (ran.status, ran.outputs) == (1, {"exit-code": "1"}), ran.stderr  # 1: changed
    assert b"USER 2000:2000" in (workspace / "svc" / "Dockerfile").read_bytes()
    again = run_action(workspace, action[1], action[0], wheelhouse, {}, installed)
    assert again.status == 0, again.stdout
    sarif = json.loads((workspace / "fixuser.sarif").read_text())
    assert {r["kind"] for r in sarif["runs"][0]["results"]} == {"pass"}


def test_batch_runs_on_repositories(
    action: tuple[Path, Path], wheelhouse: Path, installed: dict[str, str], workspace: Path
) -> None:
    cache = action[1] / "batch-cache"
    inputs = {"command": "batch", "paths": ".", "args": f"--dry-run --workdir {cache}"}
    ran = run_action(workspace, action[1], action[0], wheelhouse, inputs, installed)
    assert (ran.status, ran.outputs) == (0, {"exit-code": "0"}), ran.stdout + ran.stderr
    assert "would-fix" in ran.stdout + ran.stderr


def test_an_unknown_command_exits_2(
    action: tuple[Path, Path], wheelhouse: Path, installed: dict[str, str], workspace: Path
) -> None:
    ran = run_action(workspace, action[1], action[0], wheelhouse, {"command": "nope"}, installed)
    assert (ran.status, ran.outputs) == (2, {"exit-code": "2"})
    assert "::error title=fixuser::the command input is check, fix or batch" in ran.stdout
