"""``fixuser batch --verify``: each fix proven with a container build before it is committed."""

from __future__ import annotations

import os
import posixpath
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import repo
from fixuser.branches.batch import StartError
from fixuser.tree.fileio import FileProblem, atomic_write

if TYPE_CHECKING:
    import git


def verifier(engine_name: str | None) -> Callable[[git.Repo, repo.RepoPlan], list[str]]:
    """``--verify``: build each Dockerfile before and after with ``proof.prove`` (the
    same proof as ``fixuser verify``) from its directory of the base commit; the problems.

    Raises StartError when no container engine answers: a run that promised proof and cannot
    give it does not start.
    """
    from fixuser.containers import proof as verify
    from fixuser.containers.engine import BuildOptions, EngineError, find_engine

    try:
        engine = find_engine(engine_name)
    except EngineError as e:
        raise StartError(f"--verify: {e}") from None

    def check_plan(clone: git.Repo, plan: repo.RepoPlan) -> list[str]:
        problems = []
        for f in plan.fixes:
            with tempfile.TemporaryDirectory(prefix="fixuser-context-") as context:
                directory = os.path.dirname(f.path)
                extract(clone, f"{plan.head}:{directory}" if directory else plan.head, context)
                original = (Path(context) / os.path.basename(f.path)).read_bytes()
                try:
                    for extra in f.result.extra_files:  # the wrapper the fixed file COPYs
                        wrapper = Path(context) / extra.path  # never through a committed link
                        atomic_write(wrapper, extra.data, extra.mode, follow=False, root=context)
                except FileProblem as e:
                    problems.append(f"{posixpath.join(directory, extra.path)}: {e}")
                    continue
                for build in f.builds:
                    try:
                        proof = verify.prove(
                            Path(f.path), original, build.fixed, Path(context), engine=engine,
                            expected_user=build.expected_user, family=build.family,
                            options=BuildOptions(target=build.stage),
                        )  # fmt: skip
                    except EngineError as e:
                        problems.append(f"{f.path}: {e}")
                        continue
                    if not proof.ok:
                        stage = f" (stage {build.stage})" if build.stage else ""
                        why = "; ".join(proof.reasons)
                        problems.append(f"{f.path}{stage}: {proof.status}: {why}")
        return problems

    return check_plan


def extract(clone: git.Repo, treeish: str, target: str) -> None:
    """The files of ``treeish`` into ``target`` (a build context), through ``git archive``."""
    import tarfile

    proc = subprocess.Popen(
        ["git", "archive", "--format=tar", treeish],
        cwd=clone.git_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        # No links or paths out of the context. By hand rather than extractall(filter="data"),
        # which Python 3.11 has only from 3.11.4 on (Debian 12 ships 3.11.2).
        for member in tar:
            name = posixpath.normpath(member.name)
            if name.startswith(("/", "../")) or name == "..":
                continue
            if member.issym() or member.islnk():
                link = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                if member.linkname.startswith("/") or link.startswith("../") or link == "..":
                    continue
            elif not (member.isfile() or member.isdir()):
                continue
            tar.extract(member, target)
    if proc.wait() != 0:
        raise repo.RepoError(f"git archive {treeish} failed")
