"""Kubernetes manifests and Helm templates: the containers that run as root, are privileged,
or may gain privileges, each with its file and line.

A Helm template is read as the YAML it renders to, line for line (``untemplate``): what a
template action fills in is unknown, not absent, so a field it may set is never blamed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from fixuser.project.model import Found
from fixuser.project.yaml import (
    FALSE,
    TRUE,
    entries,
    get,
    is_mapping,
    is_scalar,
    items,
    line_of,
    load_yaml,
    scalar,
)

if TYPE_CHECKING:
    from yaml.nodes import Node


# Kubernetes workloads and where each keeps its pod spec.
POD_SPECS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# A file is parsed as a manifest only when its text has "kind:" and one of these: most YAML in
# a repository (CI, linters, OpenAPI) is then never parsed at all.
MANIFEST_MARKS = tuple(POD_SPECS)
MANIFEST_MARKS_BYTES = tuple(mark.encode() for mark in MANIFEST_MARKS)


def looks_like_manifest(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return b"kind:" in text and any(mark in text for mark in MANIFEST_MARKS_BYTES)
    return "kind:" in text and any(mark in text for mark in MANIFEST_MARKS)


def is_zero(text: str) -> bool:
    try:
        return int(text.replace("_", ""), 0 if text.lower().startswith(("0x", "0o")) else 10) == 0
    except ValueError:
        return False


class Security(NamedTuple):
    """A securityContext: its fields, and whether what is absent is known to be absent (a Helm
    template that fills it in from values makes it unknown)."""

    fields: dict[str, tuple[Node, Node]]
    known: bool
    key: Node | None  # the securityContext key, for a line


class Templated(NamedTuple):
    """What removing a Helm template's actions left: the 1-based lines where an action injected
    YAML of its own (include, toYaml, tpl), and each placeholder's action as written."""

    lines: frozenset[int]
    actions: Mapping[str, str]

    def within(self, node: Node) -> bool:
        start, end = line_of(node), int(node.end_mark.line) + 1
        return any(start < line <= end for line in self.lines)

    def show(self, text: str) -> str:
        """A value as the template wrote it: each placeholder back to its ``{{ ... }}``."""
        if PLACEHOLDER not in text:
            return text
        return PLACEHOLDER_RE.sub(lambda match: self.actions.get(match.group(), "{{ }}"), text)


NOT_TEMPLATED = Templated(frozenset(), {})


def security(entry: tuple[Node, Node] | None, owner: Node, templated: Templated) -> Security:
    if entry is None:
        return Security({}, not templated.within(owner), None)
    key, value = entry
    if is_mapping(value):
        return Security(entries(value), True, key)
    if scalar(value) is None and is_scalar(value):  # null: filled in on the next lines?
        return Security({}, line_of(key) + 1 not in templated.lines, key)
    return Security({}, False, key)  # a template placeholder


def field_text(sc: Security, name: str) -> tuple[str | None, Node | None]:
    entry = sc.fields.get(name)
    return (scalar(entry[1]), entry[1]) if entry else (None, None)


def read_manifest(path: str, text: str, found: Found, templated: Templated | None = None) -> None:
    """Each workload of a manifest; ``templated`` for a Helm template after ``untemplate``."""
    what = "YAML"
    if templated is not None:
        what = "YAML (a Helm template, after its template actions were removed)"
    helm = templated if templated is not None else NOT_TEMPLATED
    for document in load_yaml(path, text, found, what):
        kind = scalar(get(document, "kind"))
        spec_path = POD_SPECS.get(kind or "")
        if kind is None or spec_path is None:
            continue
        pod = get(document, *spec_path)
        if pod is None or not is_mapping(pod):
            continue
        name = scalar(get(document, "metadata", "name")) or "?"
        check_pod(path, f"{kind} {helm.show(name)}", pod, found, helm)


def check_pod(path: str, workload: str, pod: Node, found: Found, templated: Templated) -> None:
    spec = entries(pod)
    pod_sc = security(spec.get("securityContext"), pod, templated)
    pod_user, pod_user_node = field_text(pod_sc, "runAsUser")
    pod_non_root, _ = field_text(pod_sc, "runAsNonRoot")
    inheriting: list[str] = []
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(items(get(pod, list_name))):
            if not is_mapping(container):
                continue
            fields = entries(container)
            cname = scalar(get(container, "name")) or f"{list_name}[{index}]"
            who = f"{workload} container {templated.show(cname)}"
            sc = security(fields.get("securityContext"), container, templated)
            user, user_node = field_text(sc, "runAsUser")
            if user_node is not None:
                if user is not None and is_zero(user):
                    found.override(
                        path,
                        line_of(user_node),
                        "FIXUSER-K8S-ROOT",
                        f"{who} runs as root (runAsUser: {user})",
                        line_of(container),
                    )
            elif sc.known:
                inheriting.append(cname)
            privileged, privileged_node = field_text(sc, "privileged")
            if privileged in TRUE and privileged_node is not None:
                found.override(
                    path,
                    line_of(privileged_node),
                    "FIXUSER-K8S-PRIVILEGED",
                    f"{who} is privileged (privileged: true)",
                    line_of(container),
                )
            escalation(path, who, container, sc, pod_sc, pod_non_root, found)
    if pod_user is not None and pod_user_node is not None and is_zero(pod_user) and inheriting:
        found.override(
            path,
            line_of(pod_user_node),
            "FIXUSER-K8S-ROOT",
            f"{workload} runs as root (pod securityContext runAsUser: {pod_user};"
            f" containers {', '.join(map(templated.show, inheriting))})",
        )


def escalation(
    path: str,
    who: str,
    container: Node,
    sc: Security,
    pod_sc: Security,
    pod_non_root: str | None,
    found: Found,
) -> None:
    """allowPrivilegeEscalation true or absent (absent is true), with runAsNonRoot set by
    neither the container nor the pod."""
    allowed, allowed_node = field_text(sc, "allowPrivilegeEscalation")
    if allowed in FALSE:
        return
    if (allowed_node is None and not sc.known) or (allowed_node is not None and allowed is None):
        return  # filled in by a template, or a template placeholder
    non_root, non_root_node = field_text(sc, "runAsNonRoot")
    if non_root_node is None:
        if not sc.known or (pod_non_root is None and not pod_sc.known):
            return
        non_root = pod_non_root
    if non_root in TRUE:
        return
    if non_root_node is not None and non_root is None:
        return  # a template placeholder
    said = (
        "allowPrivilegeEscalation: true"
        if allowed_node is not None
        else "allowPrivilegeEscalation unset"
    )
    where = allowed_node or sc.key or container
    found.override(
        path,
        line_of(where),
        "FIXUSER-K8S-ESCALATION",
        f"{who} may gain privileges ({said}, runAsNonRoot not set)",
        line_of(container),
    )


# A placeholder is a plain scalar wherever it lands (a key, a value, inside quotes).
PLACEHOLDER = "HELM_TEMPLATE_"
PLACEHOLDER_RE = re.compile(PLACEHOLDER + r"[0-9]+_")
INJECTING = ("include", "toYaml", "tpl", "template")


def untemplate(text: str) -> tuple[str, Templated]:
    """A Helm template as YAML, line for line: a line that holds nothing but template actions
    (``{{- if ... }}``, ``{{- toYaml .Values.x | nindent 8 }}``) becomes blank, so both
    branches of an ``if`` stay; an action among other text becomes a placeholder. The lines
    whose action injected YAML of its own are kept, so fields absent there are unknown, not
    absent."""
    out: list[str] = []
    injected: set[int] = set()
    actions: dict[str, str] = {}
    spanning: tuple[int, list[str]] | None = None  # an action over several lines: from, text
    for number, line in enumerate(text.split("\n"), 1):
        if spanning is not None:
            close = line.find("}}")
            if close < 0:
                spanning[1].append(line)
                out.append("")
                continue
            if any(word in "".join([*spanning[1], line[:close]]) for word in INJECTING):
                injected.add(spanning[0])
            line, spanning = " " * (close + 2) + line[close + 2 :], None
        pieces: list[str] = []
        here: list[str] = []
        position = 0
        while (start := line.find("{{", position)) >= 0:
            pieces.append(line[position:start])
            end = line.find("}}", start + 2)
            if end < 0:
                spanning = (number, [line[start + 2 :]])
                break
            here.append(line[start + 2 : end])
            placeholder = f"{PLACEHOLDER}{len(actions)}_"
            actions[placeholder] = line[start : end + 2]
            pieces.append(placeholder)
            position = end + 2
        else:
            pieces.append(line[position:])
        rest = "".join(pieces)
        if (here or spanning is not None) and not PLACEHOLDER_RE.sub("", rest).strip():
            out.append("")
            if any(word in action for action in here for word in INJECTING):
                injected.add(number)
        else:
            out.append(rest)
    return "\n".join(out), Templated(frozenset(injected), actions)


def read_helm(path: str, text: str, found: Found) -> None:
    yaml_text, templated = untemplate(text)
    if not looks_like_manifest(yaml_text):
        return
    read_manifest(path, yaml_text, found, templated)
