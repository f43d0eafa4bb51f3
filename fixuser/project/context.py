"""What a repository's other files say about its Dockerfiles (issue 11).

Compose files, bake files, CI workflows, Makefiles, justfiles and skaffold configs name the
Dockerfiles they build and the stage (``--target``) of each: those stages ship, so those are
the stages that must not run as root. Compose files and Kubernetes manifests (Helm templates
too) can override at run time the user an image runs as (``user: root``, ``runAsUser: 0``,
``privileged``): findings of their own, with file and line. A compose service's bind mounts and
low ports are what a non-root user trips over, so a caller can say what to chown.

``discover_context(root)`` does the I/O: one directory walk matching names only, so a tree
without such files costs a walk and nothing more (PyYAML is imported only when a YAML file is
read). ``read_context(texts)`` is the pure rest: texts by repository-relative path in, a
``RepoContext`` out. YAML is read with PyYAML's composer, whose nodes carry line marks, and its
scalars are taken as written: compose reads YAML 1.2, where ``22:22`` and ``0:0`` are strings,
not PyYAML's YAML 1.1 sexagesimal integers. Shell lines and HCL are read by small tolerant
scanners (``fixuser.project.buildcmd``), which is all the simple shapes need.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fixuser.project import buildcmd
from fixuser.project.model import Found, Mount, Note, Port, RepoContext, Service
from fixuser.project.names import (  # discovery reads them without loading the readers
    BAKE_PREFIX,
    CHART,
    COMPOSE_NAMES,
    COMPOSE_PREFIXES,
    GITLAB_NAMES,
    JUSTFILES,
    MAKEFILES,
    SKAFFOLD_NAMES,
    TOOL_CACHES,
    YAML_SUFFIXES,
    is_context_name,
)
from fixuser.project.paths import ROOT, is_remote, join, resolve
from fixuser.project.yaml import (
    FALSE,
    TRUE,
    entries,
    get,
    is_mapping,
    is_scalar,
    is_sequence,
    items,
    line_of,
    load_yaml,
    scalar,
    scalars,
    script_items,
    script_lines,
)
from fixuser.tree import fileio

if TYPE_CHECKING:
    from yaml.nodes import Node

    from fixuser.tree.discover import ContextWalk

MAX_BYTES = 4 << 20  # a context file larger than this is generated, not written: skipped

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


# --- the walk (the only I/O) --------------------------------------------------------------


def repository_root(start: Path, default: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (a file or a directory) holding ``.git``,
    else ``default`` (else ``start``'s own directory)."""
    from fixuser.tree.discover import git_root

    directory = start if start.is_dir() else start.parent
    found = git_root(str(directory.absolute()))
    if found is not None:
        return Path(found)
    return default if default is not None else directory


def walk(root: str) -> tuple[list[str], list[str]]:
    """The candidate context files below ``root`` (relative, ``/``-separated), sorted, and the
    symlinks among them. Skips what discover.py skips (.git, node_modules, vendor, ...) and,
    like os.walk, never enters a symlinked directory. Listings are not sorted (only the few
    files found are): on a tree without context files the walk is all discovery costs."""
    from fixuser.tree.discover import SKIP_DIRS

    skip = SKIP_DIRS | TOOL_CACHES

    found: list[str] = []
    links: list[str] = []
    pending = [("", root)]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if entry.name not in skip and not entry.is_symlink():
                    pending.append((f"{prefix}{entry.name}/", entry.path))
            elif is_context_name(entry.name):
                found.append(prefix + entry.name)
                if entry.is_symlink():
                    links.append(prefix + entry.name)
    return sorted(found), links


def wanted(paths: Sequence[str]) -> list[str]:
    """The paths among ``paths`` (candidates by name) that some reader reads."""
    charts = chart_dirs(paths)
    return [rel for rel in paths if kind_of(rel, charts) is not None or is_chart(rel)]


def decode(data: bytes, rel: str, notes: list[Note], maybe: bool = False) -> str | None:
    """A context file's text from its first MAX_BYTES + 1 bytes, or None with a note;
    ``maybe``: any YAML file, which may be a manifest, and which is dropped without a word when
    it plainly is not one."""
    if maybe and not looks_like_manifest(data):
        return None
    if len(data) > MAX_BYTES:
        notes.append(Note(rel, 0, f"larger than {MAX_BYTES >> 20} MiB, skipped"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(Note(rel, 0, "not UTF-8 text, skipped"))
        return None


def context_of_files(
    files: Mapping[str, Callable[[], bytes | None]], exists: Callable[[str], bool]
) -> RepoContext:
    """The context of a repository whose candidate files (by name, repository-relative) are
    read by the callables of ``files``: a commit's tree rather than the working tree. A reader
    returns None for what is not a regular file."""
    paths = wanted(sorted(files))
    if not paths:
        return RepoContext()
    charts = chart_dirs(paths)
    notes: list[Note] = []
    texts: dict[str, str] = {}
    for rel in paths:
        if is_chart(rel):
            texts[rel] = ""  # only its presence matters
            continue
        data = files[rel]()
        if data is None:
            continue
        text = decode(data[: MAX_BYTES + 1], rel, notes, kind_of(rel, charts) == MANIFEST)
        if text is not None:
            texts[rel] = text
    return read_context(texts, exists, notes)


def discover_context(root: Path, walked: ContextWalk | None = None) -> RepoContext:
    """Every context file under ``root`` (the repository root), read; ``walked``: what
    ``walk`` finds there, when fixuser.tree.discover has collected it in its own walk of root."""
    from fixuser.tree.discover import git_ignored, inside

    base = str(root)
    found, links = walk(base) if walked is None else (sorted(walked[0]), walked[1])
    charts = chart_dirs(found)
    paths = wanted(found)
    if not paths:
        return RepoContext()
    absolute = {os.path.join(base, rel): rel for rel in paths}
    ignored = {absolute[path] for path in git_ignored(root, list(absolute))}
    notes: list[Note] = []
    texts: dict[str, str] = {}
    linked = set(links)
    for rel in paths:
        if rel in ignored:
            continue
        path = os.path.join(base, rel)
        if rel in linked and not inside(path, root):
            notes.append(Note(rel, 0, "symlink leads outside the repository, skipped"))
            continue
        if is_chart(rel):
            texts[rel] = ""  # only its presence matters
            continue
        text = read_text(path, rel, notes, kind_of(rel, charts) == MANIFEST)
        if text is not None:
            texts[rel] = text

    def exists(rel: str) -> bool:
        found = fileio.inside(base, rel)  # None: it leads out of the repository
        return found is not None and os.path.isfile(found)

    return read_context(texts, exists, notes)


def read_text(path: str, rel: str, notes: list[Note], maybe: bool = False) -> str | None:
    """A context file's text, or None with a note; ``maybe``: any YAML file, which may be a
    manifest, and which is dropped without a word when it plainly is not one. What is not a
    regular file (a FIFO would hang the run) is not opened."""
    try:
        data = fileio.read(path, limit=MAX_BYTES + 1)
    except fileio.FileProblem as problem:
        if not maybe:
            notes.append(Note(rel, 0, f"cannot be read, skipped: {problem}"))
        return None
    return decode(data, rel, notes, maybe)


# --- which reader reads which file --------------------------------------------------------

COMPOSE, BAKE_HCL, BAKE_JSON, WORKFLOW, GITLAB, MAKE, JUST, SKAFFOLD, HELM, MANIFEST = (
    "compose",
    "bake-hcl",
    "bake-json",
    "workflow",
    "gitlab",
    "make",
    "just",
    "skaffold",
    "helm",
    "manifest",
)


def is_chart(path: str) -> bool:
    return path == CHART or path.endswith("/" + CHART)


def chart_dirs(paths: Iterable[str]) -> set[str]:
    """The directories holding a Chart.yaml (as ``dir/``, ``""`` for the root)."""
    return {path[: -len(CHART)] for path in paths if is_chart(path)}


def kind_of(path: str, charts: set[str]) -> str | None:
    directory, name = posixpath.split(path)
    if name == CHART:
        return None
    if name in COMPOSE_NAMES or (
        name.startswith(COMPOSE_PREFIXES) and name.endswith(YAML_SUFFIXES)
    ):
        return COMPOSE
    if name.startswith(BAKE_PREFIX):
        return BAKE_HCL if name.endswith(".hcl") else BAKE_JSON if name.endswith(".json") else None
    if name in GITLAB_NAMES:
        return GITLAB
    if name in MAKEFILES or name.endswith(".mk"):
        return MAKE
    if name in JUSTFILES or name.endswith(".just"):
        return JUST
    if name in SKAFFOLD_NAMES:
        return SKAFFOLD
    if not name.endswith(YAML_SUFFIXES):
        return None
    if directory == ".github/workflows" or directory.endswith("/.github/workflows"):
        return WORKFLOW
    if any(path.startswith(chart + "templates/") for chart in charts):
        return HELM
    return MANIFEST


def read_context(
    texts: Mapping[str, str],
    exists: Callable[[str], bool] | None = None,
    notes: Iterable[Note] = (),
) -> RepoContext:
    """The context of a repository from its files' texts, by path relative to its root.
    ``exists`` answers whether a repository-relative file exists: podman, buildah and kaniko
    look for ``-f`` beside the current directory first, then in the context; without it, the
    current directory wins and missing Dockerfiles are not noted."""
    charts = chart_dirs(texts)
    found = Found(exists)
    read: list[str] = []
    for path in sorted(texts):
        kind = kind_of(path, charts)
        if kind is None:
            continue
        text = texts[path]
        if kind == MANIFEST and not looks_like_manifest(text):
            continue
        READERS[kind](path, text, found)
        read.append(path)
    return found.freeze(read, notes)


def looks_like_manifest(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return b"kind:" in text and any(mark in text for mark in MANIFEST_MARKS_BYTES)
    return "kind:" in text and any(mark in text for mark in MANIFEST_MARKS)


def is_zero(text: str) -> bool:
    try:
        return int(text.replace("_", ""), 0 if text.lower().startswith(("0x", "0o")) else 10) == 0
    except ValueError:
        return False


# --- compose -------------------------------------------------------------------------------

COMPOSE_VAR_RE = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)"
)


def interpolate(text: str) -> str | None:
    """Compose interpolation without an environment: ``${VAR:-default}`` and
    ``${VAR-default}`` are their default, ``$$`` is ``$``; None when a variable has none."""
    if "$" not in text:
        return text
    unknown = False

    def repl(match: re.Match[str]) -> str:
        nonlocal unknown
        if match.group() == "$$":
            return "$"
        if match.group(2) in (":-", "-"):
            return interpolate(match.group(3) or "") or ""
        unknown = True
        return ""

    result = COMPOSE_VAR_RE.sub(repl, text)
    return None if unknown else result


def read_compose(path: str, text: str, found: Found) -> None:
    from fixuser.dockerfile.users import is_root_user

    base = posixpath.dirname(path)
    for document in load_yaml(path, text, found):
        for name, (key, node) in entries(get(document, "services")).items():
            service = entries(node)
            if not service and scalar(node) is None:
                continue
            dockerfile, stage = compose_build(path, base, name, service.get("build"), found)
            user: str | None = None
            if "user" in service:
                user_node = service["user"][1]
                user = scalar(user_node)
                resolved = interpolate(user) if user is not None else None
                if resolved is not None and is_root_user(resolved):
                    found.override(
                        path,
                        line_of(user_node),
                        "FIXUSER-COMPOSE-ROOT",
                        f"service {name} runs as root (user: {user})",
                    )
            privileged = scalar(get(node, "privileged")) in TRUE
            if privileged:
                line = line_of(service["privileged"][1])
                found.override(
                    path,
                    line,
                    "FIXUSER-COMPOSE-PRIVILEGED",
                    f"service {name} is privileged (privileged: true)",
                )
            found.services.append(
                Service(
                    name=name,
                    file=path,
                    line=line_of(key),
                    dockerfile=dockerfile,
                    stage=stage,
                    user=user,
                    privileged=privileged,
                    cap_add=tuple(scalars(get(node, "cap_add"))),
                    mounts=tuple(compose_mounts(path, base, name, get(node, "volumes"))),
                    ports=tuple(compose_ports(path, name, get(node, "ports"))),
                )
            )


def compose_build(
    path: str, base: str, service: str, build: tuple[Node, Node] | None, found: Found
) -> tuple[str | None, str | None]:
    """The Dockerfile (relative to the root) and stage a service's ``build`` builds."""
    if build is None:
        return None, None
    key, node = build
    settings = entries(node)
    if scalar(node) is not None:
        context_text: str | None = scalar(node)
    elif settings:
        context_text = scalar(get(node, "context")) or "."
        if "dockerfile_inline" in settings:
            return None, None
    else:
        return None, None
    via = f"compose service {service}"
    context = interpolate(context_text or ".")
    dockerfile_text = scalar(get(node, "dockerfile")) or "Dockerfile"
    dockerfile = interpolate(dockerfile_text)
    stage_node = get(node, "target")
    stage_text = scalar(stage_node)
    stage = interpolate(stage_text) if stage_text is not None else None
    line = line_of(stage_node) if stage_node is not None and stage else line_of(key)
    if context is None or dockerfile is None or (stage_text is not None and stage is None):
        found.note(path, line, f"{via}: a variable without a default in its build, skipped")
        return None, None
    if is_remote(context):
        return None, None
    context_dir = join(base, context)
    resolved = join(context_dir, dockerfile) if context_dir is not None else None
    if resolved is None:
        found.note(path, line, f"{via} builds outside the repository, skipped")
        return None, None
    found.build(resolved, stage or None, path, line, via)
    return resolved, stage or None


def compose_mounts(path: str, base: str, service: str, node: Node | None) -> Iterator[Mount]:
    for item in items(node):
        line = line_of(item)
        text = scalar(item)
        if text is not None:
            spec = interpolate(text)
            if spec is None:
                continue
            parts = spec.split(":")
            if len(parts) < 2:
                continue  # an anonymous volume: the image's own directory, owned as it is
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            settings = entries(item)
            kind = scalar(get(item, "type")) or "volume"
            source = interpolate(scalar(get(item, "source")) or "") or ""
            target = interpolate(scalar(get(item, "target")) or "") or ""
            read_only = scalar(get(item, "read_only")) in TRUE
            if kind not in ("bind", "volume") or not source or not target or not settings:
                continue
        host_path = join(base, source) if kind == "bind" and source.startswith(".") else None
        yield Mount(service, source, target, kind, path, line, read_only, host_path or None)


def compose_ports(path: str, service: str, node: Node | None) -> Iterator[Port]:
    for item in items(node):
        protocol = "tcp"
        text = scalar(item)
        if text is None:
            text = scalar(get(item, "target"))
            protocol = scalar(get(item, "protocol")) or protocol
        else:
            text = interpolate(text)
            if text is not None and "/" in text:
                text, _, protocol = text.partition("/")
            if text is not None:
                text = text.rsplit(":", 1)[-1]  # [ip:][host:]container
        if not text:
            continue
        first, _, last = text.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        start, end = int(first), int(last or first)
        for port in range(start, min(end, start + 1023) + 1):
            yield Port(service, port, path, line_of(item), protocol)


# --- Kubernetes manifests and Helm templates ------------------------------------------------


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


# --- CI: GitHub Actions, GitLab -------------------------------------------------------------

EXPRESSION_RE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
MATRIX_REF_RE = re.compile(r"matrix\.([A-Za-z_][\w-]*)\Z")
WORKSPACE = frozenset({"github.workspace", "env.GITHUB_WORKSPACE"})
BUILD_ACTIONS = ("docker/build-push-action",)
MAX_ROWS = 256


def matrix_rows(strategy: Node | None) -> list[dict[str, str]]:
    """A job's matrix as rows of scalar values (GitHub's include/exclude rules, simplified)."""
    matrix = get(strategy, "matrix")
    axes = {
        key: scalars(value)
        for key, (_, value) in entries(matrix).items()
        if key not in ("include", "exclude") and is_sequence(value)
    }
    rows: list[dict[str, str]] = [{}]
    for key, values in axes.items():
        rows = [{**row, key: value} for row in rows for value in values][:MAX_ROWS]
    for exclude in items(get(matrix, "exclude")):
        drop = {k: scalar(v) for k, (_, v) in entries(exclude).items()}
        rows = [row for row in rows if any(row.get(k) != v for k, v in drop.items())]
    for include in items(get(matrix, "include")):
        extra = {
            k: v for k, (_, node) in entries(include).items() if (v := scalar(node)) is not None
        }
        matched = False
        for row in rows:
            if all(row.get(k, v) == v for k, v in extra.items() if k in axes):
                row.update({k: v for k, v in extra.items() if k not in axes})
                matched = True
        if not matched and len(rows) < MAX_ROWS:
            rows.append(extra)
    return rows or [{}]


def expand(text: str, row: Mapping[str, str]) -> str | None:
    """``${{ matrix.x }}`` from the row and the workspace as the root; None for anything else."""
    unknown = False

    def repl(match: re.Match[str]) -> str:
        nonlocal unknown
        expression = match.group(1)
        if expression in WORKSPACE:
            return ROOT
        ref = MATRIX_REF_RE.match(expression)
        if ref and ref.group(1) in row:
            return row[ref.group(1)]
        unknown = True
        return match.group()

    result = EXPRESSION_RE.sub(repl, text) if "${{" in text else text
    return None if unknown else result


def working_directory(node: Node | None) -> str | None:
    return scalar(get(node, "defaults", "run", "working-directory"))


def read_workflow(path: str, text: str, found: Found) -> None:
    for document in load_yaml(path, text, found):
        default_dir = working_directory(document)
        for _job, (_, job) in entries(get(document, "jobs")).items():
            rows = matrix_rows(get(job, "strategy"))
            job_dir = working_directory(job) or default_dir
            for step in items(get(job, "steps")):
                uses = scalar(get(step, "uses"))
                if uses is not None and uses.split("@")[0] in BUILD_ACTIONS:
                    build_push_action(path, step, rows, found)
                run = get(step, "run")
                if run is not None:
                    step_dir = scalar(get(step, "working-directory")) or job_dir
                    run_step(path, run, step_dir, rows, found)


GIT_CONTEXT = "{{defaultContext}}"  # build-push-action's Git context: the repository


def build_push_action(path: str, step: Node, rows: list[dict[str, str]], found: Found) -> None:
    """docker/build-push-action: ``context`` (the repository when absent, or
    ``{{defaultContext}}:subdir``), ``file`` (relative to the workspace, ``{context}/Dockerfile``
    when absent) and ``target``."""
    via = "docker/build-push-action"
    settings = get(step, "with")
    target_node = get(settings, "target")
    line = line_of(target_node) if target_node is not None else line_of(entries(step)["uses"][0])
    raw = {key: scalar(get(settings, key)) or "" for key in ("context", "file", "target")}
    for row in rows:
        context, file, stage = (expand(raw[key], row) for key in ("context", "file", "target"))
        if context is None or file is None or stage is None:
            found.note(path, line, f"{via}: an expression fixuser cannot evaluate")
            return
        if context.startswith(GIT_CONTEXT):
            context = context[len(GIT_CONTEXT) :].lstrip(":")
        if is_remote(context):
            continue
        context_dir = resolve("", context or ".")
        if file:
            dockerfile = resolve("", file)
        else:
            dockerfile = join(context_dir, "Dockerfile") if context_dir is not None else None
        if dockerfile is None:
            found.note(path, line, f"{via} builds outside the repository")
            continue
        found.build(dockerfile, stage or None, path, line, via)


def run_step(
    path: str, run: Node, directory: str | None, rows: list[dict[str, str]], found: Found
) -> None:
    lines = script_lines(run)
    for row in rows:
        expanded = [(n, expand(line, row) or line) for n, line in lines]
        cwd = resolve("", expand(directory, row) or directory) if directory else ""
        scan_commands(path, expanded, cwd, found, {"GITHUB_WORKSPACE": ROOT})


GITLAB_RESERVED = frozenset(
    {"stages", "variables", "include", "workflow", "image", "services", "cache", "types"}
)


def read_gitlab(path: str, text: str, found: Found) -> None:
    for document in load_yaml(path, text, found):
        top = entries(document)
        variables = {"CI_PROJECT_DIR": ROOT, "CI_BUILDS_DIR": ROOT}
        variables.update(gitlab_variables(get(document, "variables")))
        for name, (_, job) in top.items():
            if name in GITLAB_RESERVED or not is_mapping(job):
                continue
            env = {**variables, **gitlab_variables(get(job, "variables"))}
            # before_script and script run in one shell, after_script in another.
            session = [*script_items(get(job, "before_script")), *script_items(get(job, "script"))]
            for lines in (session, script_items(get(job, "after_script"))):
                if lines:
                    scan_commands(path, lines, "", found, env)


def gitlab_variables(node: Node | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, (_, value) in entries(node).items():
        text = scalar(value) if is_scalar(value) else scalar(get(value, "value"))
        if text is not None and "$" not in text:
            result[name] = text
    return result


# --- shell lines: Makefile, justfile, and the CI scripts above --------------------------------


def scan_commands(
    path: str,
    lines: Sequence[tuple[int, str]],
    cwd: str | None,
    found: Found,
    env: Mapping[str, str],
    persist: bool = True,
) -> None:
    """Each build command in shell ``lines`` (continuations joined), the current directory
    followed through ``cd`` (within a line only, unless ``persist``: one shell for all)."""
    start = cwd
    for number, command in buildcmd.logical_lines(lines):
        if not persist:
            cwd = start
        if not buildcmd.may_build(command) and "cd" not in command:
            continue
        for outcome in buildcmd.commands(command, cwd, env, found.exists):
            if isinstance(outcome, buildcmd.Chdir):
                cwd = outcome.directory
            elif isinstance(outcome, buildcmd.Unresolved):
                found.note(path, number, f"{outcome.engine} build: {outcome.reason}, skipped")
            else:
                found.build(
                    outcome.dockerfile, outcome.target, path, number, f"{outcome.engine} build"
                )


MAKE_ASSIGN_RE = re.compile(
    r"(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(::?=|:::=|\?=|\+=|!=|=)\s*(.*)\Z"
)


def read_makefile(path: str, text: str, found: Found) -> None:
    """Recipe lines (a tab first), each its own shell in the Makefile's directory, after make
    expands its own variables (plain assignments; ``$(shell ...)`` and the like stay unknown)."""
    variables: dict[str, str] = {}
    recipe: list[tuple[int, str]] = []
    for number, line in buildcmd.logical_lines(list(enumerate(text.split("\n"), 1))):
        if line.startswith("\t"):
            recipe.append((number, line.lstrip("\t").lstrip("@-+ ")))
            continue
        match = MAKE_ASSIGN_RE.match(line.strip())
        if match and not line.startswith((" ", "#")):
            name, op, value = match.groups()
            value = value.split(" #", 1)[0].strip()
            if op == "?=":
                variables.setdefault(name, value)
            elif op == "+=":
                variables[name] = f"{variables.get(name, '')} {value}".strip()
            elif op != "!=":
                variables[name] = value
    expanded = [(n, buildcmd.make_expand(line, variables)) for n, line in recipe]
    scan_commands(path, expanded, posixpath.dirname(path), found, {}, persist=False)


JUST_ASSIGN_RE = re.compile(r"(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(\"[^\"]*\"|'[^']*')\s*\Z")
JUST_INTERPOLATION_RE = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")


def read_justfile(path: str, text: str, found: Found) -> None:
    """Recipe lines (indented), each its own shell in the justfile's directory; ``{{name}}``
    from the file's own ``name := "value"`` assignments."""
    variables: dict[str, str] = {}
    recipe: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line[:1] in (" ", "\t"):
            recipe.append((number, line.strip().lstrip("@-")))
            continue
        match = JUST_ASSIGN_RE.match(line.strip())
        if match:
            variables[match.group(1)] = match.group(2)[1:-1]

    def known(match: re.Match[str]) -> str:
        return variables.get(match.group(1), match.group())

    expanded = [(n, JUST_INTERPOLATION_RE.sub(known, line)) for n, line in recipe]
    scan_commands(path, expanded, posixpath.dirname(path), found, {}, persist=False)


# --- skaffold and bake ------------------------------------------------------------------------


def read_skaffold(path: str, text: str, found: Found) -> None:
    """``build.artifacts[]`` (and each profile's): ``context`` (default ``.``) and the docker
    (or kaniko) builder's ``dockerfile`` (relative to the context) and ``target``; docker is
    the builder when an artifact names none."""
    base = posixpath.dirname(path)
    for document in load_yaml(path, text, found):
        builds = [get(document, "build")]
        builds += [get(profile, "build") for profile in items(get(document, "profiles"))]
        for build in builds:
            for artifact in items(get(build, "artifacts")):
                settings = entries(artifact)
                builder = get(artifact, "docker") or get(artifact, "kaniko")
                if builder is None and set(settings) & {
                    "jib",
                    "buildpacks",
                    "bazel",
                    "ko",
                    "custom",
                }:
                    continue
                name = scalar(get(artifact, "image")) or "?"
                context = scalar(get(artifact, "context")) or "."
                dockerfile = scalar(get(builder, "dockerfile")) or "Dockerfile"
                target_node = get(builder, "target")
                stage = scalar(target_node)
                line = line_of(target_node) if target_node is not None else line_of(artifact)
                via = f"skaffold artifact {name}"
                context_dir = join(base, context)
                resolved = join(context_dir, dockerfile) if context_dir is not None else None
                if "{{" in context + dockerfile + (stage or ""):
                    found.note(path, line, f"{via}: a template fixuser cannot evaluate, skipped")
                elif resolved is None:
                    found.note(path, line, f"{via} builds outside the repository, skipped")
                else:
                    found.build(resolved, stage, path, line, via)


def read_bake_hcl(path: str, text: str, found: Found) -> None:
    bake = buildcmd.parse_bake_hcl(text)
    for line, problem in bake.problems:
        found.note(path, line, problem)
    bake_targets(path, bake, found)


def read_bake_json(path: str, text: str, found: Found) -> None:
    """A bake JSON file, read as YAML (JSON is YAML 1.2) for its line numbers."""
    targets: dict[str, buildcmd.BakeTarget] = {}
    groups: set[str] = set()
    variables: dict[str, str] = {}
    for document in load_yaml(path, text, found, "JSON"):
        for name, (key, block) in entries(get(document, "target")).items():
            attributes: buildcmd.Attributes = {
                attr: (value, line_of(node))
                for attr, (_, node) in entries(block).items()
                if (value := scalar(node)) is not None
            }
            inherits = tuple(scalars(get(block, "inherits")))
            targets[name] = buildcmd.BakeTarget(name, line_of(key), attributes, inherits)
        for _, (_, group) in entries(get(document, "group")).items():
            groups.update(scalars(get(group, "targets")))
        for name, (_, variable) in entries(get(document, "variable")).items():
            default = scalar(get(variable, "default"))
            if default is not None:
                variables[name] = default
    bake_targets(path, buildcmd.Bake(targets, groups, variables, ()), found)


def bake_targets(path: str, bake: buildcmd.Bake, found: Found) -> None:
    """Each target that builds: a target others inherit from is a template unless a group
    names it. ``context`` is relative to the bake file's directory, ``dockerfile`` to the
    context (as bake resolves it)."""
    base = posixpath.dirname(path)
    parents = {parent for target in bake.targets.values() for parent in target.inherits}
    for name, target in bake.targets.items():
        if name in parents and name not in bake.groups:
            continue
        attributes = bake.effective(name)
        if "dockerfile-inline" in attributes:
            continue
        via = f"bake target {name}"
        values: dict[str, str | None] = {}
        for attr, default in (("context", "."), ("dockerfile", "Dockerfile"), ("target", "")):
            raw = attributes.get(attr, (default, target.line))[0]
            values[attr] = bake.interpolate(raw)
        stage_line = attributes.get("target", ("", target.line))[1]
        context, dockerfile, stage = values["context"], values["dockerfile"], values["target"]
        if context is None or dockerfile is None or stage is None:
            found.note(path, stage_line, f"{via}: an expression fixuser cannot evaluate, skipped")
            continue
        if is_remote(context) or context.startswith("target:"):
            continue
        context_dir = join(base, context)
        resolved = join(context_dir, dockerfile) if context_dir is not None else None
        if resolved is None:
            found.note(path, stage_line, f"{via} builds outside the repository, skipped")
            continue
        found.build(resolved, stage or None, path, stage_line, via)


READERS: Mapping[str, Callable[[str, str, Found], None]] = {
    COMPOSE: read_compose,
    BAKE_HCL: read_bake_hcl,
    BAKE_JSON: read_bake_json,
    WORKFLOW: read_workflow,
    GITLAB: read_gitlab,
    MAKE: read_makefile,
    JUST: read_justfile,
    SKAFFOLD: read_skaffold,
    HELM: read_helm,
    MANIFEST: read_manifest,
}
