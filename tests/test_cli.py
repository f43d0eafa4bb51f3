"""check and fix as users run them: a real process, real files, exit codes and streams."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import jsonschema
import pytest
from hypothesis import strategies as st

from fixuser.tree.discover import NAME_PATTERNS, NOT_DOCKERFILES, is_dockerfile_name

ROOT_DOCKERFILE = (
    b"FROM debian:bookworm-slim\n"
    b"RUN apt-get update && apt-get install -y --no-install-recommends curl\n"
    b"COPY app /app\n"
    b'CMD ["/app/run"]\n'
)
COMPLIANT_DOCKERFILE = b"FROM alpine:3.20\nUSER 1000:1000\n"
# OASIS's schema, vendored (tests/fixtures/sarif/README says from where).
SARIF_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"


def fixuser(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    (tmp_path / "ok.Dockerfile").write_bytes(COMPLIANT_DOCKERFILE)
    return tmp_path


def test_check_exits_1_when_a_runtime_stage_runs_as_root(tree: Path) -> None:
    proc = fixuser("check", cwd=tree)
    assert proc.returncode == 1
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "svc/Dockerfile: root: stage 0" in out
    assert "ok.Dockerfile: compliant" in out
    assert "svc/Dockerfile: runs as root (CIS Docker 4.1)" in err
    assert out.endswith("\n2 files: 1 compliant, 1 root\n")


def test_check_exits_0_when_everything_is_compliant(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(COMPLIANT_DOCKERFILE)
    proc = fixuser("check", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.decode().endswith("\n1 file: 1 compliant\n")


def test_check_json_reports_every_file(tree: Path) -> None:
    proc = fixuser("check", "--format", "json", cwd=tree)
    data = json.loads(proc.stdout)
    verdicts = {f["path"]: f["verdict"] for f in data["files"]}
    assert verdicts == {"svc/Dockerfile": "root", "ok.Dockerfile": "compliant"}
    root = next(f for f in data["files"] if f["verdict"] == "root")
    assert root["family"] == "debian" and root["base_image"] == "debian:bookworm-slim"
    assert data["errors"] == []


def test_check_sarif_is_valid_sarif_2_1_0(tree: Path) -> None:
    (tree / "Dockerfile.broken").write_bytes(b"RUN echo no from\n")
    proc = fixuser("check", "--format", "sarif", cwd=tree)
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(data)
    results = data["runs"][0]["results"]
    kinds = {(r["ruleId"], r["kind"]) for r in results}
    assert ("CIS-DOCKER-4.1", "fail") in kinds
    assert ("CIS-DOCKER-4.1", "pass") in kinds


def test_fix_rewrites_in_place_and_exits_1(tree: Path) -> None:
    target = tree / "svc" / "Dockerfile"
    proc = fixuser("fix", cwd=tree)
    assert proc.returncode == 1, proc.stderr
    assert b"USER 10001:10001" in target.read_bytes()
    assert (tree / "ok.Dockerfile").read_bytes() == COMPLIANT_DOCKERFILE
    again = fixuser("fix", cwd=tree)
    assert again.returncode == 0
    assert fixuser("check", cwd=tree).returncode == 0


def test_fix_diff_writes_nothing(tree: Path) -> None:
    proc = fixuser("fix", "--diff", cwd=tree)
    assert proc.returncode == 1
    assert b"+USER 10001:10001" in proc.stdout
    assert (tree / "svc" / "Dockerfile").read_bytes() == ROOT_DOCKERFILE
    assert b"svc/Dockerfile: would fix: USER 10001:10001" in proc.stderr


def test_fix_stdin_to_stdout(tmp_path: Path) -> None:
    proc = fixuser("fix", "-", cwd=tmp_path, stdin=ROOT_DOCKERFILE)
    assert proc.returncode == 1
    assert proc.stdout.startswith(b"FROM debian:bookworm-slim\nRUN groupadd")
    unchanged = fixuser("fix", "-", cwd=tmp_path, stdin=proc.stdout)
    assert unchanged.returncode == 0 and unchanged.stdout == proc.stdout


def test_fix_keeps_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "Dockerfile"
    target.write_bytes(ROOT_DOCKERFILE)
    target.chmod(0o640)
    fixuser("fix", cwd=tmp_path)
    assert target.stat().st_mode & 0o777 == 0o640


def test_fix_writes_through_a_symlink_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "docker" / "Dockerfile.prod"
    real.parent.mkdir()
    real.write_bytes(ROOT_DOCKERFILE)
    link = tmp_path / "Dockerfile"
    link.symlink_to(Path("docker") / "Dockerfile.prod")
    assert fixuser("fix", "Dockerfile", cwd=tmp_path).returncode == 1
    assert link.is_symlink()
    assert b"USER 10001:10001" in real.read_bytes()


def test_symlink_leading_outside_the_root_is_an_error(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    root = tmp_path / "root"
    root.mkdir()
    (root / "Dockerfile").symlink_to(outside / "Dockerfile")
    proc = fixuser("fix", "root", cwd=tmp_path)
    assert proc.returncode == 2
    assert b"root/Dockerfile: symlink leads outside the scanned root" in proc.stderr
    assert (outside / "Dockerfile").read_bytes() == ROOT_DOCKERFILE


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x7fELF\x00\x01\x02", "binary data, not a Dockerfile"),
        (b"", "empty file"),
        (b"# just a comment\n", "no instructions"),
        (b"RUN echo hi\n", "no FROM instruction"),
        (b"RUN echo hi\nFROM debian\n", "RUN before the first FROM"),
        (b"FROM debian\nRUN <<EOT\necho never closed\n", "heredoc <<EOT is never closed"),
    ],
)
def test_bad_input_is_one_line_exit_2_untouched_and_others_still_fixed(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    bad = tmp_path / "bad" / "Dockerfile"
    bad.parent.mkdir()
    bad.write_bytes(content)
    good = tmp_path / "good" / "Dockerfile"
    good.parent.mkdir()
    good.write_bytes(ROOT_DOCKERFILE)
    proc = fixuser("fix", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.decode().splitlines() if line.startswith("bad/")]
    assert len(lines) == 1 and problem in lines[0]
    assert bad.read_bytes() == content
    assert b"USER 10001:10001" in good.read_bytes()


def test_discovery_skips_leftovers_vendor_and_gitignored(tmp_path: Path) -> None:
    for name in (
        "Dockerfile.bak",
        "Dockerfile.orig",
        "Dockerfile.rej",
        "Dockerfile~",
        "Dockerfile.swp",
        "Dockerfile.dockerignore",
    ):
        (tmp_path / name).write_bytes(ROOT_DOCKERFILE)
    for skipped in ("node_modules", "vendor", "ignored"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    (tmp_path / "web.dockerfile").write_bytes(COMPLIANT_DOCKERFILE)
    (tmp_path / "Containerfile.dev").write_bytes(COMPLIANT_DOCKERFILE)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    proc = fixuser("check", "--format", "json", cwd=tmp_path)
    paths = sorted(f["path"] for f in json.loads(proc.stdout)["files"])
    assert paths == ["Containerfile.dev", "web.dockerfile"]
    assert proc.returncode == 0


def test_gitignore_applies_when_scanning_below_the_repository_root(tmp_path: Path) -> None:
    """git is asked only inside a work tree, which is found by looking upwards for .git."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("build/\n")
    for directory in ("deploy/build", "deploy/web"):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "Dockerfile").write_bytes(COMPLIANT_DOCKERFILE)
    proc = fixuser("check", "--format", "json", "web", "build", ".", cwd=tmp_path / "deploy")
    paths = [f["path"] for f in json.loads(proc.stdout)["files"]]
    assert paths == ["web/Dockerfile", "web/Dockerfile"]  # build/ named twice, ignored twice


def test_anchored_gitignore_patterns_apply_to_a_directory_named_from_elsewhere(
    tmp_path: Path,
) -> None:
    # git -C DIR reads relative paths against DIR: discovery once sent it paths relative to
    # the working directory, so `check deploy` from the root missed /deploy/build/.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/deploy/build/\n")
    for directory in ("deploy/build", "deploy/web"):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "Dockerfile").write_bytes(COMPLIANT_DOCKERFILE)
    for cwd, args, expected in (
        (tmp_path, ["deploy"], ["deploy/web/Dockerfile"]),
        (tmp_path, ["./deploy/"], ["deploy/web/Dockerfile"]),
        (tmp_path / "deploy", ["."], ["web/Dockerfile"]),
        (tmp_path / "deploy" / "web", [".."], ["../web/Dockerfile"]),
        (tmp_path.parent, [str(tmp_path)], [str(tmp_path / "deploy/web/Dockerfile")]),
    ):
        proc = fixuser("check", "--format", "json", *args, cwd=cwd)
        assert [f["path"] for f in json.loads(proc.stdout)["files"]] == expected, (cwd, args)


def test_discovery_lists_files_depth_first_in_name_order(tmp_path: Path) -> None:
    for path in ("b/Dockerfile", "a/z/Dockerfile", "a/Dockerfile", "Dockerfile", "a.Dockerfile"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(COMPLIANT_DOCKERFILE)
    (tmp_path / "c").symlink_to(tmp_path / "b")  # a symlinked directory is not entered
    proc = fixuser("check", "--format", "json", cwd=tmp_path)
    paths = [f["path"] for f in json.loads(proc.stdout)["files"]]
    assert paths == ["Dockerfile", "a.Dockerfile", "a/Dockerfile", "a/z/Dockerfile", "b/Dockerfile"]


def test_pyproject_settings_apply_and_flags_beat_them(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fixuser]\nuser = "svc"\nuid = 2000\n')
    proc = fixuser("fix", "-", cwd=tmp_path, stdin=ROOT_DOCKERFILE)
    assert b"USER 2000:2000" in proc.stdout and b" svc" in proc.stdout
    flagged = fixuser("fix", "-", "--uid", "3000", cwd=tmp_path, stdin=ROOT_DOCKERFILE)
    assert b"USER 3000:3000" in flagged.stdout


def test_bad_setting_is_a_one_line_error(tmp_path: Path) -> None:
    proc = fixuser("fix", "-", "--user", "Bad Name", cwd=tmp_path, stdin=ROOT_DOCKERFILE)
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_root_by_design_is_a_finding_left_alone_with_its_remedy(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM nginx:1.27\nCOPY site /usr/share/nginx/html\n")
    check = fixuser("check", cwd=tmp_path)
    assert check.returncode == 1
    fix = fixuser("fix", cwd=tmp_path)
    assert fix.returncode == 0
    assert b"nginx-unprivileged" in fix.stderr
    forced = fixuser("fix", "--force", cwd=tmp_path)
    assert forced.returncode == 1 and b"--force" in forced.stderr


def test_no_terminal_prints_help_instead_of_hanging(tmp_path: Path) -> None:
    proc = fixuser(cwd=tmp_path)
    assert proc.returncode == 2
    assert b"fixuser check" in proc.stderr


def test_version_does_not_import_git_or_questionary(tmp_path: Path) -> None:
    code = (
        "import sys; from fixuser.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('git', 'questionary', 'docker', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.stdout.strip().splitlines()[-1] == b"[]"


# Names made of the globs' own pieces ("Dockerfile", ".bak", "~", ...) and a few other
# characters, so that matches, near misses and leftovers of real names all come up.
NAME_PIECES = sorted(
    {piece for p in NAME_PATTERNS + NOT_DOCKERFILES for piece in p.split("*") if piece}
    | {".", "-", "x", "dockerfile", "Dockerfile.prod"}
)


@hypothesis.given(st.lists(st.sampled_from(NAME_PIECES), max_size=4).map("".join))
def test_dockerfile_names_are_the_globs_fnmatch_reads(name: str) -> None:
    globbed = any(fnmatch.fnmatchcase(name, p) for p in NAME_PATTERNS) and not any(
        fnmatch.fnmatchcase(name, p) for p in NOT_DOCKERFILES
    )
    assert is_dockerfile_name(name) == globbed


def test_output_larger_than_a_pipe_arrives_whole_with_the_exit_code(tmp_path: Path) -> None:
    # check and fix leave through os._exit once their streams are flushed (main.entry):
    # nothing they wrote may be lost, however much, and the exit code must come through.
    for n in range(250):
        (tmp_path / f"{n:03}").mkdir()
        (tmp_path / f"{n:03}" / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    check = fixuser("check", "--format", "json", ".", cwd=tmp_path)
    assert check.returncode == 1
    assert len(check.stdout) > 65536  # more than a pipe holds: written while we read
    assert len(json.loads(check.stdout)["files"]) == 250
    diff = fixuser("fix", "--diff", ".", cwd=tmp_path)
    assert diff.returncode == 1
    assert diff.stdout.count(b"\n+++ b/") == 250 and diff.stdout.endswith(b"\n")
    assert diff.stderr.count(b": would fix: ") == 250
    script = Path(sys.executable).with_name("fixuser")  # the console script, as users run it
    fixed = subprocess.run([str(script), "fix", "."], cwd=tmp_path, capture_output=True)
    assert fixed.returncode == 1
    assert fixed.stderr.count(b": fixed: ") == 250
    assert fixuser("check", ".", cwd=tmp_path).returncode == 0


def test_the_quick_exit_keeps_atexit_handlers_and_profilers(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    registered = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('handler ran\\n'))\n"
        "sys.argv = ['fixuser', 'check', '.']\n"
        "from fixuser.main import entry\n"
        "entry()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", registered], cwd=tmp_path, capture_output=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr.endswith(b"handler ran\n")
    profile = tmp_path / "check.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "fixuser", "check", "."],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert b"1 root" in proc.stdout  # (cProfile swallows the exit code itself)
    assert profile.stat().st_size > 0  # cProfile writes it after the run: no quick exit


def test_user_root_in_capitals_is_an_error_line_and_exit_1_and_fix_leaves_the_file(
    tmp_path: Path,
) -> None:
    source = b"FROM debian:bookworm-slim\nRUN true\nUSER ROOT\nCMD sh\n"
    (tmp_path / "Dockerfile").write_bytes(source)
    checked = fixuser("check", "Dockerfile", cwd=tmp_path)
    assert checked.returncode == 1
    assert b"Dockerfile: error: line 3: USER ROOT names no user" in checked.stderr
    assert b"invalid-user" in checked.stdout
    fixed = fixuser("fix", "Dockerfile", cwd=tmp_path)
    assert fixed.returncode == 1
    assert b"left alone: invalid-user" in fixed.stderr
    assert (tmp_path / "Dockerfile").read_bytes() == source
    sarif = json.loads(fixuser("check", "--format", "sarif", "Dockerfile", cwd=tmp_path).stdout)
    result = sarif["runs"][0]["results"][0]
    assert (result["kind"], result["level"]) == ("fail", "error")
    assert result["properties"]["verdict"] == "invalid-user"


def test_needs_root_is_a_finding_with_its_remedy_and_fix_leaves_it(tmp_path: Path) -> None:
    source = b'FROM debian:bookworm-slim\nCMD ["/usr/sbin/sshd", "-D"]\n'
    (tmp_path / "Dockerfile").write_bytes(source)
    checked = fixuser("check", "Dockerfile", cwd=tmp_path)
    assert checked.returncode == 1
    assert b"needs root, left as root (CIS Docker 4.1)" in checked.stderr
    assert b"remedy:" in checked.stderr
    fixed = fixuser("fix", "Dockerfile", cwd=tmp_path)
    assert fixed.returncode == 0
    assert (tmp_path / "Dockerfile").read_bytes() == source


# --- repository context: the stages that ship, and what overrides the user at run time ------


def context_repo(tmp_path: Path) -> Path:
    """A repository whose compose file builds the builder stage and runs it as root."""
    root = tmp_path / "repo"
    (root / "svc").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "svc" / "Dockerfile").write_bytes(
        b"FROM debian:bookworm-slim AS builder\nRUN true\n"
        b'FROM debian:bookworm-slim\nUSER 1000\nCMD ["sleep", "1"]\n'
    )
    (root / "compose.yaml").write_text(
        "services:\n"
        "  api:\n"
        "    build:\n"
        "      context: ./svc\n"
        "      target: builder\n"
        "    user: root\n"
    )
    return root


def test_check_judges_the_stage_compose_ships_and_names_the_runtime_override(
    tmp_path: Path,
) -> None:
    root = context_repo(tmp_path)
    done = fixuser("check", cwd=root)
    assert done.returncode == 1
    assert b"svc/Dockerfile: root: stage builder" in done.stdout
    assert b"ships builder (compose.yaml:5) root" in done.stdout
    assert b"compose.yaml:6: service api runs as root (user: root)" in done.stderr
    data = json.loads(fixuser("check", "--format", "json", cwd=root).stdout)
    (entry,) = data["files"]
    assert entry["targets"] == [
        {"stage": "builder", "source": "compose.yaml:5", "verdict": "root", "user": entry["user"]}
    ]
    assert data["overrides"] == [
        {
            "path": "compose.yaml",
            "line": 6,
            "rule": "FIXUSER-COMPOSE-ROOT",
            "message": "service api runs as root (user: root)",
        }
    ]
    sarif = json.loads(fixuser("check", "--format", "sarif", cwd=root).stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)
    located = [
        r["locations"][0]["physicalLocation"]
        for r in sarif["runs"][0]["results"]
        if r["ruleId"] == "FIXUSER-COMPOSE-ROOT"
    ]
    assert located == [{"artifactLocation": {"uri": "compose.yaml"}, "region": {"startLine": 6}}]


def test_fix_fixes_the_stage_compose_ships_and_leaves_the_last_stage_as_it_was(
    tmp_path: Path,
) -> None:
    root = context_repo(tmp_path)
    done = fixuser("fix", "--diff", cwd=root)
    assert done.returncode == 1
    assert b"+USER 10001:10001" in done.stdout and b" USER 1000\n" in done.stdout
    assert fixuser("fix", "--diff", "--target", "1", cwd=root).returncode == 0  # --target wins


# --- bytes that are not UTF-8: never a traceback -------------------------------------------

NOT_UTF8 = b"\xff"


def test_a_path_that_is_not_utf8_goes_into_the_wrapper_as_its_bytes(tmp_path: Path) -> None:
    source = b"FROM debian:bookworm-slim\nVOLUME /data" + NOT_UTF8 + b'\nCMD ["/app/run"]\n'
    (tmp_path / "Dockerfile").write_bytes(source)
    shown = fixuser("fix", "--strategy", "entrypoint", "--diff", cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    assert b"'/data" + NOT_UTF8 + b"'" in shown.stdout
    done = fixuser("fix", "--strategy", "entrypoint", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    wrapper = (tmp_path / "fixuser-entrypoint.sh").read_bytes()
    assert b"'/data" + NOT_UTF8 + b"'" in wrapper


def utf8_strict(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """fixuser with a UTF-8 stdout that refuses what is not UTF-8, as a UTF-8 locale gives."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args], cwd=cwd, capture_output=True, env=env
    )


def test_file_names_that_are_not_utf8_are_shown_as_escapes_and_never_crash(tmp_path: Path) -> None:
    """A byte that is not UTF-8 shows as ``\\xff`` in text and JSON alike (fixuser.escape), and
    as git quotes it in diff headers (``"b/svc\\377/Dockerfile"``, which git apply reads)."""
    name = os.fsdecode(b"svc" + NOT_UTF8)
    (tmp_path / name).mkdir()
    (tmp_path / name / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    checked = utf8_strict("check", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.startswith(b"svc\\xff/Dockerfile: root: ")
    as_json = utf8_strict("check", "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["files"][0]["path"] == "svc\\xff/Dockerfile"
    shown = utf8_strict("fix", "--diff", cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    assert b'+++ "b/svc\\377/Dockerfile"\n' in shown.stdout
    assert b"Traceback" not in checked.stderr + as_json.stderr + shown.stderr


def test_a_path_that_is_not_utf8_is_committed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    path = repo / os.fsdecode(b"svc" + NOT_UTF8) / "Dockerfile"
    path.parent.mkdir(parents=True)
    path.write_bytes(ROOT_DOCKERFILE)
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    git_env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=git_env, capture_output=True)
    proc = fixuser("fix", "--commit", "--author", "t <t@example.com>", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    committed = subprocess.run(
        [
            "git",
            "show",
            f"fixuser/cis-4.1-non-root-user:{os.fsdecode(b'svc' + NOT_UTF8)}/Dockerfile",
        ],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    assert b"USER 10001:10001" in committed


def test_a_pyproject_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.fixuser]\nuser = "' + NOT_UTF8 + b'"\n')
    (tmp_path / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    proc = fixuser("check", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith(f"fixuser: {tmp_path / 'pyproject.toml'}: cannot read [tool.fixuser]: ")


# --- a bug, or output lost: never exit 1, which means "found root" --------------------------


def test_an_unexpected_exception_exits_3_with_its_traceback_and_where_to_report_it(
    tmp_path: Path,
) -> None:
    # A bug, planted: exit 1 would tell a CI gate "found root" when nothing was checked.
    (tmp_path / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    planted = (
        "import sys, fixuser.core\n"
        "def check(*args, **kwargs):\n"
        "    raise RuntimeError('planted bug')\n"
        "fixuser.core.check = check\n"
        "sys.argv = ['fixuser', 'check', '.']\n"
        "from fixuser.main import entry\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", planted], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 3
    said = proc.stderr.decode().splitlines()
    assert said[0] == "Traceback (most recent call last):"
    assert "RuntimeError: planted bug" in said
    assert said[-1].endswith(
        "please report it, with the traceback above and the command you "
        "ran, at https://github.com/fixuser/fixuser/issues"
    )
    assert proc.stdout == b""


@pytest.mark.parametrize("args", [["check"], ["fix", "--diff"], ["check", "--format", "json"]])
def test_output_lost_to_a_full_disk_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    with open("/dev/full", "wb") as full:  # every write to it fails with ENOSPC
        proc = subprocess.run(
            [sys.executable, "-m", "fixuser", *args],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert proc.returncode == 2
    lines = proc.stderr.decode().splitlines()
    assert lines[-1] == "fixuser: cannot write the output: No space left on device"
    assert "Traceback" not in proc.stderr.decode()
