"""Helpers of the tests of the repository's context files (tests/test_context.py,
test_compose.py, test_kubernetes.py, test_ci.py, test_make.py, test_bake.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fixuser.project.model import RepoContext
from fixuser.project.read import read_context
from fixuser.tree.context import discover_context
from testing.git import write_files

DOCKERFILE = "FROM debian:bookworm-slim AS base\nFROM base AS prod\nFROM base AS debug\n"

# A chart's deployment template, in the shape ``helm create`` writes.
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


def read(texts: dict[str, str]) -> RepoContext:
    """The context of files given by their texts, read without a directory tree."""
    return read_context((path, text.encode()) for path, text in texts.items())
