"""Remediation branches, in real git repositories: fixuser writes one ref and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixuser import core
from fixuser.branches.commit import commit_fixes
from fixuser.branches.fix_commit import run_commit
from fixuser.branches.push import review_url
from fixuser.branches.repo import DEFAULT_BRANCH, RepoError, plan_repository, render_commit_message
from fixuser.branches.safety import is_fixuser_branch
from fixuser.settings import Settings
from testing.git import (
    COMPLIANT_DOCKERFILE,
    ROOT_DOCKERFILE,
    TEST_EMAIL,
    TEST_NAME,
    amend_round_trip,
    blob,
    branches,
    comment_lines,
    commit_all,
    git,
    isolate_git,
    make_repo,
    snapshot,
    write_files,
)

SETTINGS = Settings()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            "Dockerfile": ROOT_DOCKERFILE,
            "svc/Containerfile": ROOT_DOCKERFILE,
            "ok/Dockerfile": COMPLIANT_DOCKERFILE,
            "node_modules/pkg/Dockerfile": ROOT_DOCKERFILE,
            "app/run": "#!/bin/sh\n",
            "README.md": "hello\n",
        },
    )


def commit(repo: Path, *args: str, **kwargs: object) -> int:
    return run_commit([str(repo), *args], SETTINGS, **kwargs)  # type: ignore[arg-type]


def expected(source: bytes, path: str = "Dockerfile") -> bytes:
    return core.fix(source, SETTINGS, path=path).output


def test_commit_builds_branch_from_head_blobs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    before = snapshot(repo)

    assert commit(repo) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == before
    assert git(repo, "rev-parse", f"{DEFAULT_BRANCH}^").strip() == head
    changed = git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split()
    assert changed == ["Dockerfile", "svc/Containerfile"]
    assert blob(repo, DEFAULT_BRANCH, "Dockerfile") == expected(ROOT_DOCKERFILE)
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    out = capsys.readouterr().out
    assert DEFAULT_BRANCH in out
    assert "2 files changed" in out


def test_plan_reads_the_commit_not_the_working_tree(repo: Path) -> None:
    (repo / "Dockerfile").write_bytes(b"this is not a Dockerfile\n")
    plan = plan_repository(repo, SETTINGS)
    assert [f.path for f in plan.fixes] == ["Dockerfile", "svc/Containerfile"]
    assert sorted(f.path for f in plan.findings) == [
        "Dockerfile",
        "ok/Dockerfile",
        "svc/Containerfile",
    ]
    assert plan.errors == ()


def test_plan_takes_settings_per_file(repo: Path) -> None:
    plan = plan_repository(
        repo, lambda path: SETTINGS.replace(uid=20002 if path.startswith("svc/") else 10001)
    )
    by_path = {f.path: f.result.change for f in plan.fixes}
    assert by_path["svc/Containerfile"] is not None
    assert "20002" in by_path["svc/Containerfile"].user


def test_plan_limited_to_paths(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS, paths=["svc"])
    assert [f.path for f in plan.findings] == ["svc/Containerfile"]


def test_dirty_working_tree_stays_byte_identical(repo: Path) -> None:
    (repo / "README.md").write_text("edited, not committed\n")
    (repo / "untracked.txt").write_text("new\n")
    write_files(repo, {"app/run": "#!/bin/sh\necho staged\n"})
    git(repo, "add", "app/run")
    staged = git(repo, "diff", "--cached", "--name-only")
    before = snapshot(repo)

    assert commit(repo) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == before
    assert git(repo, "diff", "--cached", "--name-only") == staged == "app/run\n"
    # The branch holds the committed README, not the edit.
    assert blob(repo, DEFAULT_BRANCH, "README.md") == b"hello\n"


def test_stash_is_untouched(repo: Path) -> None:
    (repo / "README.md").write_text("stashed\n")
    git(repo, "stash", "-q")
    stash = git(repo, "stash", "list")
    assert commit(repo) == 0
    assert git(repo, "stash", "list") == stash


@pytest.mark.parametrize("stage", [False, True])
def test_refuses_file_with_uncommitted_changes(
    repo: Path, stage: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "Dockerfile").write_bytes(ROOT_DOCKERFILE + b"EXPOSE 80\n")
    if stage:
        git(repo, "add", "Dockerfile")
    before = snapshot(repo)

    assert commit(repo) == 2

    assert snapshot(repo) == before
    assert DEFAULT_BRANCH not in branches(repo)
    assert "Dockerfile: uncommitted changes" in capsys.readouterr().err


def test_detached_head(repo: Path) -> None:
    write_files(repo, {"README.md": "second\n"})
    second = commit_all(repo, "second")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    first = git(repo, "rev-parse", "HEAD").strip()
    before = snapshot(repo)

    assert commit(repo) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == before
    assert git(repo, "rev-parse", f"{DEFAULT_BRANCH}^").strip() == first != second
    assert git(repo, "rev-parse", "HEAD").strip() == first


def test_base_ref(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    write_files(repo, {"README.md": "second\n"})
    commit_all(repo, "second")
    assert commit(repo, base=first) == 0
    assert git(repo, "rev-parse", f"{DEFAULT_BRANCH}^").strip() == first


def test_existing_branch_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "branch", DEFAULT_BRANCH)
    before = snapshot(repo)
    assert commit(repo) == 2
    assert snapshot(repo) == before
    assert "exists" in capsys.readouterr().err


def test_force_refused_over_a_branch_fixuser_did_not_make(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "branch", DEFAULT_BRANCH)
    before = snapshot(repo)
    assert commit(repo, force=True) == 2
    assert snapshot(repo) == before
    assert "fixuser did not make it" in capsys.readouterr().err


def test_force_replaces_a_fixuser_branch(repo: Path) -> None:
    assert commit(repo) == 0
    old = git(repo, "rev-parse", DEFAULT_BRANCH).strip()
    assert is_fixuser_branch(repo, DEFAULT_BRANCH)
    write_files(repo, {"README.md": "second\n"})
    head = commit_all(repo, "second")

    assert commit(repo) == 2  # still refused without --force
    assert commit(repo, force=True) == 0

    new = git(repo, "rev-parse", DEFAULT_BRANCH).strip()
    assert new != old
    assert git(repo, "rev-parse", f"{DEFAULT_BRANCH}^").strip() == head


def test_force_refused_when_user_committed_on_the_fixuser_branch(repo: Path) -> None:
    assert commit(repo) == 0
    mine = git(
        repo, "commit-tree", "-m", "mine", "-p", DEFAULT_BRANCH, f"{DEFAULT_BRANCH}^{{tree}}"
    ).strip()
    git(repo, "update-ref", f"refs/heads/{DEFAULT_BRANCH}", mine)
    assert commit(repo, force=True) == 2
    assert git(repo, "rev-parse", DEFAULT_BRANCH).strip() == mine


def test_refuses_the_checked_out_branch(repo: Path) -> None:
    assert commit(repo) == 0
    git(repo, "checkout", "-q", DEFAULT_BRANCH)
    before = snapshot(repo)
    assert commit(repo, force=True, base="main") == 2
    assert snapshot(repo) == before


def test_crlf_blob_keeps_crlf_with_autocrlf(repo: Path) -> None:
    crlf = ROOT_DOCKERFILE.replace(b"\n", b"\r\n")
    write_files(repo, {"win/Dockerfile": crlf})
    commit_all(repo, "crlf")
    git(repo, "config", "core.autocrlf", "true")
    before = snapshot(repo)

    assert run_commit([str(repo / "win")], SETTINGS) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == before
    fixed = blob(repo, DEFAULT_BRANCH, "win/Dockerfile")
    assert fixed == expected(crlf, "win/Dockerfile")
    assert fixed.count(b"\r\n") == fixed.count(b"\n")


def test_autocrlf_checkout_is_not_an_uncommitted_change(tmp_path: Path) -> None:
    root = tmp_path / "crlf"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "core.autocrlf", "true")
    write_files(root, {"Dockerfile": ROOT_DOCKERFILE.replace(b"\n", b"\r\n")})
    commit_all(root, "initial")  # autocrlf stores LF; the working tree keeps CRLF
    assert blob(root, "HEAD", "Dockerfile") == ROOT_DOCKERFILE
    before = snapshot(root)

    assert run_commit([str(root)], SETTINGS) == 0

    assert snapshot(root).without_branch(DEFAULT_BRANCH) == before
    assert b"\r" not in blob(root, DEFAULT_BRANCH, "Dockerfile")


def test_submodule_is_kept_and_not_descended(tmp_path: Path) -> None:
    sub = make_repo(tmp_path / "sub", {"Dockerfile": ROOT_DOCKERFILE})
    root = make_repo(tmp_path / "super", {"Dockerfile": ROOT_DOCKERFILE})
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "lib")
    commit_all(root, "submodule")
    gitlink = git(root, "ls-tree", "HEAD", "lib")
    before = snapshot(root)

    assert run_commit([str(root)], SETTINGS) == 0

    assert snapshot(root).without_branch(DEFAULT_BRANCH) == before
    assert git(root, "ls-tree", DEFAULT_BRANCH, "lib") == gitlink
    assert git(root, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split() == ["Dockerfile"]
    assert DEFAULT_BRANCH not in branches(root / "lib")


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    (wt / "README.md").write_text("dirty in the worktree\n")
    main_before, wt_before = snapshot(repo), snapshot(wt)

    assert run_commit([str(wt)], SETTINGS) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == main_before.without_branch(
        DEFAULT_BRANCH
    )
    assert snapshot(wt).without_branch(DEFAULT_BRANCH) == wt_before.without_branch(DEFAULT_BRANCH)
    assert DEFAULT_BRANCH in branches(repo)
    assert git(wt, "symbolic-ref", "HEAD").strip() == "refs/heads/feature"


def test_refuses_a_branch_checked_out_in_another_worktree(repo: Path, tmp_path: Path) -> None:
    assert commit(repo) == 0
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), DEFAULT_BRANCH)
    assert commit(repo, force=True) == 2


def test_unborn_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path / "unborn", commit=False)
    before = snapshot(root)
    assert run_commit([str(root)], SETTINGS) == 2
    assert snapshot(root) == before
    assert "unborn" in capsys.readouterr().err


def test_not_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain").mkdir()
    assert run_commit([str(tmp_path / "plain")], SETTINGS) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_merge_in_progress(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    write_files(repo, {"README.md": "other\n"})
    commit_all(repo, "other")
    git(repo, "checkout", "-q", "main")
    write_files(repo, {"README.md": "main\n"})
    commit_all(repo, "main")
    proc_ok = True
    try:
        git(repo, "merge", "-q", "other")
    except AssertionError:
        proc_ok = False
    assert not proc_ok  # a conflict: the merge stays in progress
    before = snapshot(repo)

    assert commit(repo) == 2

    assert snapshot(repo) == before
    assert "merge is in progress" in capsys.readouterr().err


def test_nothing_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path / "ok", {"Dockerfile": COMPLIANT_DOCKERFILE})
    before = snapshot(root)
    assert run_commit([str(root)], SETTINGS) == 0
    assert snapshot(root) == before
    assert branches(root) == ["main"]
    out = capsys.readouterr().out
    assert "nothing to fix: 1 Dockerfile already compliant" in out
    assert len(out.splitlines()) == 1


def test_commit_message(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS)
    message = render_commit_message(plan, signoff="A B <a@b.example>")
    subject, blank, *body = message.splitlines()
    assert "non-root" in subject
    assert len(subject) <= 72
    assert blank == ""
    assert "CIS Docker Benchmark 4.1" in message
    for f in plan.fixes:
        assert f.result.change is not None
        assert f"\n\n{f.path}\n{'-' * len(f.path)}\n" in message
        analysis = f.result.analysis
        assert f"- Base image: {analysis.base_image} ({analysis.family}" in message
        assert f"- Runs as: USER {f.result.change.user}, UID 10001\n" in message
    assert body[-2:] == ["Fixed-by: fixuser", "Signed-off-by: A B <a@b.example>"]


def test_signoff_uses_the_configured_identity(repo: Path) -> None:
    assert commit(repo, signoff=True) == 0
    message = git(repo, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert f"Signed-off-by: {TEST_NAME} <{TEST_EMAIL}>" in message
    assert git(repo, "log", "-1", "--format=%an <%ae>", DEFAULT_BRANCH).strip() == (
        f"{TEST_NAME} <{TEST_EMAIL}>"
    )


def test_without_identity_commits_as_fixuser(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".gitconfig").write_text("")
    assert commit(repo) == 0
    who = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", DEFAULT_BRANCH).strip()
    assert who == "fixuser <fixuser@localhost>|fixuser <fixuser@localhost>"


def test_author_flag(repo: Path) -> None:
    assert commit(repo, author="Sec Bot <sec@example.org>") == 0
    who = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", DEFAULT_BRANCH).strip()
    assert who == f"Sec Bot <sec@example.org>|{TEST_NAME} <{TEST_EMAIL}>"


def test_bad_author_refused(repo: Path) -> None:
    assert commit(repo, author="nobody") == 2
    assert DEFAULT_BRANCH not in branches(repo)


def test_commit_fixes_raises_repo_error(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS)
    git(repo, "branch", "taken")
    with pytest.raises(RepoError, match="exists"):
        commit_fixes(repo, plan, "taken", "msg\n")


def test_checkout_when_safe_keeps_other_changes(repo: Path) -> None:
    (repo / "README.md").write_text("still mine\n")
    assert commit(repo, checkout=True) == 0
    assert git(repo, "symbolic-ref", "HEAD").strip() == f"refs/heads/{DEFAULT_BRANCH}"
    assert (repo / "README.md").read_text() == "still mine\n"
    assert (repo / "Dockerfile").read_bytes() == expected(ROOT_DOCKERFILE)


def test_checkout_skipped_when_not_based_on_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    write_files(repo, {"README.md": "second\n"})
    commit_all(repo, "second")
    assert commit(repo, base=first, checkout=True) == 0
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_push_prints_review_url(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", "git@github.com:acme/shop.git")
    git(repo, "config", "remote.origin.pushurl", str(bare))

    assert commit(repo, push=True) == 0

    assert git(bare, "rev-parse", DEFAULT_BRANCH) == git(repo, "rev-parse", DEFAULT_BRANCH)
    assert f"https://github.com/acme/shop/pull/new/{DEFAULT_BRANCH}" in capsys.readouterr().out


def test_push_to_missing_remote_refused(repo: Path) -> None:
    assert commit(repo, push=True, remote="nowhere") == 2


@pytest.mark.parametrize(
    ("url", "base", "expected_url"),
    [
        (
            "https://github.com/acme/shop.git",
            "main",
            "https://github.com/acme/shop/compare/main...fix/x?expand=1",
        ),
        ("ssh://git@github.com/acme/shop", None, "https://github.com/acme/shop/pull/new/fix/x"),
        (
            "git@gitlab.com:group/sub/shop.git",
            None,
            "https://gitlab.com/group/sub/shop/-/merge_requests/new"
            "?merge_request%5Bsource_branch%5D=fix%2Fx",
        ),
        (
            "https://user@bitbucket.org/acme/shop.git",
            "main",
            "https://bitbucket.org/acme/shop/pull-requests/new?source=fix%2Fx&t=1&dest=main",
        ),
        ("/srv/git/shop.git", None, None),
        ("file:///srv/git/shop.git", None, None),
        ("https://git.example.org/acme/shop.git", None, None),
    ],
)
def test_review_url(url: str, base: str | None, expected_url: str | None) -> None:
    assert review_url(url, "fix/x", base) == expected_url


def test_explicit_file_path(repo: Path) -> None:
    assert run_commit([str(repo / "svc" / "Containerfile")], SETTINGS) == 0
    assert git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split() == ["svc/Containerfile"]


def test_untracked_dockerfile_is_reported_not_committed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(repo, {"new/Dockerfile": ROOT_DOCKERFILE})
    assert run_commit([str(repo / "new")], SETTINGS) == 2
    assert "new: no Dockerfile there in HEAD" in capsys.readouterr().err
    assert DEFAULT_BRANCH not in branches(repo)


def test_skip_dirs_are_not_fixed(repo: Path) -> None:
    plan = plan_repository(repo, SETTINGS)
    assert not any(f.path.startswith("node_modules/") for f in plan.findings)


def test_fix_commit_on_the_command_line(repo: Path) -> None:
    pytest.importorskip("fixuser.commands.fix")
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--commit", "--signoff"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert is_fixuser_branch(repo, DEFAULT_BRANCH)
    assert "Signed-off-by:" in git(repo, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE  # not rewritten in place


# -- what the commit message tells the reviewer -------------------------------------------------

NODE = (
    b"FROM node:20-bookworm-slim\n"
    b"WORKDIR /app\n"
    b"COPY . .\n"
    b"RUN npm ci\n"
    b"EXPOSE 80\n"
    b'CMD ["node", "server.js"]\n'
)
DISTROLESS = (
    b'FROM gcr.io/distroless/static-debian12\nCOPY server /server\nENTRYPOINT ["/server"]\n'
)
SCRATCH = b'FROM scratch\nCOPY server /server\nENTRYPOINT ["/server"]\n'
# No RUN in the stage: the app's WORKDIR is made and chowned inside the user block itself.
USER_BLOCK_DIRS = (
    b'FROM debian:bookworm-slim\nWORKDIR /srv/app\nCOPY app.sh .\nCMD ["/srv/app/app.sh"]\n'
)
NAMED = b'FROM debian:bookworm-slim\nRUN useradd appuser\nRUN true\nCMD ["/bin/true"]\n'
FLEET = {
    "web/Dockerfile": NODE,
    "static/Dockerfile": DISTROLESS,
    "bare/Dockerfile": SCRATCH,
    "Dockerfile": ROOT_DOCKERFILE,
    "#ops/Dockerfile": USER_BLOCK_DIRS,  # a heading that starts with "#"
}


def sections(message: str) -> dict[str, str]:
    """Each file's block of the message (its underlined heading to the next blank line) and
    each image's verify commands (its ``docker build`` line to its ``docker rm``), by path."""
    out: dict[str, str] = {}
    lines = message.splitlines()
    for i, line in enumerate(lines[1:], 1):
        if line and set(line) == {"-"} and lines[i - 1].strip() not in ("", "Verify locally"):
            end = lines.index("", i)
            out[lines[i - 1].strip()] = "\n".join(lines[i + 1 : end])
        if line.startswith("    docker build -f "):
            path = line.split()[3].strip("'")
            end = next(j for j in range(i, len(lines)) if "docker rm" in lines[j])
            out[f"verify {path}"] = "\n".join(lines[i : end + 1])
    return out


@pytest.mark.parametrize("uid", [10001, 23456])
def test_commit_message_gives_each_file_its_own_uid(
    tmp_path: Path, uid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "fleet", {**FLEET, "named/Dockerfile": NAMED})
    assert run_commit([str(root)], Settings(uid=uid)) == 0
    message = git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    by_path = sections(message)
    want = {"web/Dockerfile": 1000, "static/Dockerfile": 65532, "bare/Dockerfile": 65534}
    want |= {"Dockerfile": uid, "#ops/Dockerfile": uid}
    for path, number in want.items():
        assert "- Runs as: USER" in by_path[path]
        assert f", UID {number}" in by_path[path], path
        verify = by_path[f"verify {path}"]
        assert f"# expect {number}:{number}" in verify  # docker image inspect's User
        assert f"# expect {number}, not 0" in verify  # the Uid: line of PID 1
        assert "--entrypoint" not in verify
    if uid != 10001:
        assert "10001" not in message
    # A name whose number fixuser does not know: said so, and the name's resolution checked.
    assert (
        "USER appuser, a name: its UID is what the image's /etc/passwd"
        in by_path["named/Dockerfile"]
    )
    verify = by_path["verify named/Dockerfile"]
    assert "# expect appuser" in verify
    assert "fails if appuser does not resolve" in verify
    assert "# a name: expect the UID appuser has in the image, not 0" in verify
    assert "UID" not in by_path["named/Dockerfile"].replace("its UID is", "")


def test_verify_steps_work_without_a_shell_in_the_image(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "fleet", FLEET)
    assert run_commit([str(root)], SETTINGS) == 0
    by_path = sections(git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH))
    image_user = "docker image inspect --format '{{.Config.User}}' fixuser-check-"
    host_pid = "grep '^Uid:' /proc/$(docker inspect --format '{{.State.Pid}}' \"$cid\")/status"
    for path in ("static/Dockerfile", "bare/Dockerfile"):  # no shell, no cat
        verify = by_path[f"verify {path}"]
        assert image_user in verify
        assert "cid=$(docker run -d fixuser-check-" in verify
        assert host_pid in verify
        assert "docker exec" not in verify
        assert 'docker rm -f "$cid"' in verify
    for path in ("web/Dockerfile", "Dockerfile"):  # the CIS audit as written, inside
        verify = by_path[f"verify {path}"]
        assert image_user in verify
        assert "docker exec \"$cid\" cat /proc/1/status | grep '^Uid:'" in verify
        assert "/proc/$(" not in verify
    message = git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert f"    git switch {DEFAULT_BRANCH}\n" in message
    assert "    docker build -f '#ops/Dockerfile' -t fixuser-check-" in message  # quoted


def test_every_ownership_change_is_listed(tmp_path: Path) -> None:
    result = core.fix(USER_BLOCK_DIRS, SETTINGS, path="Dockerfile")
    assert result.change is not None
    assert (
        b"useradd" in result.output and b"&& chown 10001:10001 /home/app /srv/app" in result.output
    )
    assert "/srv/app" in result.change.chowned  # made writable inside the user block
    assert any("/srv/app writable" in note for note in result.change.notes)
    root = make_repo(tmp_path / "one", {"Dockerfile": USER_BLOCK_DIRS})
    assert run_commit([str(root)], SETTINGS) == 0
    block = sections(git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH))["Dockerfile"]
    owned = block.split("- Ownership given to that user:\n", 1)[1].split("\n- ", 1)[0]
    assert owned.splitlines() == [f"  - {p}" for p in result.change.chowned]
    assert owned.splitlines() == [
        "  - /home/app",
        "  - /srv/app",
        "  - line 3: COPY . --chown=10001:10001",
    ]


def test_low_port_warning_reaches_the_message(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "web", {"Dockerfile": NODE})
    assert run_commit([str(root)], SETTINGS) == 0
    block = sections(git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH))["Dockerfile"]
    assert "- For the reviewer:\n  - Warning: line 5: EXPOSE 80: a port below 1024" in block


SUBJECT = "Run {} as a non-root user (CIS Docker 4.1)"


@pytest.mark.parametrize(
    ("files", "subject", "rewrote"),
    [
        (["Dockerfile"], SUBJECT.format("container"), "1 Dockerfile so its"),
        (
            ["Dockerfile", "svc/Containerfile"],
            SUBJECT.format("containers"),
            "2 Dockerfiles so each",
        ),
    ],
)
def test_subject_and_counts_are_singular_or_plural(
    tmp_path: Path, files: list[str], subject: str, rewrote: str
) -> None:
    root = make_repo(tmp_path / "r", dict.fromkeys(files, ROOT_DOCKERFILE))
    assert run_commit([str(root)], SETTINGS) == 0
    message = git(root, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert message.splitlines()[0] == subject
    assert f"fixuser rewrote {rewrote} runtime stage" in message.replace("\n", " ")


def test_commit_message_survives_amend(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "fleet", FLEET)
    assert run_commit([str(root)], SETTINGS, signoff=True) == 0
    before, after = amend_round_trip(root, DEFAULT_BRANCH, tmp_path / "amend")
    assert comment_lines(before) == []
    assert after == before
    assert "\nVerify locally\n--------------\n" in after
    assert after.rstrip().endswith(f"Fixed-by: fixuser\nSigned-off-by: {TEST_NAME} <{TEST_EMAIL}>")
