"""The repository context on the paths that commit: fix --commit, the session, batch.

They read the base commit, never the working tree, so the context (compose files, workflows,
manifests) comes from that commit too; what it says reaches the commit message, the PR
description, the terminal and the batch report. Real git repositories in temp dirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixuser.branches import review
from fixuser.branches.fix_commit import run_commit
from fixuser.branches.repo import context_lines, plan_repository, render_commit_message
from fixuser.main import main
from fixuser.settings import Settings
from testing.git import blob, commit_all, git, isolate_git, make_repo

SETTINGS = Settings()

TWO_STAGES = b"""\
FROM debian:bookworm-slim AS prod
COPY app /app
CMD ["/app/run"]

FROM prod AS dev
RUN apt-get update && apt-get install -y --no-install-recommends gdb
"""

COMPOSE = """\
services:
  web:
    build:
      context: .
      target: prod
    ports:
      - "80:8080"
      - "8443:443"
      - "9000:9000"
    volumes:
      - ./data:/app/data
      - ./config:/etc/app:ro
      - ./nginx.conf:/etc/nginx/nginx.conf
      - cache:/var/cache/app
      - /var/run/docker.sock:/var/run/docker.sock
  worker:
    image: acme/worker
    user: root
volumes:
  cache: {}
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {"Dockerfile": TWO_STAGES, "compose.yaml": COMPOSE, "app/run": "#!/bin/sh\n"},
    )


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_plan_fixes_the_stage_compose_ships_read_from_the_commit(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS)
    (fix,) = plan.fixes
    assert [(t.stage, t.source) for t in fix.result.analysis.targets] == [
        ("prod", f"compose.yaml:{line_of(COMPOSE, 'target: prod')}")
    ]
    output = fix.result.output.decode()
    prod = output.split("FROM prod AS dev")[0]
    assert "USER 10001:10001" in prod  # the stage compose builds, not only the last one


def test_the_working_tree_context_does_not_decide_what_is_committed(repo: Path) -> None:
    # An uncommitted compose file that ships nothing: the commit still says prod ships.
    (repo / "compose.yaml").write_text("services: {}\n")
    (fix,) = plan_repository(repo, SETTINGS).fixes
    assert [t.stage for t in fix.result.analysis.targets] == ["prod"]


def test_a_context_file_committed_later_is_read_at_that_commit(repo: Path) -> None:
    (repo / "compose.yaml").unlink()
    commit_all(repo, "no compose")
    (fix,) = plan_repository(repo, SETTINGS).fixes
    assert fix.result.analysis.targets == ()  # nothing names a stage: the last one ships
    (older,) = plan_repository(repo, SETTINGS, base="HEAD~1").fixes
    assert [t.stage for t in older.result.analysis.targets] == ["prod"]


def test_the_commit_message_hands_over_each_writable_mount_with_its_command(repo: Path) -> None:
    message = render_commit_message(plan_repository(repo, SETTINGS))
    data_line = line_of(COMPOSE, "./data:/app/data")
    assert f"compose.yaml:{data_line}: service web, ./data -> /app/data" in message
    assert "sudo chown -R 10001:10001 ./data" in message
    cache = "docker compose run --rm --no-deps --user 0 --entrypoint chown web -R 10001:10001"
    assert f"{cache} /var/cache/app" in message
    # read-only, configuration and the Docker socket are read at most: nothing to hand over
    for left in ("./config", "nginx.conf", "docker.sock"):
        assert left not in message


def test_the_commit_message_names_low_ports_with_the_remedy(repo: Path) -> None:
    message = render_commit_message(plan_repository(repo, SETTINGS))
    # the container side is what the process binds: 443 is low, 8080 and 9000 are not
    assert f"compose.yaml:{line_of(COMPOSE, '8443:443')}: service web listens on 443/tcp" in message
    assert "listens on 8080" not in message and "listens on 9000" not in message
    assert "ip_unprivileged_port_start" in message
    assert "Docker Engine 20.10+" in message and "containerd 2.0+" in message


def test_the_commit_message_and_description_name_the_overrides(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS)
    where = f"compose.yaml:{line_of(COMPOSE, 'user: root')}"
    override = f"{where}: service worker runs as root (user: root)"
    assert [o.text for o in plan.overrides] == [override]
    message = render_commit_message(plan)
    assert "Run-time settings that undo this fix" in message
    assert f"- {override}" in message
    body = review.description(plan.fixes, "b", [o.text for o in plan.overrides])
    assert f"- `{override}`" in body
    assert "sudo chown -R 10001:10001 ./data" in body
    assert "`prod` (built by `compose.yaml:" in body


def test_a_name_without_a_known_uid_is_named_in_the_command(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r",
        {
            "Dockerfile": b'FROM debian:bookworm-slim\nCMD ["sleep", "1"]\n',
            "compose.yaml": "services:\n  a:\n    build: .\n    volumes: ['./d:/srv/d']\n",
        },
    )
    plan = plan_repository(root, SETTINGS.replace(user_format="name"))
    message = render_commit_message(plan)
    assert "sudo chown -R 10001 ./d" in message  # the group is kept: only the UID is known


def test_fix_commit_prints_the_overrides_and_commits_the_shipped_stage(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_commit([str(repo)], SETTINGS) == 0
    err = capsys.readouterr().err
    assert "service worker runs as root (user: root) (a USER in the image does not change" in err
    fixed = blob(repo, "fixuser/cis-4.1-non-root-user", "Dockerfile").decode()
    assert "USER 10001:10001" in fixed.split("FROM prod AS dev")[0]
    message = git(repo, "log", "-1", "--format=%B", "fixuser/cis-4.1-non-root-user")
    assert "sudo chown -R 10001:10001 ./data" in message


def test_context_lines_carry_notes_of_files_that_could_not_be_read(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r",
        {"Dockerfile": b"FROM debian:bookworm-slim\n", "compose.yaml": "services: [\n"},
    )
    lines = context_lines(plan_repository(root, SETTINGS))
    assert len(lines) == 1 and lines[0].startswith("warning: compose.yaml")


def test_batch_report_carries_targets_and_overrides(repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = ["batch", str(repo), "--dry-run", "--report", str(report)]
    assert main([*args, "--workdir", str(tmp_path / "cache")]) == 0
    (record,) = json.loads(report.read_text())["repositories"]
    where = line_of(COMPOSE, "user: root")
    assert record["overrides"] == [
        f"compose.yaml:{where}: service worker runs as root (user: root)"
    ]
    (f,) = record["files"]
    assert f["targets"] == [
        {"stage": "prod", "source": f"compose.yaml:{line_of(COMPOSE, 'target: prod')}"}
    ]
    markdown = report.with_suffix(".md").read_text()
    assert "**run-time overrides**" in markdown
    assert "  - ships: `prod` (compose.yaml:" in markdown


def test_batch_report_of_a_repository_without_context_has_no_targets(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"Dockerfile": b"FROM debian:bookworm-slim\n"})
    report = tmp_path / "report.json"
    main(
        ["batch", str(root), "--dry-run", "--report", str(report), "--workdir", str(tmp_path / "c")]
    )
    (record,) = json.loads(report.read_text())["repositories"]
    assert record["overrides"] == []
    assert "targets" not in record["files"][0]
