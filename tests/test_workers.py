"""fixuser.tree.workers: the same output from forked workers as from one process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from fixuser.tree import workers

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
needs_fork = pytest.mark.skipif(not workers.can_fork(), reason="workers need fork (Linux)")


def pids_and_squares(chunk: Sequence[int]) -> list[tuple[int, int]]:
    time.sleep(0.05)  # long enough that one worker cannot take every chunk alone
    return [(os.getpid(), n * n) for n in chunk]


@needs_fork
def test_results_come_in_the_order_of_the_tasks_from_more_than_one_worker() -> None:
    tasks = list(range(500))
    done = list(workers.ordered_map(pids_and_squares, tasks, 2))
    assert [square for _, square in done] == [n * n for n in tasks]
    # the first files in this process (the warm-up), the rest in two forked workers
    warm = {pid for pid, _ in done[: workers.WARM_UP]}
    assert warm == {os.getpid()}
    assert len({pid for pid, _ in done[workers.WARM_UP :]} - {os.getpid()}) == 2


def test_one_job_runs_in_this_process() -> None:
    done = list(workers.ordered_map(pids_and_squares, list(range(300)), 1))
    assert {pid for pid, _ in done} == {os.getpid()}


def sigint_handler(chunk: Sequence[int]) -> list[bool]:
    return [signal.getsignal(signal.SIGINT) is signal.SIG_IGN for _ in chunk]


@needs_fork
def test_workers_leave_ctrl_c_to_the_parent() -> None:
    # Python's own handler, whatever this process inherited (a run started in the background
    # of a non-interactive shell inherits SIGINT ignored, which would hide the difference).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = list(workers.ordered_map(sigint_handler, list(range(100)), 2))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert done[: workers.WARM_UP] == [False] * workers.WARM_UP  # this process keeps Ctrl-C
    assert all(done[workers.WARM_UP :])


def test_auto_jobs_start_at_the_threshold_and_never_without_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(workers, "cpus", lambda: 4)
    assert workers.job_count(0, workers.AUTO_MIN_FILES - 1) == 1
    assert workers.job_count(0, workers.AUTO_MIN_FILES) == 4
    assert workers.job_count(3, 10) == 3  # asked for: taken as given
    assert workers.job_count(8, 2) == 2  # never more workers than files
    assert workers.job_count(1, 10_000) == 1
    monkeypatch.setattr(workers, "cpus", lambda: 64)
    assert workers.job_count(0, 10_000) == workers.MAX_AUTO_JOBS
    monkeypatch.setattr(workers, "can_fork", lambda: False)
    assert workers.job_count(4, 10_000) == 1


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every sample, three times over: more files than the auto threshold."""
    root = tmp_path_factory.mktemp("fleet")
    for copy in range(3):
        for sample in sorted(SAMPLES.iterdir()):
            if (sample / "Dockerfile").is_file():
                shutil.copytree(sample, root / f"{copy}-{sample.name}")
    assert len(list(root.glob("*/Dockerfile"))) >= workers.AUTO_MIN_FILES
    return root


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a real pipe
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args], cwd=cwd, capture_output=True, env=env
    )


@needs_fork
@pytest.mark.parametrize(
    ("command", "jobs"),
    [
        (["check"], ["--jobs", "2"]),
        (["check", "--format", "json"], ["-j", "3"]),
        (["check", "--format", "sarif"], []),  # the default: one worker per CPU
        (["fix", "--diff"], []),
        (["fix", "--diff", "--strategy", "entrypoint"], ["--jobs", "2"]),
    ],
    ids=lambda c: " ".join(c) or "default",
)
def test_workers_print_what_one_process_prints(
    fleet: Path, command: list[str], jobs: list[str]
) -> None:
    one = run([*command, "--jobs", "1", "."], fleet)
    many = run([*command, *jobs, "."], fleet)
    assert one.returncode in (1, 2), one.stderr[-2000:]
    assert (many.returncode, many.stdout, many.stderr) == (one.returncode, one.stdout, one.stderr)


@needs_fork
def test_fix_in_place_with_workers_writes_what_one_process_writes(
    fleet: Path, tmp_path: Path
) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    shutil.copytree(fleet, serial)
    shutil.copytree(fleet, parallel)
    one = run(["fix", "--jobs", "1", "."], serial)
    many = run(["fix", "--jobs", "2", "."], parallel)
    assert (many.returncode, many.stdout, many.stderr) == (one.returncode, one.stdout, one.stderr)
    written = sorted(p.relative_to(serial) for p in serial.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(parallel) for p in parallel.rglob("*") if p.is_file())
    for rel in written:
        assert (serial / rel).read_bytes() == (parallel / rel).read_bytes(), rel


def test_jobs_must_be_a_count(tmp_path: Path) -> None:
    done = run(["check", "--jobs", "-1", "."], tmp_path)
    assert done.returncode == 2
    assert b"'-1' is not a number of processes" in done.stderr


def test_a_small_check_loads_no_multiprocessing_context_readers_or_hashlib(
    tmp_path: Path,
) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_bytes(b'FROM debian:12\nCMD ["true"]\n')
    code = (
        "import sys; from fixuser.main import main\n"
        f"main(['check', {str(tmp_path)!r}])\n"
        "print(sorted(m for m in ('multiprocessing', 'fixuser.project.read', 'hashlib')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == b"[]", out
