"""Kubernetes manifests and Helm templates: the containers that run as root, are privileged or
may gain privileges, each with its file and line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixuser.project.kubernetes import untemplate
from testing.context import HELM_DEPLOYMENT, line, read, repo

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
    (override,) = read({"k8s/w.yaml": text}).overrides
    assert override.rule == "FIXUSER-K8S-ROOT"
    assert override.line == line(text, "runAsUser: 0")
    assert override.message == f"{kind} w container app runs as root (runAsUser: 0)"


@pytest.mark.parametrize("kind", sorted(POD_SPECS))
def test_a_safe_pod_of_each_kind_has_no_override(kind: str) -> None:
    assert read({"w.yaml": manifest(kind, SAFE)}).overrides == ()


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
    (override,) = read({"w.yaml": text}).overrides
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
    assert read({"w.yaml": overridden}).overrides == ()


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
    (override,) = read({"w.yaml": text}).overrides
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
    (override,) = read({"w.yaml": text}).overrides
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
    assert read({"w.yaml": manifest("Pod", pod)}).overrides == ()


def test_only_workloads_are_read_and_every_document_of_a_file() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  runAsUser: '0'\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  containers: []\n"
        "---\n" + manifest("Job", "containers:\n  - name: j\n    securityContext:\n"
        "      runAsUser: 0\n      allowPrivilegeEscalation: false\n")
    )  # fmt: skip
    (override,) = read({"all.yaml": text}).overrides
    assert override.line == line(text, "runAsUser: 0")
    assert override.message.startswith("Job w container j")


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
