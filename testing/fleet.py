"""A fleet of real repositories for the batch tests and the benchmark: bare remotes made from
work repositories, some of them rigged (a push hook that refuses, a hook that hangs)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = (
    b"FROM debian:bookworm-slim\n"
    b"RUN apt-get update && apt-get install -y --no-install-recommends curl"
    b" && rm -rf /var/lib/apt/lists/*\n"
    b"COPY app /app\n"
    b'CMD ["/app/run"]\n'
)
GOSU = (
    b"FROM debian:bookworm-slim\n"
    b"RUN apt-get update && apt-get install -y gosu\n"
    b'ENTRYPOINT ["gosu", "nobody", "/app/run"]\n'
)
COMPLIANT = ROOT.replace(
    b"COPY app /app\n", b"RUN useradd --uid 10001 --user-group app\nCOPY app /app\n"
) + (b"USER 10001:10001\n")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {cwd} failed: {proc.stderr}")
    return proc.stdout


def make_remote(root: Path, name: str, files: Mapping[str, bytes]) -> Path:
    """``root/name.git``: a bare repository whose ``main`` holds ``files`` in one commit."""
    work = root / "work" / name
    work.mkdir(parents=True)
    for path, content in {"app/run": b"#!/bin/sh\necho hi\n", **files}.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    env = ["-c", "user.name=Fleet", "-c", "user.email=fleet@example.com"]
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, *env, "commit", "-q", "-m", "initial")
    remote = root / f"{name}.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(remote)], check=True, capture_output=True
    )
    return remote


def add_hook(remote: Path, name: str, script: str) -> None:
    hook = remote / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)


def remote_branches(remote: Path) -> dict[str, str]:
    out = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split(" ", 1) for line in out.splitlines())


def make_fleet(root: Path, count: int) -> list[Path]:
    """``count`` remotes, each with one root Dockerfile (the benchmark's fleet)."""
    return [make_remote(root, f"svc-{i:04d}", {"Dockerfile": ROOT}) for i in range(count)]
