"""Roles of images (issue 22): what each Dockerfile is for decides whether fix gives it a USER.

Real fixture repositories written into temp dirs, modelled on what real repositories do (a
monorepo with a code generator run from a script, a package builder run from a Makefile,
devcontainers with and without remoteUser, a Cypress image under e2e/, a bake base used only
as a build context, a scratch artifact exported with --output), run through the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixuser.branches.batch_report import FileRecord
from fixuser.project.buildcmd import words_of
from fixuser.project.devcontainer import strip_comments
from fixuser.project.read import read_context
from fixuser.project.roles import from_context
from fixuser.project.runcmd import run_arguments

FILES = {
    # F1: a service, and a code generator its script runs on the checkout
    "services/api/Dockerfile": (
        'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n'
    ),
    "tools/codegen/Dockerfile": (
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y protobuf-compiler\n"
        'WORKDIR /build\nENTRYPOINT ["protoc"]\n'
    ),
    "scripts/gen-proto.sh": (
        "#!/bin/sh\nset -e\n"
        "docker build -t acme/codegen:dev -f tools/codegen/Dockerfile .\n"
        'docker run --rm -v "$(pwd)":/build acme/codegen:dev --go_out=gen proto/api.proto\n'
    ),
    # F2: a Debian package builder run from the Makefile
    "packaging/deb/Dockerfile": (
        "FROM debian:bookworm\nRUN apt-get update && apt-get install -y devscripts dpkg-dev\n"
        'WORKDIR /src\nCMD ["dpkg-buildpackage", "-us", "-uc"]\n'
    ),
    "Makefile": (
        "deb:\n\tdocker build -t acme/debbuild packaging/deb\n"
        "\tdocker run --rm --volume $(CURDIR):/src acme/debbuild\n"
    ),
    # F3: a devcontainer whose tools run as a non-root remoteUser
    ".devcontainer/Dockerfile": (
        "FROM mcr.microsoft.com/devcontainers/base:bookworm\n"
        "RUN apt-get update && apt-get install -y make\n"
    ),
    ".devcontainer/devcontainer.json": (
        '{\n  // the team\'s shell\n  "name": "acme",\n  "build": { "dockerfile": "Dockerfile" },\n'
        '  /* tools run as vscode */\n  "remoteUser": "vscode",\n}\n'
    ),
    # F4: a Cypress image under e2e/
    "e2e/Dockerfile": "FROM cypress/included:13.6.0\nWORKDIR /e2e\nCOPY . .\n",
    # F5: a bake base, used only as the build context of another target
    "images/base/Dockerfile": (
        "FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y ca-certificates\n"
    ),
    "images/app/Dockerfile": 'FROM base\nCOPY app /usr/local/bin/app\nCMD ["app"]\n',
    "docker-bake.hcl": (
        'group "default" {\n  targets = ["app"]\n}\n'
        'target "base" {\n  context = "images/base"\n}\n'
        'target "app" {\n  context = "images/app"\n'
        '  contexts = {\n    base = "target:base"\n  }\n}\n'
    ),
    # F6: a static binary carried out of the build with --output
    "release/Dockerfile": (
        "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /out/tool ./cmd/tool\n"
        "FROM scratch\nCOPY --from=build /out/tool /tool\n"
    ),
    "release.sh": "docker buildx build --output type=local,dest=dist -f release/Dockerfile .\n",
}

# Expected role and evidence of each Dockerfile.
ROLES = {
    "services/api/Dockerfile": ("service", ""),
    "tools/codegen/Dockerfile": ("tool", "scripts/gen-proto.sh:4"),
    "packaging/deb/Dockerfile": ("tool", "Makefile:3"),
    ".devcontainer/Dockerfile": ("dev", ".devcontainer/devcontainer.json:6"),
    "e2e/Dockerfile": ("test", "e2e/Dockerfile"),
    "images/base/Dockerfile": ("build-base", "docker-bake.hcl:10"),
    "images/app/Dockerfile": ("service", ""),
    "release/Dockerfile": ("artifact", "release/Dockerfile:5"),
}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def fixuser(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write(tmp_path / "repo", FILES)


def test_json_names_the_role_of_every_dockerfile_with_its_evidence(repo: Path) -> None:
    done = fixuser(repo, "check", "--format", "json", ".")
    found = {f["path"]: f["role"] for f in json.loads(done.stdout)["files"]}
    assert {path: (r["name"], r["evidence"]) for path, r in found.items()} == ROLES
    assert "$(pwd):/build" in found["tools/codegen/Dockerfile"]["why"]
    assert found["services/api/Dockerfile"]["why"] == "nothing says otherwise"


def test_check_fails_only_on_the_roles_fix_would_fix(repo: Path) -> None:
    done = fixuser(repo, "check", ".")
    assert done.returncode == 1  # the two services
    assert done.stdout.endswith("8 files: 1 compliant, 7 root (5 of roles not fixed: notes)\n")
    failing = [line for line in done.stderr.splitlines() if "runs as root" in line]
    assert sorted(line.split(":")[0] for line in failing) == [
        "images/app/Dockerfile",
        "services/api/Dockerfile",
    ]
    # without the services, nothing fails: tools, bases, artifacts and tests are notes
    for rel in ("services/api/Dockerfile", "images/app/Dockerfile"):
        (repo / rel).unlink()
    assert fixuser(repo, "check", ".").returncode == 0


def test_tool_finding_names_the_call_site_and_the_remedy(repo: Path) -> None:
    done = fixuser(repo, "check", ".")
    line = next(x for x in done.stderr.splitlines() if x.startswith("packaging/deb/Dockerfile:"))
    assert "on the docker run at Makefile:3" in line
    assert '--user "$(id -u):$(id -g)"' in line and "HOME" in line
    assert "role tool (Makefile:3)" in done.stdout


def test_fix_changes_services_only_and_leaves_every_other_role(repo: Path) -> None:
    before = {rel: (repo / rel).read_text() for rel in ROLES}
    done = fixuser(repo, "fix", ".")
    assert done.returncode == 1, done.stderr
    changed = {rel for rel in ROLES if (repo / rel).read_text() != before[rel]}
    assert changed == {"services/api/Dockerfile", "images/app/Dockerfile"}
    assert "e2e/Dockerfile: left alone: test" in done.stderr
    assert "release/Dockerfile: left alone: not run, not fixed: artifact" in done.stderr


def test_roles_flag_chooses_what_fix_fixes_and_check_fails_on(repo: Path) -> None:
    done = fixuser(repo, "fix", "--diff", "--roles", "test", ".")
    assert "+++ b/e2e/Dockerfile" in done.stdout
    assert "+++ b/services/api/Dockerfile" not in done.stdout
    checked = fixuser(repo, "check", "--roles", "tool", "--format", "json", ".")
    assert checked.returncode == 1  # the tools now fail the check, and are still not fixed
    tools = fixuser(repo, "fix", "--diff", "--roles", "tool", ".")
    assert tools.stdout == ""


def test_role_flag_and_table_override_the_classification(repo: Path) -> None:
    done = fixuser(repo, "fix", "--diff", "--role", "service=e2e/*", ".")
    assert "+++ b/e2e/Dockerfile" in done.stdout
    (repo / "pyproject.toml").write_text('[tool.fixuser]\nroles = { "services/*" = "test" }\n')
    checked = fixuser(repo, "check", "--format", "json", ".")
    roles = {f["path"]: f["role"] for f in json.loads(checked.stdout)["files"]}
    assert roles["services/api/Dockerfile"]["name"] == "test"
    assert fixuser(repo, "check", "--role", "bogus=x", ".").returncode == 2


def test_devcontainer_without_remote_user_is_fixed_and_fails_check(tmp_path: Path) -> None:
    files = {
        ".devcontainer/Dockerfile": "FROM debian:bookworm\nRUN apt-get update\n",
        ".devcontainer/devcontainer.json": '{"build": {"dockerfile": "Dockerfile"}}\n',
    }
    repo = write(tmp_path / "repo", files)
    checked = fixuser(repo, "check", "--format", "json", ".")
    assert checked.returncode == 1
    assert "no non-root remoteUser" in json.loads(checked.stdout)["files"][0]["role"]["why"]
    done = fixuser(repo, "fix", "--diff", ".")
    assert "+USER" in done.stdout


def test_devcontainer_with_container_user_is_compliant(tmp_path: Path) -> None:
    files = {
        ".devcontainer/Dockerfile": "FROM debian:bookworm\n",
        ".devcontainer/devcontainer.json": '{"dockerFile": "Dockerfile", "containerUser": "dev"}',
    }
    repo = write(tmp_path / "repo", files)
    done = fixuser(repo, "check", "--format", "json", ".")
    entry = json.loads(done.stdout)["files"][0]
    assert (done.returncode, entry["verdict"], entry["role"]["name"]) == (0, "compliant", "dev")
    assert "containerUser dev" in entry["reason"]


def test_compose_service_with_a_profile_mounting_the_checkout_is_a_tool(tmp_path: Path) -> None:
    files = {
        "lint/Dockerfile": "FROM node:20\nRUN npm i -g eslint\n",
        "compose.yaml": (
            "services:\n  lint:\n    build: lint\n    profiles: [tools]\n    volumes:\n"
            "      - .:/src\n  web:\n    build: lint\n"
        ),
    }
    repo = write(tmp_path / "repo", files)
    role = json.loads(fixuser(repo, "check", "--format", "json", ".").stdout)["files"][0]["role"]
    assert (role["name"], role["evidence"]) == ("tool", "compose.yaml:2")


def test_sarif_carries_the_role_and_reviews_what_it_does_not_fail(repo: Path) -> None:
    done = fixuser(repo, "check", "--format", "sarif", ".")
    results = json.loads(done.stdout)["runs"][0]["results"]
    by_path = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r
        for r in results
        if r["ruleId"] == "CIS-DOCKER-4.1"
    }
    assert by_path["e2e/Dockerfile"]["kind"] == "review"
    assert by_path["e2e/Dockerfile"]["level"] == "none"
    assert by_path["e2e/Dockerfile"]["properties"]["role"]["name"] == "test"
    assert by_path["services/api/Dockerfile"]["kind"] == "fail"


def test_commit_message_states_the_role(repo: Path) -> None:
    env_args = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", *env_args, "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *env_args, "commit", "-qm", "init"], cwd=repo, check=True)
    (repo / ".devcontainer/devcontainer.json").write_text('{"build": {"dockerfile": "Dockerfile"}}')
    subprocess.run(["git", *env_args, "commit", "-qam", "no remoteUser"], cwd=repo, check=True)
    done = fixuser(repo, "fix", "--commit", "--author", "t <t@example.com>", ".")
    assert done.returncode in (0, 1), done.stderr
    message = subprocess.run(
        ["git", "log", "-1", "--format=%B", "fixuser/cis-4.1-non-root-user"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "- Role: dev (.devcontainer/devcontainer.json:1" in message
    assert "tools/codegen/Dockerfile" not in message


def test_batch_record_keeps_the_role() -> None:
    record = FileRecord("e2e/Dockerfile", "root", role=("test", "e2e/Dockerfile", "under e2e/"))
    data = record.to_json()
    assert data["role"] == {"name": "test", "evidence": "e2e/Dockerfile", "why": "under e2e/"}
    assert FileRecord.from_json(data) == record
    assert "role" not in FileRecord("Dockerfile", "root").to_json()


@pytest.mark.parametrize(
    "command",
    [
        'docker run --rm -v "$(pwd)":/build gen',
        "docker run --rm -v $PWD:/src gen:1.2",
        "podman run --volume .:/x gen",
        "docker run -it --mount type=bind,source=${PWD},target=/w gen",
        "docker container run -v ${GITHUB_WORKSPACE}/sub:/w -e A=b gen",
    ],
)
def test_a_run_mounting_the_checkout_names_its_image(command: str) -> None:
    found = run_arguments(words_of(command))
    assert found is not None and found.image == "gen"


@pytest.mark.parametrize(
    "command",
    [
        "docker run --rm -v data:/data gen",  # a named volume
        "docker run --rm -v /srv/x:/x gen",  # a host path that is not the checkout
        "docker run --rm gen",
        "docker run -v $(pwd):/x $IMAGE",  # an image fixuser cannot name
        "docker ps",
    ],
)
def test_other_runs_say_nothing(command: str) -> None:
    assert run_arguments(words_of(command)) is None


def test_devcontainer_json_with_comments_and_trailing_commas_is_read() -> None:
    text = '{\n  // a "comment"\n  "a": "http://x", /* b */\n  "remoteUser": "me",\n}\n'
    assert json.loads(strip_comments(text)) == {"a": "http://x", "remoteUser": "me"}
    context = read_context(
        [(".devcontainer/devcontainer.json", text.encode()), (".devcontainer/Dockerfile", b"")]
    )
    role = from_context(".devcontainer/Dockerfile", context)
    assert role.name == "dev"  # its dockerfile is not named: the path says it


def test_a_script_tag_without_a_run_is_no_tool() -> None:
    script = b"docker build -t acme/api -f services/api/Dockerfile .\ndocker push acme/api\n"
    context = read_context([("build.sh", script)])
    assert context.builders == ()  # a script's builds are not builders
    assert from_context("services/api/Dockerfile", context).name == "service"


def test_fix_roles_in_the_table_chooses_what_fix_fixes(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.fixuser]\nfix-roles = ["test"]\n')
    done = fixuser(repo, "fix", "--diff", ".")
    assert "+++ b/e2e/Dockerfile" in done.stdout
    assert "+++ b/services/api/Dockerfile" not in done.stdout


def test_evidence_is_shown_from_the_current_directory(repo: Path) -> None:
    done = fixuser(repo / "services", "check", "..")
    assert "role tool (../Makefile:3)" in done.stdout
    assert "on the docker run at ../Makefile:3" in done.stderr


def test_a_tool_named_by_its_own_entrypoint_is_not_sent_to_a_docker_run(tmp_path: Path) -> None:
    # The evidence is the Dockerfile's ENTRYPOINT line: there is no docker run to point at.
    (tmp_path / "Dockerfile").write_text('FROM alpine:3.20\nENTRYPOINT ["protoc"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "fixuser", "check", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "role tool" in done.stdout, done.stdout
    assert '--user "$(id -u):$(id -g)" where it is run' in done.stderr
    assert "on the docker run at" not in done.stderr
