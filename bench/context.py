"""Time ``fixuser.tree.context.discover_context`` against a plain walk of the same tree.

    .venv/bin/python bench/context.py [--repeat 11] [--dockerfiles 1465] [--compose 50]
                                      [--manifests 200] [--json FILE]

Two generated trees in a scratch directory, each read in this one process:

- **no context files**: ``<n>/Dockerfile`` (plus a README.md beside every tenth), the shape of
  ``speed.py``'s corpus tree. Discovery must cost no more than the walk itself there, and must
  not import PyYAML; ``fixuser check DIR`` over the same tree is timed too (its own process), so
  the walk's share of a check is printed.
- **busy**: ``--compose`` compose files (three building services each, users, ports, volumes),
  ``--manifests`` Kubernetes manifests (a fifth of them Helm templates, in charts of five),
  a workflow per ten compose files, a Makefile and a bake file, and a Dockerfile per service;
  read once outside a git work tree and once inside one (``git check-ignore`` then runs).

The floor is a scandir walk of the same tree that visits every entry, skipping the same
directories, and matches no names. Each of ``--repeat`` rounds times the floor, then discovery;
a ratio is the median of the rounds' own ratios, printed with their range. The first discovery
of the busy tree (importing PyYAML and the rest) is printed on its own.

The issue's figure, ``fixuser check`` of the busy tree against a check of the same tree with
every context file left out (each its own process), is paired the same way: each round checks
the Dockerfiles-only tree, then the busy one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixuser.project.model import RepoContext
from fixuser.tree.context import discover_context
from fixuser.tree.discover import SKIP_DIRS

DOCKERFILE = (
    "FROM debian:bookworm-slim AS base\nRUN apt-get update\n"
    'FROM base AS test\nRUN true\nFROM base AS prod\nCMD ["/app/run"]\n'
)
COMPOSE = """\
services:
  api{n}:
    build:
      context: ./api
      target: prod
    user: "{user}"
    ports:
      - "80:8080"
      - "{port}:{port}"
    volumes:
      - ./data:/app/data
      - cache{n}:/var/cache/app
  worker{n}:
    build: ./worker
    privileged: {privileged}
    cap_add: [NET_ADMIN]
    volumes:
      - type: bind
        source: ./logs
        target: /var/log/app
  web{n}:
    build:
      context: .
      dockerfile: web/Dockerfile
    ports:
      - target: 443
        published: 8443
volumes:
  cache{n}: {{}}
"""
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{n}
  labels:
    app.kubernetes.io/name: app{n}
    app.kubernetes.io/part-of: bench
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app{n}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app{n}
    spec:
      securityContext:
        runAsNonRoot: {non_root}
        fsGroup: 10001
      initContainers:
        - name: migrate
          image: example/app:{n}
          command: ["/app/migrate"]
      containers:
        - name: app
          image: example/app:{n}
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: production
            - name: LEVEL
              value: info
          resources:
            limits: {{cpu: 500m, memory: 256Mi}}
          securityContext:
            runAsUser: {uid}
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
        - name: sidecar
          image: example/proxy:1
          securityContext:
            privileged: {privileged}
---
apiVersion: v1
kind: Service
metadata:
  name: app{n}
spec:
  ports:
    - port: 80
      targetPort: 8080
"""
HELM = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ include "chart.fullname" . }}}}-{n}
  labels:
    {{{{- include "chart.labels" . | nindent 4 }}}}
spec:
  {{{{- if not .Values.autoscaling.enabled }}}}
  replicas: {{{{ .Values.replicaCount }}}}
  {{{{- end }}}}
  template:
    spec:
      securityContext:
        {{{{- toYaml .Values.podSecurityContext | nindent 8 }}}}
      containers:
        - name: {{{{ .Chart.Name }}}}
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}"
          securityContext:
            runAsUser: {uid}
          {{{{- with .Values.resources }}}}
          resources:
            {{{{- toYaml . | nindent 12 }}}}
          {{{{- end }}}}
"""
WORKFLOW = """\
on: push
jobs:
  images:
    strategy:
      matrix:
        stage: [test, prod]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
        with:
          context: svc{n}/api
          target: ${{{{ matrix.stage }}}}
      - run: |
          docker build -f svc{n}/worker/Dockerfile --target prod svc{n}/worker
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def dockerfile_tree(root: Path, count: int) -> None:
    for n in range(count):
        write(root / str(n) / "Dockerfile", DOCKERFILE)
        if n % 10 == 0:
            write(root / str(n) / "README.md", "# an image\n")


def busy_tree(root: Path, compose: int, manifests: int) -> None:
    for n in range(compose):
        service = root / f"svc{n}"
        write(
            service / "compose.yaml",
            COMPOSE.format(
                n=n,
                user="0" if n % 5 == 0 else "1000",
                port=22 if n % 3 == 0 else 2222,
                privileged="true" if n % 7 == 0 else "false",
            ),
        )
        for image in ("api", "worker", "web"):
            write(service / image / "Dockerfile", DOCKERFILE)
        if n % 10 == 0:
            write(root / ".github" / "workflows" / f"images{n}.yml", WORKFLOW.format(n=n))
    helm = manifests // 5
    for n in range(manifests - helm):
        write(
            root / "k8s" / f"app{n}.yaml",
            MANIFEST.format(
                n=n,
                non_root="true" if n % 2 else "false",
                uid=0 if n % 9 == 0 else 10001,
                privileged="true" if n % 11 == 0 else "false",
            ),
        )
    for n in range(helm):
        chart = root / "charts" / f"chart{n // 5}"
        write(chart / "Chart.yaml", f"apiVersion: v2\nname: chart{n // 5}\nversion: 0.1.0\n")
        write(chart / "templates" / f"deployment{n}.yaml", HELM.format(n=n, uid=n % 2))
    write(
        root / "Makefile",
        "TAG ?= dev\nbuild:\n\tdocker build -t x:$(TAG) --target prod svc0/api\n",
    )
    write(
        root / "docker-bake.hcl",
        'group "default" { targets = ["api"] }\n'
        'target "api" {\n  context = "svc1/api"\n  target = "prod"\n}\n',
    )


def floor_walk(root: str) -> int:
    """Every entry of the tree, as discover_context's walk visits them, matching no names."""
    seen = 0
    pending = [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_dir() and entry.name not in SKIP_DIRS and not entry.is_symlink():
                pending.append(entry.path)
    return seen


def rounds(
    repeat: int, floor: Callable[[], object], measured: Callable[[], object]
) -> tuple[list[float], list[float]]:
    floors, times = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - started)
        started = time.perf_counter()
        measured()
        times.append(time.perf_counter() - started)
    return floors, times


def summary(name: str, floors: list[float], times: list[float]) -> dict[str, Any]:
    ratios = [t / f for t, f in zip(times, floors, strict=True)]
    return {
        "tree": name,
        "floor_s": statistics.median(floors),
        "discover_s": statistics.median(times),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def one_check(tree: Path) -> float:
    fixuser = Path(sys.executable).parent / "fixuser"
    started = time.perf_counter()
    subprocess.run([str(fixuser), "check", str(tree)], capture_output=True, check=False)
    return time.perf_counter() - started


def timed_check(tree: Path, repeat: int) -> float:
    return statistics.median(one_check(tree) for _ in range(repeat))


def paired_checks(tree: Path, floor: Path, repeat: int) -> tuple[float, float, list[float]]:
    """``fixuser check`` of ``floor``, then of ``tree``, ``repeat`` times: their medians and
    each round's own ratio, so that the machine's drift between rounds cancels out."""
    floors, times = [], []
    for _ in range(repeat):
        floors.append(one_check(floor))
        times.append(one_check(tree))
    ratios = [t / f for t, f in zip(times, floors, strict=True)]
    return statistics.median(times), statistics.median(floors), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--dockerfiles", type=int, default=1465)
    parser.add_argument("--compose", type=int, default=50)
    parser.add_argument("--manifests", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fixuser-context-") as scratch:
        plain = Path(scratch) / "dockerfiles"
        dockerfile_tree(plain, args.dockerfiles)
        floor_walk(str(plain))  # warm the directory cache
        floors, times = rounds(
            args.repeat, lambda: floor_walk(str(plain)), lambda: discover_context(plain)
        )
        rows.append(summary(f"no context files ({args.dockerfiles} Dockerfiles)", floors, times))
        imported_yaml = "yaml" in sys.modules
        check = timed_check(plain, max(3, args.repeat // 3))

        busy = Path(scratch) / "busy"
        busy_tree(busy, args.compose, args.manifests)
        floor_walk(str(busy))
        started = time.perf_counter()
        context: RepoContext = discover_context(busy)
        first = time.perf_counter() - started
        floors, times = rounds(
            args.repeat, lambda: floor_walk(str(busy)), lambda: discover_context(busy)
        )
        label = f"busy ({args.compose} compose, {args.manifests} manifests)"
        rows.append(summary(label, floors, times))
        # The figure: a check of the busy repository against a check of its
        # Dockerfiles alone (the same tree with every context file left out).
        only = Path(scratch) / "busy-dockerfiles-only"
        shutil.copytree(
            busy,
            only,
            ignore=lambda d, names: [
                n for n in names if not (Path(d) / n).is_dir() and n != "Dockerfile"
            ],
        )
        busy_check, only_check, check_ratios = paired_checks(busy, only, args.repeat)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        subprocess.run(["git", "init", "-q", str(busy)], check=True, env=env)
        (busy / ".gitignore").write_text("build/\n")
        floors, times = rounds(
            args.repeat, lambda: floor_walk(str(busy)), lambda: discover_context(busy)
        )
        rows.append(summary(label + ", a git work tree", floors, times))

    print(
        f"fixuser context bench: {args.repeat} rounds; ratios are the median of the rounds'"
        " own ratios (range in brackets)\n"
    )
    print(f"{'tree':58} {'walk ms':>8} {'discover ms':>12} {'ratio':>7}  rounds")
    for row in rows:
        print(
            f"{row['tree']:58} {row['floor_s'] * 1e3:8.2f} {row['discover_s'] * 1e3:12.2f}"
            f" {row['ratio']:6.2f}x  {row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        )
    plain_row = rows[0]
    print(
        f"\nno context files: PyYAML imported: {'yes' if imported_yaml else 'no'}; "
        f"`fixuser check DIR` over the same tree {check * 1e3:.0f} ms, discovery "
        f"{plain_row['discover_s'] * 1e3:.2f} ms of it ({plain_row['discover_s'] / check:.1%})"
    )
    print(
        f"busy: `fixuser check DIR` {busy_check * 1e3:.0f} ms against {only_check * 1e3:.0f} ms "
        f"for its Dockerfiles alone: {statistics.median(check_ratios):.2f}x "
        f"({min(check_ratios):.2f}-{max(check_ratios):.2f}, the median of {args.repeat} "
        "paired rounds; target < 2x)"
    )
    print(
        f"busy: first discovery (imports PyYAML) {first * 1e3:.1f} ms; found "
        f"{len(context.builders)} builders, {len(context.services)} services, "
        f"{len(context.overrides)} overrides, {len(context.notes)} notes in "
        f"{len(context.files)} files"
    )
    if args.json:
        figures = {
            "rows": rows,
            "check_s": check,
            "first_s": first,
            "yaml": imported_yaml,
            "busy_check_ratios": check_ratios,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 1 if imported_yaml else 0


if __name__ == "__main__":
    sys.exit(main())
