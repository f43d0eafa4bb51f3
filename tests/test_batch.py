"""``fixuser batch`` over a fleet of real repositories and bare remotes in a temp dir."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fixuser import core
from fixuser.branches import batch
from fixuser.branches.batch_report import Record
from fixuser.branches.fleet import in_shard, parse_list
from fixuser.branches.progress import Progress
from fixuser.branches.repo import DEFAULT_BRANCH, TRAILER
from fixuser.containers.engine import Engine
from fixuser.escape import md_text
from fixuser.main import main
from fixuser.settings import Settings
from testing.disk import fill, small_disk
from testing.fleet import COMPLIANT, GOSU, ROOT, add_hook, git, make_remote, remote_branches
from testing.git import amend_round_trip, comment_lines, isolate_git, snapshot

BRANCH = DEFAULT_BRANCH


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    # No identity: batch commits must fall back to fixuser <fixuser@localhost>.
    (tmp_path / "home" / ".gitconfig").write_text('[protocol "file"]\n\tallow = always\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def fleet(tmp_path: Path) -> dict[str, Path]:
    remotes = tmp_path / "remotes"
    made = {
        "root": make_remote(remotes, "root", {"Dockerfile": ROOT}),
        "multi": make_remote(
            remotes,
            "multi",
            {
                "Dockerfile": ROOT,
                "svc/api/Containerfile": ROOT,
                "svc/ok/Dockerfile": COMPLIANT,
            },
        ),
        "compliant": make_remote(remotes, "compliant", {"Dockerfile": COMPLIANT}),
        "empty": make_remote(remotes, "empty", {"README.md": b"no containers here\n"}),
        "gosu": make_remote(remotes, "gosu", {"Dockerfile": GOSU}),
        "rejects": make_remote(remotes, "rejects", {"Dockerfile": ROOT}),
    }
    add_hook(made["rejects"], "pre-receive", "echo 'protected: no new branches' >&2\nexit 1\n")
    return made


# (path, changed) of the "multi" remote's Dockerfiles: two fixed, one already compliant.
MULTI_CHANGES = [
    ("Dockerfile", True),
    ("svc/api/Containerfile", True),
    ("svc/ok/Dockerfile", False),
]


def run_batch(tmp_path: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    report = tmp_path / "report.json"
    code = main(["batch", "--jobs", "2", "--report", str(report), *args])
    data = json.loads(report.read_text())
    assert list(data) == ["repositories"]
    return code, {r["repo"]: r for r in data["repositories"]}


def fixed(source: bytes, path: str = "Dockerfile") -> bytes:
    return core.fix(source, Settings(), path=path).output


def test_fleet_push_records_every_outcome(tmp_path: Path, fleet: dict[str, Path]) -> None:
    missing = str(tmp_path / "remotes" / "gone.git")
    specs = [str(p) for p in fleet.values()] + [missing, "file:///nonexistent/repo.git"]
    heads = {name: git(p, "rev-parse", "main").strip() for name, p in fleet.items()}

    code, report = run_batch(tmp_path, "--push", *specs)

    assert code == 1  # some failed
    outcomes = {name: report[str(p)]["outcome"] for name, p in fleet.items()}
    assert outcomes == {
        "root": "pushed",
        "multi": "pushed",
        "compliant": "compliant",
        "empty": "no-dockerfile",
        "gosu": "drops-privileges",
        "rejects": "failed",
    }
    assert report[missing]["outcome"] == "failed"
    assert "no such repository" in report[missing]["reason"]
    assert report["file:///nonexistent/repo.git"]["outcome"] == "failed"
    assert "protected: no new branches" in report[str(fleet["rejects"])]["reason"]
    changes = [(f["path"], f["changed"]) for f in report[str(fleet["multi"])]["files"]]
    assert changes == MULTI_CHANGES
    assert report[str(fleet["root"])]["branch"] == BRANCH
    # A push the remote refused keeps what was known: the base, the files, the fix commit
    # (in the cache clone, where a rerun finds and pushes it).
    rejected = report[str(fleet["rejects"])]
    assert rejected["base_sha"] == heads["rejects"]
    assert [f["path"] for f in rejected["files"]] == ["Dockerfile"]
    clone = next((tmp_path / "cache" / "fixuser" / "batch" / "repos").glob("*-rejects-*"))
    assert remote_branches(clone)[BRANCH] == rejected["commit_sha"]
    assert list(report) == specs  # in the order given

    for name in ("root", "multi"):
        remote = fleet[name]
        assert set(remote_branches(remote)) == {"main", BRANCH}
        assert git(remote, "rev-parse", f"{BRANCH}^").strip() == heads[name]
        assert git(remote, "show", f"{BRANCH}:Dockerfile").encode() == fixed(ROOT)
        who = git(remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH).strip()
        assert who == "fixuser <fixuser@localhost>|fixuser <fixuser@localhost>"
        message = git(remote, "log", "-1", "--format=%B", BRANCH)
        assert message.rstrip().endswith(TRAILER)
        assert "CIS Docker Benchmark 4.1" in message
        assert "\nVerify locally\n--------------\n" in message
        assert comment_lines(message) == []
    changed = git(fleet["multi"], "diff", "--name-only", "main", BRANCH).split()
    assert changed == ["Dockerfile", "svc/api/Containerfile"]
    for name in ("compliant", "empty", "gosu", "rejects"):
        assert set(remote_branches(fleet[name])) == {"main"}

    markdown = (tmp_path / "report.md").read_text()
    assert "## pushed (2)" in markdown
    assert "## failed (3)" in markdown
    assert markdown.count("<details><summary>") == 2  # the PR description of each fix
    assert "### `svc/api/Containerfile`" in markdown
    assert json.loads((tmp_path / "report.json").read_text())["repositories"][0].keys() == {
        "repo",
        "outcome",
        "branch",
        "files",
        "reason",
        "url",
        "base_sha",
        "commit_sha",
        "overrides",
    }


def numstat(tmp_path: Path, old: bytes, new: bytes) -> str:
    """git's own diff stat of two texts, as batch reports it: ``+added -removed``."""
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    proc = subprocess.run(
        ["git", "diff", "--no-index", "--numstat", "old", "new"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    added, removed, _ = proc.stdout.split("\t", 2)
    return f"+{added} -{removed}"


def test_dry_run_writes_nothing(
    tmp_path: Path, fleet: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = {name: snapshot(p) for name, p in fleet.items()}

    code, report = run_batch(tmp_path, "--dry-run", "--push", str(fleet["multi"]))

    assert code == 0
    record = report[str(fleet["multi"])]
    assert record["outcome"] == "would-fix"
    changes = [(f["path"], f["changed"]) for f in record["files"]]
    assert changes == MULTI_CHANGES
    assert record["base_sha"] == git(fleet["multi"], "rev-parse", "main").strip()
    assert record["commit_sha"] is None
    assert record["reason"].startswith(f"Dockerfile {numstat(tmp_path, ROOT, fixed(ROOT))}, ")
    assert {name: snapshot(p) for name, p in fleet.items()} == before
    clones = list((tmp_path / "cache" / "fixuser" / "batch" / "repos").iterdir())
    assert len(clones) == 1
    assert git(clones[0], "for-each-ref", "--format=%(refname)", "refs/heads").split() == [
        "refs/heads/main"
    ]
    assert "would-fix" in capsys.readouterr().out


def test_rerun_reuses_its_branch(tmp_path: Path, fleet: dict[str, Path]) -> None:
    spec = str(fleet["root"])
    assert run_batch(tmp_path, "--push", spec)[0] == 0
    first = remote_branches(fleet["root"])[BRANCH]

    code, report = run_batch(tmp_path, "--push", spec)

    assert code == 0
    assert report[spec]["outcome"] == "unchanged"
    assert remote_branches(fleet["root"])[BRANCH] == first
    # A fresh cache (another machine) finds the pushed branch and reuses it too.
    code, report = run_batch(tmp_path, "--push", "--workdir", str(tmp_path / "other"), spec)
    assert (code, report[spec]["outcome"]) == (0, "unchanged")
    assert remote_branches(fleet["root"])[BRANCH] == first
    assert git(fleet["root"], "rev-list", "--count", f"main..{BRANCH}").strip() == "1"


def test_conflict_skip_and_replace(tmp_path: Path, fleet: dict[str, Path]) -> None:
    spec = str(fleet["root"])
    assert run_batch(tmp_path, "--push", spec)[0] == 0
    old = remote_branches(fleet["root"])[BRANCH]
    # main moves on: the earlier fixuser branch is now stale.
    work = tmp_path / "remotes" / "work" / "root"
    (work / "README.md").write_text("new\n")
    git(work, "add", "README.md")
    git(work, "-c", "user.name=A", "-c", "user.email=a@b", "commit", "-q", "-m", "more")
    git(work, "push", "-q", str(fleet["root"]), "main")

    code, report = run_batch(tmp_path, "--push", spec)
    assert (code, report[spec]["outcome"]) == (0, "skipped-conflict")
    assert remote_branches(fleet["root"])[BRANCH] == old

    code, report = run_batch(tmp_path, "--push", "--conflict", "replace", spec)
    assert (code, report[spec]["outcome"]) == (0, "pushed")
    new = remote_branches(fleet["root"])[BRANCH]
    assert new != old
    assert (
        git(fleet["root"], "rev-parse", f"{BRANCH}^").strip()
        == remote_branches(fleet["root"])["main"]
    )


def test_replace_never_touches_a_branch_fixuser_did_not_make(
    tmp_path: Path, fleet: dict[str, Path]
) -> None:
    spec = str(fleet["root"])
    git(fleet["root"], "branch", BRANCH, "main")  # somebody's own branch of that name
    theirs = remote_branches(fleet["root"])[BRANCH]

    code, report = run_batch(tmp_path, "--push", "--conflict", "replace", spec)

    assert (code, report[spec]["outcome"]) == (0, "skipped-conflict")
    assert "fixuser did not make it" in report[spec]["reason"]
    assert remote_branches(fleet["root"])[BRANCH] == theirs


def test_local_checkout_is_never_modified(tmp_path: Path, fleet: dict[str, Path]) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(fleet["multi"]), str(checkout))
    (checkout / "scratch.txt").write_text("uncommitted work\n")
    before = snapshot(checkout)

    code, report = run_batch(tmp_path, "--push", str(checkout))

    assert (code, report[str(checkout)]["outcome"]) == (0, "pushed")
    assert snapshot(checkout) == before
    # The checkout's own remote received the branch.
    assert BRANCH in remote_branches(fleet["multi"])


def test_without_push_commits_in_the_cache_only(tmp_path: Path, fleet: dict[str, Path]) -> None:
    code, report = run_batch(tmp_path, str(fleet["root"]))
    record = report[str(fleet["root"])]
    assert (code, record["outcome"], record["url"]) == (0, "committed", None)
    clone = Path(record["reason"].removeprefix("in "))
    assert git(clone, "show", f"{BRANCH}:Dockerfile").encode() == fixed(ROOT)
    assert set(remote_branches(fleet["root"])) == {"main"}


def test_repository_settings_and_explicit_flags(tmp_path: Path) -> None:
    own = {"Dockerfile": ROOT, "pyproject.toml": b"[tool.fixuser]\nuid = 2000\n"}
    remote = make_remote(tmp_path / "remotes", "own", own)
    run_batch(tmp_path, "--push", str(remote))
    assert "USER 2000:2000" in git(remote, "show", f"{BRANCH}:Dockerfile")

    other = make_remote(tmp_path / "remotes", "flag", own)
    run_batch(tmp_path, "--push", "--uid", "3000", str(other))
    assert "USER 3000:3000" in git(other, "show", f"{BRANCH}:Dockerfile")


def test_retry_failed_reruns_only_the_failures(tmp_path: Path, fleet: dict[str, Path]) -> None:
    state = tmp_path / "state.json"
    specs = [str(fleet["root"]), str(fleet["rejects"])]
    code, _ = run_batch(tmp_path, "--push", "--state", str(state), *specs)
    assert code == 1
    (fleet["rejects"] / "hooks" / "pre-receive").unlink()
    add_hook(fleet["root"], "pre-receive", "exit 1\n")  # would fail if it were pushed again

    code, report = run_batch(tmp_path, "--push", "--state", str(state), "--retry-failed", *specs)

    assert code == 0
    assert [r["outcome"] for r in report.values()] == ["pushed", "pushed"]
    assert BRANCH in remote_branches(fleet["rejects"])


def test_shards_partition_the_list_and_reports_merge(tmp_path: Path) -> None:
    specs = [f"https://example.test/team/repo-{i}.git" for i in range(30)]
    shards = [[s for s in specs if in_shard(s, (k, 3))] for k in (1, 2, 3)]
    assert sorted(s for shard in shards for s in shard) == sorted(specs)
    assert all(shards)  # each shard gets some

    remotes = [make_remote(tmp_path / "remotes", f"r{i}", {"Dockerfile": ROOT}) for i in range(4)]
    reports = []
    for k in (1, 2):
        report = tmp_path / f"shard-{k}.json"
        main(["batch", "--shard", f"{k}/2", "--report", str(report), *map(str, remotes)])
        reports.append(str(report))
    merged = tmp_path / "all.json"
    assert main(["batch-report", "--report", str(merged), *reports]) == 0
    records = json.loads(merged.read_text())["repositories"]
    assert sorted(r["repo"] for r in records) == sorted(map(str, remotes))
    assert {r["outcome"] for r in records} == {"committed"}
    written = [json.loads(Path(name).read_text())["repositories"] for name in reports]
    assert records == written[0] + written[1]  # file objects and commits as the shards wrote them
    for r in records:
        (entry,) = r["files"]
        assert entry == {
            "path": "Dockerfile",
            "verdict": "root",
            "family": "debian",
            "user": "10001:10001",
            "warnings": [],
            "changed": True,
        }
        assert r["commit_sha"] and r["base_sha"]
    markdown = merged.with_suffix(".md").read_text()
    assert markdown.count("**root** (1)\n\n- `Dockerfile` (debian): the fix runs it as") == 4


def test_repos_file_and_limit(tmp_path: Path, fleet: dict[str, Path]) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text(f"# the fleet\n{fleet['compliant']}\n\n{fleet['empty']}  # none\n")
    code, report = run_batch(tmp_path, "--repos-file", str(listing), "--limit", "1")
    assert code == 0
    assert list(report) == [str(fleet["compliant"])]


@pytest.mark.parametrize("args", [[], ["--uid", "0", "x"], ["--open-pr", "github", "--push", "x"]])
def test_cannot_start_exits_2(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main(["batch", *args]) == 2


def test_bad_shard_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["batch", "--shard", "3/2", "x"])
    assert raised.value.code == 2


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_resume_after_kill_does_not_duplicate(tmp_path: Path, how: signal.Signals) -> None:
    """A run stopped while pushing (kill -9, or Ctrl-C, to the whole process group as a
    terminal sends it), then --resume finishes it without a second branch anywhere."""
    remotes = [make_remote(tmp_path / "remotes", f"r{i}", {"Dockerfile": ROOT}) for i in range(4)]
    marker = tmp_path / "reached"
    add_hook(remotes[2], "pre-receive", f"touch {marker}\nsleep 60\n")
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "fixuser", "batch", "--jobs", "1", "--push"]
    command += ["--state", str(state), *map(str, remotes)]
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, how)
    _, stderr = proc.communicate(timeout=60)
    if how == signal.SIGINT:
        assert proc.returncode == 130
        assert b"--resume" in stderr

    done = {r["repo"] for r in json.loads(state.read_text())["repositories"]}
    assert done == {str(remotes[0]), str(remotes[1])}
    assert BRANCH not in remote_branches(remotes[2])
    (remotes[2] / "hooks" / "pre-receive").unlink()
    pushed_before = {str(r): remote_branches(r).get(BRANCH) for r in remotes[:2]}

    code, report = run_batch(
        tmp_path, "--push", "--state", str(state), "--resume", *map(str, remotes)
    )

    assert code == 0
    assert [r["outcome"] for r in report.values()] == ["pushed"] * 4
    for remote in remotes:
        assert git(remote, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"
    assert {str(r): remote_branches(r)[BRANCH] for r in remotes[:2]} == pushed_before
    # The descriptions of the repositories done before the kill survive into the report.
    assert (tmp_path / "report.md").read_text().count("<details><summary>") == 4


def test_open_pr_pushes_and_opens_a_draft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """https://github.com/acme/* is rewritten (insteadOf) to local bare remotes, and the API
    to a local server that records each request."""
    remote = make_remote(tmp_path / "remotes" / "acme", "app", {"Dockerfile": ROOT})
    gitconfig = tmp_path / "home" / ".gitconfig"
    rewrite = f'[url "file://{remote.parent}/"]\n\tinsteadOf = https://github.com/acme/\n'
    gitconfig.write_text(gitconfig.read_text() + rewrite)
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
            answer = json.dumps({"html_url": "https://github.com/acme/app/pull/9"}).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    spec = "https://github.com/acme/app.git"
    try:
        code, report = run_batch(
            tmp_path,
            "--push",
            "--open-pr",
            "github",
            "--pr-delay",
            "0",
            "--forge-url",
            f"http://127.0.0.1:{httpd.server_address[1]}",
            spec,
        )
    finally:
        httpd.shutdown()

    assert code == 0
    assert report[spec]["outcome"] == "pushed"
    assert report[spec]["url"] == "https://github.com/acme/app/pull/9"
    assert BRANCH in remote_branches(remote)
    (request,) = seen
    assert request["path"] == "/repos/acme/app/pulls"
    assert request["auth"] == "Bearer ghp_test"
    body = request["body"]
    assert (body["head"], body["base"], body["draft"]) == (BRANCH, "main", True)
    message = git(remote, "log", "-1", "--format=%B", BRANCH)
    # The PR body is the Markdown rendering of what the commit message says in plain text.
    assert "### `Dockerfile`" in body["body"] and "### Verify locally" in body["body"]
    assert "Dockerfile\n----------\n" in message and comment_lines(message) == []
    commands = body["body"].split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands and all(f"\n    {line}\n" in message for line in commands)


def test_compare_url_without_open_pr(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "remotes" / "acme", "web", {"Dockerfile": ROOT})
    gitconfig = tmp_path / "home" / ".gitconfig"
    rewrite = f'[url "file://{remote.parent}/"]\n\tinsteadOf = https://github.com/acme/\n'
    gitconfig.write_text(gitconfig.read_text() + rewrite)
    spec = "https://github.com/acme/web.git"
    code, report = run_batch(tmp_path, "--push", spec)
    assert (code, report[spec]["outcome"]) == (0, "pushed")
    expected = f"https://github.com/acme/web/compare/main...{BRANCH}?expand=1"
    assert report[spec]["url"] == expected


@pytest.mark.engine
def test_verify_proves_each_fix_before_committing(
    tmp_path: Path, running_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real build before and after; the branch is pushed only once the UID is proven."""
    offline = b'FROM docker.io/library/debian:bookworm-slim\nCOPY app /app\nCMD ["sleep", "60"]\n'
    remote = make_remote(tmp_path / "remotes", "svc", {"deploy/Dockerfile": offline})
    # The proof builds from the Dockerfile's directory of the base commit.
    work = tmp_path / "remotes" / "work" / "svc"
    (work / "deploy" / "app").write_text("#!/bin/sh\n")
    git(work, "add", "-A")
    git(work, "-c", "user.name=A", "-c", "user.email=a@b", "commit", "-q", "-m", "app")
    git(work, "push", "-q", str(remote), "main")
    spec = str(remote)

    code, report = run_batch(
        tmp_path, "--push", "--verify", "--engine", running_engine.name, "--jobs", "1", spec
    )

    assert (code, report[spec]["outcome"]) == (0, "pushed"), report[spec]["reason"]
    assert BRANCH in remote_branches(remote)


def test_verify_without_an_engine_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(only_git))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert main(["batch", "--verify", "--push", str(tmp_path)]) == 2
    assert "--verify" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_counts_each_outcome() -> None:
    screen = Terminal()
    progress = Progress(3, screen)
    for outcome in ("pushed", "failed", "pushed"):
        progress.update(Record("r", outcome))
    progress.close()
    last = screen.getvalue().split("\r")[-1]
    assert last == "\x1b[K[########################] 3/3 pushed 2 failed 1\n"


def test_progress_without_a_terminal_prints_plain_lines() -> None:
    out = io.StringIO()
    progress = Progress(2, out)
    progress.update(Record("a", "compliant"))
    progress.update(Record("b", "failed", reason="clone failed"))
    assert out.getvalue() == "[1/2] a: compliant\n[2/2] b: failed: clone failed\n"


def test_repositories_from_stdin(
    tmp_path: Path, fleet: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{fleet['empty']}\n# skip\n{fleet['gosu']}\n"))
    code, report = run_batch(tmp_path, "-")
    assert code == 0
    assert [r["outcome"] for r in report.values()] == ["no-dockerfile", "drops-privileges"]


def test_base_branch_is_fixed_and_targeted(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "remotes", "two", {"Dockerfile": COMPLIANT})
    work = tmp_path / "remotes" / "work" / "two"
    git(work, "checkout", "-q", "-b", "develop")
    (work / "Dockerfile").write_bytes(ROOT)
    git(work, "-c", "user.name=A", "-c", "user.email=a@b", "commit", "-q", "-am", "root")
    git(work, "push", "-q", str(remote), "develop")

    assert run_batch(tmp_path, "--push", str(remote))[1][str(remote)]["outcome"] == "compliant"
    code, report = run_batch(tmp_path, "--push", "--base", "origin/develop", str(remote))

    assert (code, report[str(remote)]["outcome"]) == (0, "pushed")
    develop = remote_branches(remote)["develop"]
    assert git(remote, "rev-parse", f"{BRANCH}^").strip() == develop


def test_gitlab_push_options_open_the_merge_request_with_the_push(tmp_path: Path) -> None:
    """The remote records the push options it receives and answers as GitLab does."""
    remote = make_remote(tmp_path / "remotes", "gl", {"Dockerfile": ROOT})
    git(remote, "config", "receive.advertisePushOptions", "true")
    seen = tmp_path / "push-options"
    add_hook(
        remote,
        "pre-receive",
        'i=0; while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
        f'  eval "echo \\"\\$GIT_PUSH_OPTION_$i\\"" >> {seen}; i=$((i+1))\ndone\n',
    )
    add_hook(
        remote,
        "post-receive",
        "echo 'View merge request for fixuser/cis-4.1-non-root-user:' >&2\n"
        "echo '  https://gitlab.example.com/acme/gl/-/merge_requests/12' >&2\n",
    )

    code, report = run_batch(tmp_path, "--push", "--open-pr", "gitlab-push", str(remote))

    assert (code, report[str(remote)]["outcome"]) == (0, "pushed")
    assert report[str(remote)]["url"] == "https://gitlab.example.com/acme/gl/-/merge_requests/12"
    assert seen.read_text().splitlines() == [
        "merge_request.create",
        "merge_request.draft",
        "merge_request.title=Run container as a non-root user (CIS Docker 4.1)",  # one file
        "merge_request.target=main",
    ]


def test_repos_list_comments_start_a_line_or_follow_a_space() -> None:
    lines = ["# the fleet", "a  # old", "https://host/x.git#frag", "   ", "b"]
    assert parse_list(lines) == ["a", "https://host/x.git#frag", "b"]


def test_batch_report_later_reports_win_and_failures_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, rerun = tmp_path / "shard-1.json", tmp_path / "shard-1-rerun.json"
    first.write_text(
        '{"repositories": [{"repo": "a", "outcome": "failed", "reason": "timeout"},'
        ' {"repo": "b", "outcome": "compliant"}]}'
    )
    rerun.write_text('{"repositories": [{"repo": "a", "outcome": "pushed", "branch": "x"}]}')
    assert main(["batch-report", str(first)]) == 1
    assert main(["batch-report", str(first), str(rerun)]) == 0
    assert "2 repositories: 1 pushed, 1 compliant" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"repos": []}')
    assert main(["batch-report", str(tmp_path / "bad.json")]) == 2


def test_needs_root_and_invalid_user_get_outcomes_of_their_own(tmp_path: Path) -> None:
    remotes = tmp_path / "remotes"
    sshd = make_remote(
        remotes,
        "sshd",
        {"Dockerfile": b'FROM debian:bookworm-slim\nCMD ["/usr/sbin/sshd", "-D"]\n'},
    )
    typo = make_remote(
        remotes, "typo", {"Dockerfile": b"FROM debian:bookworm-slim\nUSER ROOT\nCMD sh\n"}
    )
    code, report = run_batch(tmp_path, "--push", str(sshd), str(typo))
    assert code == 1  # the repository whose Dockerfile cannot start failed
    assert report[str(sshd)]["outcome"] == "needs-root"
    assert "sshd must start as root" in report[str(sshd)]["reason"]
    assert report[str(typo)]["outcome"] == "failed"
    assert "USER ROOT names no user" in report[str(typo)]["reason"]
    for remote in (sshd, typo):
        assert set(remote_branches(remote)) == {"main"}
    assert "## needs-root (1)" in (tmp_path / "report.md").read_text()


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "fixuser" / "batch").glob("state-*.json"))


def test_dry_run_records_no_state_so_push_resume_does_the_work(
    tmp_path: Path, fleet: dict[str, Path]
) -> None:
    specs = [str(fleet[name]) for name in ("root", "multi", "gosu", "compliant")]

    code, report = run_batch(tmp_path, "--dry-run", *specs)
    assert code == 0
    assert [r["outcome"] for r in report.values()] == [
        "would-fix",
        "would-fix",
        "drops-privileges",
        "compliant",
    ]
    assert state_files(tmp_path) == []  # the default state of this list: not written

    code, report = run_batch(tmp_path, "--push", "--resume", *specs)

    assert code == 0
    assert [r["outcome"] for r in report.values()] == [
        "pushed",
        "pushed",
        "drops-privileges",
        "compliant",
    ]
    for name in ("root", "multi"):
        assert set(remote_branches(fleet[name])) == {"main", BRANCH}
    for name in ("gosu", "compliant"):
        assert set(remote_branches(fleet[name])) == {"main"}
    # A later dry run leaves the real run's state as it is, with or without --resume.
    (state,) = state_files(tmp_path)
    written = state.read_bytes()
    for extra in ([], ["--resume"]):
        code, report = run_batch(tmp_path, "--dry-run", *extra, *specs)
        assert state.read_bytes() == written
    assert report[specs[0]]["outcome"] == "pushed"  # --resume: what is done stays done


def test_resume_redoes_a_recorded_would_fix(tmp_path: Path, fleet: dict[str, Path]) -> None:
    """A state file of an older fixuser, whose dry runs recorded would-fix (and whose files
    were paths alone)."""
    root, compliant, gosu = (str(fleet[name]) for name in ("root", "compliant", "gosu"))
    state = tmp_path / "state.json"
    old = [
        {"repo": root, "outcome": "would-fix", "branch": BRANCH, "files": ["Dockerfile"]},
        {"repo": compliant, "outcome": "compliant", "files": ["Dockerfile"], "reason": "earlier"},
    ]
    state.write_text(json.dumps({"repositories": old}))

    code, report = run_batch(
        tmp_path, "--push", "--resume", "--state", str(state), root, compliant, gosu
    )

    assert code == 0
    assert report[root]["outcome"] == "pushed"
    assert report[root]["commit_sha"] == remote_branches(fleet["root"])[BRANCH]
    assert report[compliant]["reason"] == "earlier"  # kept, not redone
    entry = {"path": "Dockerfile", "verdict": "", "family": "", "user": "", "warnings": []}
    assert report[compliant]["files"] == [{**entry, "changed": False}]
    assert report[gosu]["outcome"] == "drops-privileges"  # never reached: done now
    saved = {r["repo"]: r["outcome"] for r in json.loads(state.read_text())["repositories"]}
    assert saved == {root: "pushed", compliant: "compliant", gosu: "drops-privileges"}
    assert "**not recorded** (1)" in (tmp_path / "report.md").read_text()


MIXED = {
    "Dockerfile": b'FROM debian:bookworm-slim\nEXPOSE 80\nCOPY app /app\nCMD ["/app/run"]\n',
    "svc/api/Containerfile": ROOT,
    "svc/ok/Dockerfile": COMPLIANT,
    **{f"svc/gosu-{i}/Dockerfile": GOSU for i in range(3)},
    "svc/web/Dockerfile": b"FROM nginx:1.25\nCOPY site /usr/share/nginx/html\n",
    "svc/ssh/Dockerfile": b'FROM debian:bookworm-slim\nCMD ["/usr/sbin/sshd", "-D"]\n',
    "svc/typo/Dockerfile": b"FROM debian:bookworm-slim\nUSER ROOT\nCMD sh\n",
    "svc/skip/Dockerfile": b"# fixuser: ignore\nFROM debian:bookworm-slim\nCMD sh\n",
    "svc/var/Dockerfile": b"FROM debian:bookworm-slim\nUSER $APPUSER\nCMD sh\n",
    "svc/bin/Dockerfile": b"\x00\x01 not a Dockerfile",
}


def test_report_says_what_happened_to_every_dockerfile(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "remotes", "mixed", MIXED)
    spec = str(remote)
    base = git(remote, "rev-parse", "main").strip()

    code, report = run_batch(tmp_path, "--push", spec)

    assert code == 0
    record = report[spec]
    assert record["outcome"] == "pushed"
    assert record["base_sha"] == base
    assert record["commit_sha"] == remote_branches(remote)[BRANCH]
    assert git(remote, "rev-parse", f"{BRANCH}^").strip() == base
    files = {f["path"]: f for f in record["files"]}
    assert list(files) == sorted(MIXED)  # one object per Dockerfile, by path
    verdicts = {path: (f["verdict"], f["family"], f["changed"]) for path, f in files.items()}
    assert verdicts == {
        "Dockerfile": ("root", "debian", True),
        "svc/api/Containerfile": ("root", "debian", True),
        "svc/ok/Dockerfile": ("compliant", "debian", False),
        **{f"svc/gosu-{i}/Dockerfile": ("drops-privileges", "debian", False) for i in range(3)},
        "svc/web/Dockerfile": ("root-by-design", "debian", False),
        "svc/ssh/Dockerfile": ("needs-root", "debian", False),
        "svc/typo/Dockerfile": ("invalid-user", "debian", False),
        "svc/skip/Dockerfile": ("ignored", "debian", False),
        "svc/var/Dockerfile": ("unknown", "debian", False),
        "svc/bin/Dockerfile": ("error", "", False),
    }
    # The fixed files: the user the branch now runs them as, no reason; the warnings.
    for path in ("Dockerfile", "svc/api/Containerfile"):
        assert f"USER {files[path]['user']}\n" in git(remote, "show", f"{BRANCH}:{path}")
        assert "reason" not in files[path]
    assert files["Dockerfile"]["warnings"] == [
        "line 2: EXPOSE 80: a port below 1024 needs root or CAP_NET_BIND_SERVICE; move the "
        "server to a port >= 1024"
    ]
    assert files["svc/api/Containerfile"]["warnings"] == []
    # Those left alone: the user as found, and why.
    assert files["svc/ok/Dockerfile"]["user"] == "10001:10001 (line 6)"
    assert "reason" not in files["svc/ok/Dockerfile"]
    assert files["svc/gosu-0/Dockerfile"]["user"] == "root (the base image's default)"
    assert files["svc/gosu-0/Dockerfile"]["reason"] == "line 3: the entrypoint execs gosu"
    assert "root master process" in files["svc/web/Dockerfile"]["reason"]
    assert "sshd must start as root" in files["svc/ssh/Dockerfile"]["reason"]
    assert files["svc/typo/Dockerfile"]["user"] == "ROOT (line 2)"
    assert "USER ROOT names no user" in files["svc/typo/Dockerfile"]["reason"]
    assert files["svc/skip/Dockerfile"]["reason"] == "# fixuser: ignore at the top of the file"
    assert files["svc/var/Dockerfile"]["user"] == "$APPUSER"
    assert "$APPUSER, which has no value" in files["svc/var/Dockerfile"]["reason"]
    assert files["svc/bin/Dockerfile"]["reason"] == "binary data, not a Dockerfile"
    changed = git(remote, "diff", "--name-only", "main", BRANCH).split()
    assert changed == [p for p, f in files.items() if f["changed"]]

    # The Markdown: each path once, under its verdict, with its own reason (each text as
    # Markdown writes it: escaped, see test_escape.py).
    markdown = (tmp_path / "report.md").read_text()
    section = markdown.split(f"### {md_text(spec)}\n", 1)[1].split("\n## ", 1)[0]
    assert f"pushed · base `{base[:12]}` · fix commit `{record['commit_sha'][:12]}`" in section
    under: dict[str, str] = {}
    heading = ""
    for line in section.splitlines():
        if line.startswith("**"):
            heading = line
        elif line.startswith("- `"):
            path = line[3:].split("`", 1)[0]
            assert path not in under
            under[path] = heading
            if files[path].get("reason"):
                assert line.endswith(md_text(files[path]["reason"]))
    assert under == {
        path: f"**{f['verdict']}** ({sum(g['verdict'] == f['verdict'] for g in files.values())})"
        for path, f in files.items()
    }
    assert under["svc/gosu-2/Dockerfile"] == "**drops-privileges** (3)"
    assert "  - warning: line 2: EXPOSE 80" in section

    # The state file round trip: --resume keeps the record as it was, file objects and all.
    (state,) = state_files(tmp_path)
    first = json.loads((tmp_path / "report.json").read_text())
    code, _ = run_batch(tmp_path, "--push", "--resume", "--state", str(state), spec)
    assert json.loads((tmp_path / "report.json").read_text()) == first


# -- what the commit message and the PR description tell the reviewer --------------------------

NODE = (
    b"FROM node:20-bookworm-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nEXPOSE 80\n"
    b'CMD ["node", "server.js"]\n'
)
DISTROLESS = (
    b'FROM gcr.io/distroless/static-debian12\nCOPY server /server\nENTRYPOINT ["/server"]\n'
)
SCRATCH = b'FROM scratch\nCOPY server /server\nENTRYPOINT ["/server"]\n'
REVIEWED = {
    "web/Dockerfile": NODE,
    "static/Dockerfile": DISTROLESS,
    "bare/Dockerfile": SCRATCH,
    "Dockerfile": ROOT,
}


def verify_commands(text: str, path: str) -> str:
    """The verify commands of the image built from ``path``: its build line to its rm line."""
    start = text.index(f"docker build -f {path} ")
    return text[start : text.index('docker rm -f "$cid"', start)]


@pytest.mark.parametrize("uid", [None, 2345])
def test_commit_message_and_description_are_true(tmp_path: Path, uid: int | None) -> None:
    remote = make_remote(tmp_path / "remotes", "reviewed", REVIEWED)
    flags = ["--uid", str(uid)] if uid else []
    code, report = run_batch(tmp_path, "--push", *flags, str(remote))
    assert (code, report[str(remote)]["outcome"]) == (0, "pushed")
    message = git(remote, "log", "-1", "--format=%B", BRANCH)
    markdown = (tmp_path / "report.md").read_text()
    pr = markdown.split("<details><summary>", 1)[1].split("</details>", 1)[0]

    assert message.splitlines()[0] == "Run containers as a non-root user (CIS Docker 4.1)"
    assert "fixuser rewrote 4 Dockerfiles so each" in message.replace("\n", " ")
    assert "fixuser rewrote 4 Dockerfiles." in pr
    created = uid or 10001
    want = {"web/Dockerfile": 1000, "static/Dockerfile": 65532, "bare/Dockerfile": 65534}
    for path, number in {**want, "Dockerfile": created}.items():
        for text, heading in ((message, f"\n{path}\n{'-' * len(path)}\n"), (pr, f"### `{path}`\n")):
            runs_as = text.split(heading, 1)[1].split("Runs as: ", 1)[1].split("\n", 1)[0]
            assert runs_as.endswith(f", UID {number}")
            verify = verify_commands(text, path)
            assert f"# expect {number}:{number}" in verify
            assert f"# expect {number}, not 0" in verify
            assert "--entrypoint" not in verify
            if path in ("static/Dockerfile", "bare/Dockerfile"):  # no shell, no cat
                assert "grep '^Uid:' /proc/$(docker inspect --format '{{.State.Pid}}'" in verify
                assert "docker exec" not in verify
            else:
                assert "docker exec \"$cid\" cat /proc/1/status | grep '^Uid:'" in verify
    if uid:
        assert "10001" not in message and "10001" not in pr
    warning = "line 5: EXPOSE 80: a port below 1024"
    assert f"  - Warning: {warning}" in message
    assert f"- ⚠ {warning}" in pr
    assert "\n    git fetch origin " + BRANCH + " && git switch " + BRANCH + "\n" in message

    assert comment_lines(message) == []
    before, after = amend_round_trip(remote, BRANCH, tmp_path / "amend")
    assert after == before == message
    assert after.rstrip().endswith(TRAILER)


def test_one_file_is_one_container(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "remotes", "one", {"Dockerfile": ROOT})
    code, _ = run_batch(tmp_path, "--push", str(remote))
    assert code == 0
    message = git(remote, "log", "-1", "--format=%B", BRANCH)
    assert message.splitlines()[0] == "Run container as a non-root user (CIS Docker 4.1)"
    assert "fixuser rewrote 1 Dockerfile so its" in message.replace("\n", " ")
    pr = (tmp_path / "report.md").read_text().split("<details><summary>", 1)[1]
    assert "makes the container run" in pr and "fixuser rewrote 1 Dockerfile." in pr


def test_commit_message_of_a_plain_description_has_no_comment_lines() -> None:
    message = batch.commit_message("Intro.\n\n### `Dockerfile`\n\n- Runs as: `USER 1000`\n")
    assert comment_lines(message) == []
    assert "\n`Dockerfile`\n------------\n" in message
    assert message.endswith(f"\n\n{TRAILER}\n")


def test_summary_and_resume_lines_say_one_repository_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = make_remote(tmp_path / "remotes", "one", {"Dockerfile": COMPLIANT})
    run_batch(tmp_path, str(remote))
    assert "\n1 repository: 1 compliant\n" in capsys.readouterr().out
    run_batch(tmp_path, "--resume", str(remote))
    assert "fixuser batch: 1 repository already done in" in capsys.readouterr().err


# -- a report or state that cannot be written ---------------------------------------------------


@pytest.mark.parametrize("how", ["under-a-file", "a-fifo", "a-directory", "a-dangling-link"])
def test_an_unwritable_report_is_refused_before_any_repository_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    remote = make_remote(tmp_path / "remotes", "root", {"Dockerfile": ROOT})
    report = tmp_path / "report.json"
    if how == "under-a-file":
        (tmp_path / "file").write_text("a file, not a directory\n")
        report = tmp_path / "file" / "report.json"
    elif how == "a-fifo":
        os.mkfifo(report)  # never replaced, never opened
    elif how == "a-directory":
        report.mkdir()
    else:
        report.symlink_to(tmp_path / "nowhere" / "report.json")
    code = main(["batch", "--push", "--report", str(report), str(remote)])
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"fixuser batch: --report {report}: cannot write it: ")
    assert set(remote_branches(remote)) == {"main"}
    assert not (tmp_path / "cache" / "fixuser" / "batch" / "repos").exists()  # nothing cloned
    if how == "a-fifo":
        assert stat.S_ISFIFO(os.lstat(report).st_mode)


def test_a_full_disk_for_the_state_keeps_the_run_going_and_the_report_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remotes = [make_remote(tmp_path / "remotes", f"r{i}", {"Dockerfile": ROOT}) for i in range(2)]
    with small_disk(tmp_path / "disk") as disk:
        state = disk / "state.json"
        fill(disk, 1)  # the page the run's first, empty, state takes: then no more
        code, report = run_batch(tmp_path, "--state", str(state), *map(str, remotes))
        err = capsys.readouterr().err
        assert json.loads(state.read_text()) == {"repositories": []}
    assert code == 2
    assert [r["outcome"] for r in report.values()] == ["committed", "committed"]
    said = f"cannot write the state {state}: No space left on device"
    assert err.count(f"fixuser batch: {said}; the run goes on\n") == 1
    assert f"fixuser batch: {said}: a --resume would miss what it does not hold\n" in err
    assert "Traceback" not in err


def test_a_full_disk_for_the_report_writes_what_fits_and_says_what_did_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = make_remote(tmp_path / "remotes", "root", {"Dockerfile": ROOT})
    with small_disk(tmp_path / "disk") as disk:
        report = disk / "report.json"
        fill(disk, 1)  # room for the JSON, none left for the Markdown
        code = main(["batch", "--report", str(report), str(remote)])
        err = capsys.readouterr().err
        records = json.loads(report.read_text())["repositories"]
        assert not report.with_suffix(".md").exists()
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "report.json"]  # no temp
    assert code == 2
    assert [r["outcome"] for r in records] == ["committed"]
    said = f"cannot write the report {report.with_suffix('.md')}: No space left on device"
    assert f"fixuser batch: {said}\n" in err
    assert "Traceback" not in err


def test_paths_that_are_not_utf8_are_committed_as_their_bytes_and_named_as_escapes(
    tmp_path: Path,
) -> None:
    name = os.fsdecode(b"svc\xff")  # a directory name that is not UTF-8, as git allows
    remote = make_remote(tmp_path / "remotes", "latin", {f"{name}/Dockerfile": ROOT})
    code, report = run_batch(tmp_path, str(remote))
    record = report[str(remote)]
    assert (code, record["outcome"]) == (0, "committed"), record["reason"]
    clone = Path(record["reason"].removeprefix("in "))
    shown = subprocess.run(
        ["git", "-C", str(clone), "show", f"{BRANCH}:{name}/Dockerfile"],
        capture_output=True,
        check=True,
    )
    assert shown.stdout == fixed(ROOT, f"{name}/Dockerfile")
    message = subprocess.run(
        ["git", "-C", str(clone), "cat-file", "commit", BRANCH], capture_output=True, check=True
    ).stdout
    assert b"svc\\xff/Dockerfile" in message  # the plain-text message shows the byte escaped
