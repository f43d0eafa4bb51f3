"""Compose files: the Dockerfile and stage each service builds, the users and privileges that
override it at run time, its mounts and its low ports.

Most tests build a real directory tree and read it with ``discover_context``; line numbers
are found by looking for the line's text, so each one says which line it means.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixuser.model import Target
from fixuser.project.model import Mount, Port
from testing.context import DOCKERFILE, line, read, repo, where


def test_compose_build_paths_resolve_from_the_compose_files_directory(tmp_path: Path) -> None:
    files = {
        "deploy/docker-compose.prod.yml": """\
            services:
              api:
                build:
                  context: ..
                  dockerfile: docker/api.Dockerfile
              web:
                build: ../web
              inline:
                build:
                  context: .
                  dockerfile_inline: "FROM scratch"
              remote:
                build: https://github.com/example/app.git#main
        """,
    }
    context = repo(tmp_path, files)
    assert [(b.dockerfile, b.stage, b.via) for b in context.builders] == [
        ("docker/api.Dockerfile", None, "compose service api"),
        ("web/Dockerfile", None, "compose service web"),
    ]


def test_compose_interpolation_takes_defaults_and_notes_what_it_cannot_know(
    tmp_path: Path,
) -> None:
    files = {
        "compose.yml": """\
            services:
              app:
                build:
                  context: .
                  target: ${TARGET:-production}
              other:
                build:
                  context: ${CONTEXT}
        """,
        "Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    assert context.targets("Dockerfile") == [
        Target("production", where(files, "compose.yml", "target:"))
    ]
    assert [n.text for n in context.notes] == [
        "compose.yml:7: compose service other: a variable without a default in its build, skipped"
    ]


@pytest.mark.parametrize(
    "spelling",
    ["root", '"0"', "0", "0:0", '"0:0"', "root:root", "00", '"+0"', "0:1000", '"${RUN_AS:-0}"'],
)
def test_compose_user_root_in_any_spelling_is_an_override(spelling: str) -> None:
    # 0:0 unquoted is YAML 1.1's sexagesimal 0 to PyYAML but the string "0:0" to compose.
    context = read({"compose.yaml": f"services:\n  app:\n    user: {spelling}\n"})
    (override,) = context.overrides
    assert (override.rule, override.line) == ("FIXUSER-COMPOSE-ROOT", 3)


@pytest.mark.parametrize(
    "spelling", ["1000", "1000:0", "app", "ROOT", '"${UID}"', "10001:10001", "rootless"]
)
def test_compose_user_that_is_not_root_is_not_an_override(spelling: str) -> None:
    context = read({"compose.yaml": f"services:\n  app:\n    user: {spelling}\n"})
    assert context.overrides == ()


def test_compose_user_from_a_merged_anchor_is_found_where_it_is_written() -> None:
    text = "x-root: &root\n  user: root\nservices:\n  app:\n    <<: *root\n    image: app\n"
    (override,) = read({"compose.yaml": text}).overrides
    assert override.text == "compose.yaml:2: service app runs as root (user: root)"


def test_compose_privileged_false_is_no_override() -> None:
    text = "services:\n  app:\n    privileged: false\n"
    assert read({"compose.yaml": text}).overrides == ()


def test_compose_mounts_in_short_and_long_syntax(tmp_path: Path) -> None:
    files = {
        "deploy/compose.yaml": """\
            services:
              app:
                build: ..
                volumes:
                  - ./data:/app/data
                  - ../config:/etc/app:ro
                  - /srv/logs:/var/log/app
                  - cache:/var/cache/app
                  - /anonymous
                  - type: bind
                    source: ./uploads
                    target: /app/uploads
                    read_only: true
                  - type: volume
                    source: state
                    target: /var/lib/app
                  - type: tmpfs
                    target: /tmp
            volumes:
              cache:
              state:
        """,
    }
    context = repo(tmp_path, files)
    text = textwrap.dedent(files["deploy/compose.yaml"])
    rel = "deploy/compose.yaml"
    assert context.mounts("Dockerfile") == [
        Mount("app", "./data", "/app/data", "bind", rel, line(text, "./d"), False, "deploy/data"),
        Mount("app", "../config", "/etc/app", "bind", rel, line(text, "../c"), True, "config"),
        Mount("app", "/srv/logs", "/var/log/app", "bind", rel, line(text, "/srv/logs")),
        Mount("app", "cache", "/var/cache/app", "volume", rel, line(text, "- cache:")),
        Mount(
            "app", "./uploads", "/app/uploads", "bind", rel,
            line(text, "type: bind"), True, "deploy/uploads",
        ),
        Mount("app", "state", "/var/lib/app", "volume", rel, line(text, "type: volume")),
    ]  # fmt: skip


def test_compose_low_ports_are_the_container_side(tmp_path: Path) -> None:
    files = {
        "compose.yaml": """\
            services:
              app:
                build: .
                ports:
                  - "80"
                  - 8080:8080
                  - 22:22
                  - "127.0.0.1:8443:443"
                  - "[::1]:5353:53/udp"
                  - "80:8000"
                  - "1020-1025:1020-1025"
                  - target: 25
                    published: 2525
                  - target: 9000
                    published: 90
        """,
    }
    context = repo(tmp_path, files)
    text = textwrap.dedent(files["compose.yaml"])
    assert context.low_ports("Dockerfile") == [
        Port("app", 80, "compose.yaml", line(text, '"80"')),
        # unquoted 22:22 is 1342 to YAML 1.1 (PyYAML), "22:22" to compose (YAML 1.2)
        Port("app", 22, "compose.yaml", line(text, "22:22")),
        Port("app", 443, "compose.yaml", line(text, ":443")),
        Port("app", 53, "compose.yaml", line(text, ":53/udp"), "udp"),
        Port("app", 1020, "compose.yaml", line(text, "1020-1025")),
        Port("app", 1021, "compose.yaml", line(text, "1020-1025")),
        Port("app", 1022, "compose.yaml", line(text, "1020-1025")),
        Port("app", 1023, "compose.yaml", line(text, "1020-1025")),
        Port("app", 25, "compose.yaml", line(text, "target: 25")),
    ]


def test_bad_yaml_in_a_compose_file_is_a_note_not_a_crash(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  app:\n    build: .\n   user: root\n  - broken\n",
        "docker-compose.yml": "services:\n  ok:\n    build: ./ok\n",
        "ok/Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    (note,) = context.notes
    assert note.path == "compose.yaml" and note.line in (4, 5)
    assert note.message.startswith("not valid YAML, skipped:")
    assert context.targets("ok/Dockerfile") == [Target(None, "docker-compose.yml:3")]
