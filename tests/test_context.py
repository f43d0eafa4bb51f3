"""What a repository's context files say about its Dockerfiles: the stages that ship, the
run-time overrides that make a container root, and a service's mounts and low ports.

Every test builds a real directory tree and reads it with ``discover_context``; line numbers
are found by looking for the line's text, so each one says which line it means.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixuser.model import Target
from fixuser.project.context import discover_context, read_context, repository_root, untemplate
from fixuser.project.context import walk as context_walk
from fixuser.project.model import RULES, Mount, Port, RepoContext
from fixuser.tree.discover import ContextWalk
from fixuser.tree.discover import walk as discovery_walk
from tests.gitutil import git, isolate_git, write_files

DOCKERFILE = "FROM debian:bookworm-slim AS base\nFROM base AS prod\nFROM base AS debug\n"


def line(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based number of the line holding ``needle`` (its ``occurrence``-th)."""
    hits = [n for n, content in enumerate(text.splitlines(), 1) if needle in content]
    assert len(hits) >= occurrence, f"{needle!r} not in the text"
    return hits[occurrence - 1]


def repo(tmp_path: Path, files: dict[str, str]) -> RepoContext:
    write_files(tmp_path, {name: textwrap.dedent(text) for name, text in files.items()})
    return discover_context(tmp_path)


def where(files: dict[str, str], name: str, needle: str, occurrence: int = 1) -> str:
    return f"{name}:{line(textwrap.dedent(files[name]), needle, occurrence)}"


# --- a repository with every kind of context file --------------------------------------------

COMPOSE = """\
    services:
      web:
        build: ./services/web
        user: root
        ports:
          - "80:8080"
        volumes:
          - ./data:/app/data
      worker:
        build:
          context: services/worker
          dockerfile: worker.Dockerfile
          target: prod
        privileged: true
      db:
        image: postgres:16
        user: "0"
"""
WORKFLOW = """\
    on: push
    jobs:
      images:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: docker/build-push-action@v6
            with:
              context: services/web
              target: release
          - name: api
            run: |
              echo building
              docker build -f services/api/Dockerfile --target debug services/api
"""
DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
    spec:
      template:
        spec:
          securityContext:
            runAsNonRoot: true
          containers:
            - name: api
              image: api
              securityContext:
                runAsUser: 0
"""
HELM_DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: {{ include "chart.fullname" . }}
      labels:
        {{- include "chart.labels" . | nindent 4 }}
    spec:
      {{- if not .Values.autoscaling.enabled }}
      replicas: {{ .Values.replicaCount }}
      {{- end }}
      template:
        spec:
          containers:
            - name: {{ .Chart.Name }}
              image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default "1" }}"
              securityContext:
                privileged: true
"""
BAKE = """\
    # the images CI pushes
    group "default" {
      targets = ["api"]
    }
    target "api" {
      context = "services/api"
      target = "prod"
    }
"""
MAKEFILE = """\
    IMAGE ?= example/worker
    build:
    \tdocker build -t $(IMAGE) -f services/worker/worker.Dockerfile --target=test services/worker
"""
SKAFFOLD = """\
    apiVersion: skaffold/v4beta11
    kind: Config
    build:
      artifacts:
        - image: web
          context: services/web
          docker:
            target: dev
"""
EVERYTHING = {
    "compose.yaml": COMPOSE,
    ".github/workflows/images.yml": WORKFLOW,
    "k8s/deployment.yaml": DEPLOYMENT,
    "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    "chart/templates/deployment.yaml": HELM_DEPLOYMENT,
    "docker-bake.hcl": BAKE,
    "Makefile": MAKEFILE,
    "skaffold.yaml": SKAFFOLD,
    "services/web/Dockerfile": DOCKERFILE,
    "services/worker/worker.Dockerfile": DOCKERFILE,
    "services/api/Dockerfile": DOCKERFILE,
    "services/lonely/Dockerfile": DOCKERFILE,
}


@pytest.fixture
def everything(tmp_path: Path) -> RepoContext:
    return repo(tmp_path, EVERYTHING)


def test_every_kind_of_builder_names_its_stage_with_file_and_line(everything: RepoContext) -> None:
    f = EVERYTHING
    assert everything.targets("services/web/Dockerfile") == [
        Target("release", where(f, ".github/workflows/images.yml", "target: release")),
        Target(None, where(f, "compose.yaml", "build: ./services/web")),
        Target("dev", where(f, "skaffold.yaml", "target: dev")),
    ]
    assert everything.targets("services/worker/worker.Dockerfile") == [
        Target("test", where(f, "Makefile", "docker build")),
        Target("prod", where(f, "compose.yaml", "target: prod")),
    ]
    assert everything.targets("services/api/Dockerfile") == [
        Target("debug", where(f, ".github/workflows/images.yml", "docker build")),
        Target("prod", where(f, "docker-bake.hcl", 'target = "prod"')),
    ]


def test_a_dockerfile_nothing_builds_ships_its_last_stage(everything: RepoContext) -> None:
    assert everything.targets("services/lonely/Dockerfile") == [Target(None, "default")]
    assert everything.targets("no/such/Dockerfile") == [Target(None, "default")]


def test_paths_are_normalised_before_they_are_compared(everything: RepoContext) -> None:
    assert everything.targets("./services/api//Dockerfile") == everything.targets(
        "services/api/Dockerfile"
    )


def test_every_override_is_found_with_its_file_line_and_rule(everything: RepoContext) -> None:
    f = EVERYTHING
    found = {(o.rule, f"{o.path}:{o.line}", o.message) for o in everything.overrides}
    assert found == {
        (
            "FIXUSER-COMPOSE-ROOT",
            where(f, "compose.yaml", "user: root"),
            "service web runs as root (user: root)",
        ),
        (
            "FIXUSER-COMPOSE-ROOT",
            where(f, "compose.yaml", 'user: "0"'),
            "service db runs as root (user: 0)",
        ),
        (
            "FIXUSER-COMPOSE-PRIVILEGED",
            where(f, "compose.yaml", "privileged: true"),
            "service worker is privileged (privileged: true)",
        ),
        (
            "FIXUSER-K8S-ROOT",
            where(f, "k8s/deployment.yaml", "runAsUser: 0"),
            "Deployment api container api runs as root (runAsUser: 0)",
        ),
        (
            "FIXUSER-K8S-PRIVILEGED",
            where(f, "chart/templates/deployment.yaml", "privileged: true"),
            'Deployment {{ include "chart.fullname" . }} container {{ .Chart.Name }} is'
            " privileged (privileged: true)",
        ),
        (
            "FIXUSER-K8S-ESCALATION",
            where(f, "chart/templates/deployment.yaml", "securityContext:"),
            'Deployment {{ include "chart.fullname" . }} container {{ .Chart.Name }} may gain'
            " privileges (allowPrivilegeEscalation unset, runAsNonRoot not set)",
        ),
    }
    assert all(o.rule in RULES for o in everything.overrides)
    assert everything.notes == ()


def test_an_override_reads_as_file_line_message() -> None:
    context = read_context({"compose.yaml": "services:\n  worker:\n    user: root\n"})
    assert [o.text for o in context.overrides] == [
        "compose.yaml:3: service worker runs as root (user: root)"
    ]


def test_every_context_file_is_read(everything: RepoContext) -> None:
    assert set(everything.files) == {
        ".github/workflows/images.yml",
        "Makefile",
        "chart/templates/deployment.yaml",
        "compose.yaml",
        "docker-bake.hcl",
        "k8s/deployment.yaml",
        "skaffold.yaml",
    }


def test_a_services_mounts_and_low_ports_belong_to_the_dockerfile_it_builds(
    everything: RepoContext,
) -> None:
    f = EVERYTHING
    assert everything.mounts("services/web/Dockerfile") == [
        Mount(
            "web", "./data", "/app/data", "bind", "compose.yaml",
            line(textwrap.dedent(f["compose.yaml"]), "./data"), host_path="data",
        )
    ]  # fmt: skip
    assert everything.low_ports("services/web/Dockerfile") == []  # 8080 in the container
    assert everything.mounts("services/api/Dockerfile") == []
    (web,) = everything.services_for("services/web/Dockerfile")
    assert (web.name, web.user, web.dockerfile) == ("web", "root", "services/web/Dockerfile")


# --- compose ------------------------------------------------------------------------------------


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
    context = read_context({"compose.yaml": f"services:\n  app:\n    user: {spelling}\n"})
    (override,) = context.overrides
    assert (override.rule, override.line) == ("FIXUSER-COMPOSE-ROOT", 3)


@pytest.mark.parametrize(
    "spelling", ["1000", "1000:0", "app", "ROOT", '"${UID}"', "10001:10001", "rootless"]
)
def test_compose_user_that_is_not_root_is_not_an_override(spelling: str) -> None:
    context = read_context({"compose.yaml": f"services:\n  app:\n    user: {spelling}\n"})
    assert context.overrides == ()


def test_compose_user_from_a_merged_anchor_is_found_where_it_is_written() -> None:
    text = "x-root: &root\n  user: root\nservices:\n  app:\n    <<: *root\n    image: app\n"
    (override,) = read_context({"compose.yaml": text}).overrides
    assert override.text == "compose.yaml:2: service app runs as root (user: root)"


def test_compose_privileged_false_is_no_override() -> None:
    text = "services:\n  app:\n    privileged: false\n"
    assert read_context({"compose.yaml": text}).overrides == ()


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


# --- Kubernetes -------------------------------------------------------------------------------

POD_SPECS = {
    "Pod": "spec:\n  {pod}",
    "Deployment": "spec:\n  template:\n    spec:\n      {pod}",
    "StatefulSet": "spec:\n  template:\n    spec:\n      {pod}",
    "DaemonSet": "spec:\n  template:\n    spec:\n      {pod}",
    "Job": "spec:\n  template:\n    spec:\n      {pod}",
    "CronJob": "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          {pod}",
}


def manifest(kind: str, pod: str) -> str:
    """A workload whose pod spec is ``pod`` (YAML lines, indented for the kind)."""
    head = f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: w\n"
    template = POD_SPECS[kind]
    indent = " " * (len(template.rsplit("\n", 1)[1]) - len("{pod}"))
    body = textwrap.indent(textwrap.dedent(pod), indent).lstrip()
    return head + template.replace("{pod}", body) + "\n"


SAFE = """\
    containers:
      - name: app
        image: app
        securityContext:
          allowPrivilegeEscalation: false
"""


@pytest.mark.parametrize("kind", sorted(POD_SPECS))
def test_each_workload_kind_has_its_pod_spec_read(kind: str) -> None:
    pod = """\
        containers:
          - name: app
            image: app
            securityContext:
              runAsUser: 0
              allowPrivilegeEscalation: false
    """
    text = manifest(kind, pod)
    (override,) = read_context({"k8s/w.yaml": text}).overrides
    assert override.rule == "FIXUSER-K8S-ROOT"
    assert override.line == line(text, "runAsUser: 0")
    assert override.message == f"{kind} w container app runs as root (runAsUser: 0)"


@pytest.mark.parametrize("kind", sorted(POD_SPECS))
def test_a_safe_pod_of_each_kind_has_no_override(kind: str) -> None:
    assert read_context({"w.yaml": manifest(kind, SAFE)}).overrides == ()


def test_pod_level_run_as_user_0_is_found_unless_every_container_overrides_it() -> None:
    pod = """\
        securityContext:
          runAsUser: 0
        initContainers:
          - name: init
            image: busybox
            securityContext:
              allowPrivilegeEscalation: false
        containers:
          - name: app
            image: app
            securityContext:
              runAsUser: 1000
              allowPrivilegeEscalation: false
    """
    text = manifest("Deployment", pod)
    (override,) = read_context({"w.yaml": text}).overrides
    assert override.line == line(text, "runAsUser: 0")
    assert override.message == (
        "Deployment w runs as root (pod securityContext runAsUser: 0; containers init)"
    )
    overridden = manifest(
        "Pod",
        """\
        securityContext:
          runAsUser: 0
          runAsNonRoot: true
        containers:
          - name: app
            image: app
            securityContext:
              runAsUser: 1000
    """,
    )
    assert read_context({"w.yaml": overridden}).overrides == ()


def test_privileged_container_is_an_override() -> None:
    pod = """\
        containers:
          - name: app
            image: app
            securityContext:
              privileged: true
              allowPrivilegeEscalation: false
    """
    text = manifest("DaemonSet", pod)
    (override,) = read_context({"w.yaml": text}).overrides
    assert override.text == f"w.yaml:{line(text, 'privileged')}: DaemonSet w container app is" + (
        " privileged (privileged: true)"
    )


@pytest.mark.parametrize(
    ("pod", "needle"),
    [
        ("containers:\n  - name: app\n    image: app\n", "- name: app"),
        (
            "containers:\n  - name: app\n    securityContext:\n"
            "      readOnlyRootFilesystem: true\n",
            "securityContext:",
        ),
        (
            "containers:\n  - name: app\n    securityContext:\n"
            "      allowPrivilegeEscalation: true\n",
            "allowPrivilegeEscalation",
        ),
        (
            "securityContext:\n  runAsNonRoot: true\ncontainers:\n  - name: app\n"
            "    securityContext:\n      runAsNonRoot: false\n",
            "securityContext:\n",
        ),
    ],
    ids=["nothing-set", "security-context-without-either", "escalation-true", "non-root-false"],
)
def test_escalation_left_on_without_run_as_non_root_is_an_override(pod: str, needle: str) -> None:
    text = manifest("Pod", pod)
    (override,) = read_context({"w.yaml": text}).overrides
    assert override.rule == "FIXUSER-K8S-ESCALATION"
    expected = line(text, needle.strip(), 2) if needle.endswith("\n") else line(text, needle)
    assert override.line == expected
    assert "may gain privileges" in override.message


@pytest.mark.parametrize(
    "pod",
    [
        "containers:\n  - name: app\n    securityContext:\n      allowPrivilegeEscalation: false\n",
        "securityContext:\n  runAsNonRoot: true\ncontainers:\n  - name: app\n",
        "containers:\n  - name: app\n    securityContext:\n      runAsNonRoot: true\n",
    ],
    ids=["escalation-false", "pod-non-root", "container-non-root"],
)
def test_escalation_is_no_override_when_either_setting_guards_it(pod: str) -> None:
    assert read_context({"w.yaml": manifest("Pod", pod)}).overrides == ()


def test_only_workloads_are_read_and_every_document_of_a_file() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  runAsUser: '0'\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  containers: []\n"
        "---\n" + manifest("Job", "containers:\n  - name: j\n    securityContext:\n"
        "      runAsUser: 0\n      allowPrivilegeEscalation: false\n")
    )  # fmt: skip
    (override,) = read_context({"all.yaml": text}).overrides
    assert override.line == line(text, "runAsUser: 0")
    assert override.message.startswith("Job w container j")


def test_yaml_that_is_not_a_manifest_is_never_parsed(tmp_path: Path) -> None:
    # A broken YAML file that no workload is in says nothing, and costs no parse.
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    context = repo(tmp_path, {".pre-commit-config.yaml": "repos: [\n", "openapi.yml": "a: b\n"})
    assert context.notes == () and context.files == ()
    assert read_context({"openapi.yaml": "paths: [\n"}) == RepoContext()


def test_a_compose_file_that_is_not_text_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(b"services:\n  caf\xe9: {}\n")
    assert [n.text for n in discover_context(tmp_path).notes] == [
        "compose.yaml: not UTF-8 text, skipped"
    ]


# --- Helm ---------------------------------------------------------------------------------------


def test_a_helm_template_is_read_line_for_line() -> None:
    text, templated = untemplate(textwrap.dedent(HELM_DEPLOYMENT))
    original = textwrap.dedent(HELM_DEPLOYMENT)
    assert text.count("\n") == original.count("\n")
    lines = text.split("\n")
    assert lines[line(original, "nindent 4") - 1] == ""  # an action alone on its line
    assert lines[line(original, "replicas") - 1].startswith("  replicas: HELM_TEMPLATE_")
    assert line(original, "nindent 4") in templated.lines  # include injects YAML there
    assert line(original, "if not") not in templated.lines


def test_a_helm_security_context_filled_in_from_values_is_unknown_not_absent(
    tmp_path: Path,
) -> None:
    files = {
        "charts/app/Chart.yaml": "name: app\n",
        "charts/app/templates/deployment.yaml": """\
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
            spec:
              template:
                spec:
                  securityContext:
                    {{- toYaml .Values.podSecurityContext | nindent 8 }}
                  containers:
                    - name: app
                      securityContext:
                        {{- toYaml .Values.securityContext | nindent 12 }}
                    - name: sidecar
                      {{- include "app.sidecarSecurity" . | nindent 10 }}
                    - name: root
                      securityContext: {{ toYaml .Values.rootContext | nindent 12 }}
                      {{- if .Values.debug }}
                    - name: debug
                      securityContext:
                        runAsUser: {{ .Values.debugUser }}
                      {{- end }}
        """,
    }
    context = repo(tmp_path, files)
    assert context.overrides == () and context.notes == ()
    assert context.files == ("charts/app/templates/deployment.yaml",)


def test_a_helm_pod_user_0_is_not_blamed_on_a_container_whose_context_is_templated(
    tmp_path: Path,
) -> None:
    files = {
        "chart/Chart.yaml": "name: chart\n",
        "chart/templates/pod.yaml": """\
            apiVersion: v1
            kind: Pod
            metadata:
              name: p
            spec:
              securityContext:
                runAsUser: 0
                runAsNonRoot: true
              containers:
                - name: templated
                  securityContext:
                    {{- toYaml .Values.securityContext | nindent 12 }}
                - name: plain
                  image: x
        """,
    }
    context = repo(tmp_path, files)
    assert [o.message for o in context.overrides] == [
        "Pod p runs as root (pod securityContext runAsUser: 0; containers plain)"
    ]


def test_a_helm_template_that_still_does_not_parse_is_skipped_with_a_note(tmp_path: Path) -> None:
    files = {
        "chart/Chart.yaml": "name: chart\n",
        "chart/templates/broken.yaml": """\
            apiVersion: v1
            kind: Pod
            metadata:
              name: p
            spec:
              containers:
              {{ range .Values.containers }}
                - name: {{ .name }}
              - {{ . }}: [
        """,
        "chart/templates/_helpers.tpl": '{{- define "x" -}}\n{{- end }}\n',
        "chart/templates/NOTES.txt": "Thanks for installing",
        "chart/templates/pod.yaml": manifest("Pod", "containers:\n  - name: a\n"),
    }
    context = repo(tmp_path, files)
    (note,) = context.notes
    assert note.path == "chart/templates/broken.yaml"
    assert note.message.startswith("not valid YAML (a Helm template, after its template actions")
    (override,) = context.overrides
    assert override.path == "chart/templates/pod.yaml"


def test_a_yaml_file_with_template_actions_outside_a_chart_is_noted_not_crashed(
    tmp_path: Path,
) -> None:
    text = "kind: Deployment\nspec:\n  replicas: {{ .Values.n }}\n  x: {{ end }\n"
    context = repo(tmp_path, {"k8s/deploy.yaml": text})
    assert [n.path for n in context.notes] == ["k8s/deploy.yaml"]


# --- CI and build scripts -----------------------------------------------------------------------


def test_build_push_action_defaults_and_matrix(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yaml": """\
            jobs:
              default:
                steps:
                  - uses: docker/build-push-action@v6
              files:
                strategy:
                  matrix:
                    stage: [prod, debug]
                    include:
                      - stage: prod
                        dockerfile: docker/prod.Dockerfile
                      - stage: debug
                        dockerfile: docker/debug.Dockerfile
                steps:
                  - uses: docker/build-push-action@v6
                    with:
                      context: .
                      file: ${{ matrix.dockerfile }}
                      target: ${{ matrix.stage }}
                  - uses: docker/build-push-action@v6
                    with:
                      context: ${{ github.workspace }}/app
                  - uses: docker/build-push-action@v6
                    with:
                      file: ${{ steps.meta.outputs.file }}
                  - uses: docker/build-push-action@v6
                    with:
                      context: "{{defaultContext}}:app"
                      target: git-context
                  - uses: docker/build-push-action@v6
                    with:
                      context: ../elsewhere
        """,
        **{
            name: DOCKERFILE
            for name in (
                "Dockerfile",
                "docker/prod.Dockerfile",
                "docker/debug.Dockerfile",
                "app/Dockerfile",
            )
        },
    }
    context = repo(tmp_path, files)
    ci = ".github/workflows/ci.yaml"
    assert context.targets("Dockerfile") == [Target(None, where(files, ci, "- uses:"))]
    assert context.targets("docker/prod.Dockerfile") == [
        Target("prod", where(files, ci, "target: ${{ matrix.stage }}"))
    ]
    assert context.targets("docker/debug.Dockerfile") == [
        Target("debug", where(files, ci, "target: ${{ matrix.stage }}"))
    ]
    assert context.targets("app/Dockerfile") == [
        Target(None, where(files, ci, "- uses:", 3)),
        Target("git-context", where(files, ci, "target: git-context")),
    ]
    assert [n.text for n in context.notes] == [
        f"{where(files, ci, '- uses:', 4)}: docker/build-push-action: an expression fixuser"
        " cannot evaluate",
        f"{where(files, ci, '- uses:', 6)}: docker/build-push-action builds outside the repository",
    ]


def test_run_steps_follow_working_directory_and_cd(tmp_path: Path) -> None:
    files = {
        ".github/workflows/build.yml": """\
            defaults:
              run:
                working-directory: services
            jobs:
              build:
                steps:
                  - run: docker build --file api/Dockerfile --target=prod api
                  - working-directory: services/web
                    run: |
                      set -e
                      DOCKER_BUILDKIT=1 docker buildx build \\
                        --platform linux/amd64,linux/arm64 \\
                        --build-arg VERSION=1 -t web:latest --target test .
                  - run: >-
                      cd ../tools && podman build -f Containerfile.ci .
                  - run: buildah bud -t x --target=stage -f ./Containerfile ctx
                  - run: docker build -f "$DOCKERFILE" .
        """,
        "services/api/Dockerfile": DOCKERFILE,
        "services/web/Dockerfile": DOCKERFILE,
        "tools/Containerfile.ci": DOCKERFILE,
        "services/Containerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    wf = ".github/workflows/build.yml"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("services/api/Dockerfile", "prod", where(files, wf, "--file api")),
        ("services/web/Dockerfile", "test", where(files, wf, "docker buildx build")),
        ("tools/Containerfile.ci", None, where(files, wf, "cd ../tools")),
        ("services/Containerfile", "stage", where(files, wf, "buildah bud")),
    ]
    assert [n.line for n in context.notes] == [line(textwrap.dedent(files[wf]), "$DOCKERFILE")]


def test_gitlab_scripts_and_kaniko(tmp_path: Path) -> None:
    files = {
        ".gitlab-ci.yml": """\
            variables:
              DOCKERFILE: build/ci.Dockerfile
            stages: [build]
            image-docker:
              stage: build
              script:
                - docker build -f $DOCKERFILE --target ci .
                - - cd app
                  - docker build --target release .
            image-kaniko:
              script:
                - /kaniko/executor --context "${CI_PROJECT_DIR}/svc"
                  --dockerfile "${CI_PROJECT_DIR}/svc/Dockerfile" --target=kaniko
                  --destination "${CI_REGISTRY_IMAGE}:latest"
        """,
    }
    context = repo(tmp_path, files)
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("build/ci.Dockerfile", "ci", where(files, ".gitlab-ci.yml", "$DOCKERFILE --target")),
        ("app/Dockerfile", "release", where(files, ".gitlab-ci.yml", "--target release")),
        ("svc/Dockerfile", "kaniko", where(files, ".gitlab-ci.yml", "/kaniko/executor")),
    ]


def test_makefile_variables_continuations_and_its_own_directory(tmp_path: Path) -> None:
    files = {
        "images/Makefile": """\
            ENGINE := docker
            FILE = $(DIR)/Dockerfile
            DIR = api
            STAGE ?= prod
            STAGE ?= ignored
            .PHONY: build
            build:
            \t@$(ENGINE) build \\
            \t\t--target $(STAGE) \\
            \t\t-f $(FILE) .
            test:
            \tcd $(DIR) && $(ENGINE) build --target test .
            \t$(ENGINE) build --target beside .
            shell:
            \t$(ENGINE) build -f $(shell find . -name Dockerfile) .
        """,
        "justfile": """\
            stage := "dev"
            build:
                docker build --target {{stage}} -f images/api/Dockerfile images/api
            release version:
                docker build --target {{version}} .
        """,
        "images/api/Dockerfile": DOCKERFILE,
        "images/Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    mk = "images/Makefile"
    # each recipe line is a shell of its own: the cd above it is gone
    assert context.targets("images/Dockerfile") == [Target("beside", where(files, mk, "beside"))]
    assert context.targets("images/api/Dockerfile") == [
        Target("prod", where(files, mk, "build \\")),
        Target("test", where(files, mk, "cd $(DIR)")),
        Target("dev", where(files, "justfile", "{{stage}}")),
    ]
    assert [n.line for n in context.notes] == [
        line(textwrap.dedent(files[mk]), "$(shell"),
        line(textwrap.dedent(files["justfile"]), "{{version}}"),
    ]


def test_skaffold_artifacts_and_profiles(tmp_path: Path) -> None:
    files = {
        "deploy/skaffold.yaml": """\
            apiVersion: skaffold/v4beta11
            kind: Config
            build:
              artifacts:
                - image: api
                  context: ../api
                  docker:
                    dockerfile: docker/Dockerfile.prod
                    target: runtime
                - image: jib-app
                  jib: {}
            profiles:
              - name: dev
                build:
                  artifacts:
                    - image: api
                      context: ../api
        """,
    }
    context = repo(tmp_path, files)
    sk = "deploy/skaffold.yaml"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("api/docker/Dockerfile.prod", "runtime", where(files, sk, "target: runtime")),
        ("api/Dockerfile", None, where(files, sk, "- image: api", 2)),
    ]


def test_bake_inheritance_templates_groups_and_variables(tmp_path: Path) -> None:
    files = {
        "docker-bake.hcl": """\
            variable "STAGE" {
              default = "release"
            }
            // a template other targets inherit from, never built by itself
            target "_common" {
              context = "src"
              args = {
                VERSION = "1.0" # a map is not a build setting
              }
            }
            target "app" {
              inherits = ["_common"]
              dockerfile = "app.Dockerfile"
              target = "${STAGE}"
            }
            /* a block comment
               target "commented" { context = "nope" } */
            target "base" { context = "base" }
            target "child" {
              inherits = ["base"]
              target = "child"
              labels = {
                "org.opencontainers.image.description" = <<EOT
            A heredoc with "quotes" and braces }
            EOT
              }
            }
            target "tagged" {
              context = "tagged"
              tags = ["${REGISTRY}/x"]
              target = "${UNKNOWN}"
            }
            group "default" {
              targets = ["app", "base", "child", "tagged"]
            }
        """,
        "docker-bake.json": """\
            {
              "target": {
                "json": {
                  "context": "json",
                  "target": "from-json"
                }
              }
            }
        """,
        **{f"{d}/Dockerfile": DOCKERFILE for d in ("base", "json", "tagged")},
        "src/app.Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    bake = "docker-bake.hcl"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("src/app.Dockerfile", "release", where(files, bake, 'target = "${STAGE}"')),
        ("base/Dockerfile", None, where(files, bake, 'target "base"')),
        ("base/Dockerfile", "child", where(files, bake, 'target = "child"')),
        ("json/Dockerfile", "from-json", where(files, "docker-bake.json", '"target": "from')),
    ]
    assert [n.line for n in context.notes] == [line(textwrap.dedent(files[bake]), "${UNKNOWN}")]


# --- the walk -------------------------------------------------------------------------------------


def test_skipped_directories_are_never_read(tmp_path: Path) -> None:
    compose = "services:\n  app:\n    user: root\n"
    files = {f"{d}/compose.yaml": compose for d in ("node_modules/x", "vendor", ".git", ".venv")}
    context = repo(tmp_path, {**files, "ok/compose.yaml": compose})
    assert [o.path for o in context.overrides] == ["ok/compose.yaml"]


def test_gitignored_context_files_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    compose = "services:\n  app:\n    user: root\n"
    context = repo(
        root,
        {
            ".gitignore": "generated/\n*.local.yml\n",
            "generated/compose.yaml": compose,
            "docker-compose.local.yml": compose,
            "compose.yaml": compose,
        },
    )
    assert [o.path for o in context.overrides] == ["compose.yaml"]


def test_a_symlinked_directory_is_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"compose.yaml": "services:\n  app:\n    user: root\n"})
    root = tmp_path / "repo"
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert discover_context(root) == RepoContext()


def test_discovery_collects_what_the_context_walk_finds(tmp_path: Path) -> None:
    """fixuser.tree.discover.walk, given a place for them, gathers the context files of the tree it
    walks for Dockerfiles, so a check does not walk the repository twice: the same files and
    symlinks as fixuser.project.context.walk, tool caches and skipped directories left out."""
    compose = "services:\n  app:\n    user: root\n"
    write_files(
        tmp_path,
        {
            "compose.yaml": compose,
            "svc/api/Dockerfile": DOCKERFILE,
            "svc/api/docker-compose.prod.yml": compose,
            "deploy/k8s/deployment.yaml": "kind: Deployment\n",
            ".github/workflows/build.yml": "on: push\n",
            "Makefile": "all:\n",
            ".mypy_cache/compose.yaml": compose,
            ".cache/deep/compose.yaml": compose,
            ".cache/deep/Dockerfile": DOCKERFILE,
            "node_modules/x/compose.yaml": compose,
            "vendor/Dockerfile": DOCKERFILE,
        },
    )
    (tmp_path / "linked.yaml").symlink_to(tmp_path / "compose.yaml")
    (tmp_path / "dir-link").symlink_to(tmp_path / "svc", target_is_directory=True)
    gathered: ContextWalk = ([], [])
    found = discovery_walk(str(tmp_path), gathered)
    assert sorted(gathered[0]) == context_walk(str(tmp_path))[0]
    assert sorted(gathered[1]) == sorted(context_walk(str(tmp_path))[1]) == ["linked.yaml"]
    assert ".cache/deep/compose.yaml" not in gathered[0]
    # and the Dockerfiles it finds are those it finds without gathering
    assert found == discovery_walk(str(tmp_path))
    assert any(path.endswith(".cache/deep/Dockerfile") for path, _ in found)
    assert discover_context(tmp_path, gathered) == discover_context(tmp_path)


def test_builders_of_missing_dockerfiles_are_noted(tmp_path: Path) -> None:
    context = repo(tmp_path, {"compose.yaml": "services:\n  app:\n    build: ./gone\n"})
    assert [n.text for n in context.notes] == [
        "compose.yaml:3: compose service app builds gone/Dockerfile, which is not in the repository"
    ]


def test_repository_root_is_the_nearest_directory_with_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "svc" / "api").mkdir(parents=True)
    dockerfile = tmp_path / "repo" / "svc" / "api" / "Dockerfile"
    dockerfile.write_text(DOCKERFILE)
    assert repository_root(dockerfile) == tmp_path / "repo"
    assert repository_root(tmp_path / "repo" / "svc") == tmp_path / "repo"
    loose = tmp_path / "loose"
    loose.mkdir()
    if not any((p / ".git").exists() for p in tmp_path.parents):
        assert repository_root(loose) == loose
        assert repository_root(loose, default=tmp_path) == tmp_path


def imports_yaml(root: Path) -> bool:
    code = (
        "import sys; from pathlib import Path;"
        " from fixuser.project.context import discover_context;"
        f" discover_context(Path({str(root)!r})); print('yaml' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.strip() == "True"


def test_a_tree_without_context_files_never_imports_yaml(tmp_path: Path) -> None:
    write_files(tmp_path, {f"svc{n}/Dockerfile": DOCKERFILE for n in range(5)})
    write_files(tmp_path, {"README.md": "# x\n", "Makefile.txt": "no\n"})
    assert not imports_yaml(tmp_path)
    write_files(tmp_path, {"svc0/compose.yaml": "services: {}\n"})
    assert imports_yaml(tmp_path)
