"""The fleet a batch run works on: the list of repositories, its shard, what is left to do
(``--resume``, ``--retry-failed``), and the threads that work through it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO

from fixuser.branches.batch import Options, StartError, process
from fixuser.branches.batch_report import Record
from fixuser.branches.state import State

COMMENT_RE = re.compile(r"(?:^|\s)#.*$")  # '#' starts a comment at a line's start or after a space


def parse_list(lines: Iterator[str] | Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        line = COMMENT_RE.sub("", line).strip()
        if line:
            out.append(line)
    return out


def repositories(given: Sequence[str], repos_file: str | None, stdin: IO[str]) -> list[str]:
    """In the order given, each once: arguments (``-`` reads stdin), then ``--repos-file``."""
    out: list[str] = []
    for item in given:
        out.extend(parse_list(stdin) if item == "-" else [item])
    if repos_file is not None:
        try:
            text = stdin.read() if repos_file == "-" else Path(repos_file).read_text()
        except OSError as e:
            raise StartError(f"--repos-file {repos_file}: {e.strerror}") from None
        out.extend(parse_list(text.splitlines()))
    return list(dict.fromkeys(out))


def parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", value)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"--shard wants K/N with 1 <= K <= N, not {value!r}")
    return int(match[1]), int(match[2])


def in_shard(spec: str, shard: tuple[int, int]) -> bool:
    """By a hash of the repository as given, not its position in the list: a repository stays
    on its shard when the list is edited or reordered, so each shard's state file stays valid
    for ``--resume``. SHA-256 rather than ``hash()``, which is salted per process."""
    k, n = shard
    return int.from_bytes(hashlib.sha256(os.fsencode(spec)).digest()[:8], "big") % n == k - 1


def to_run(
    specs: Sequence[str],
    state: State,
    resume: bool,
    retry_failed: bool,
    options: Options | None = None,
) -> list[str]:
    def wanted(spec: str) -> bool:
        record = state.records.get(spec)
        # A dry run's would-fix did nothing: as if never reached. Dry runs record no state any
        # more, but an older fixuser's state file may hold such records. Nor did a record
        # answer this run's question when it was made for another one: a commit in the cache
        # is not a push, a branch of another name is not this one.
        if record is None or record.outcome == "would-fix" or asked_otherwise(record, options):
            return resume or not retry_failed
        if record.outcome == "failed":
            return retry_failed
        return not (resume or retry_failed)

    return [s for s in specs if wanted(s)]


def asked_otherwise(record: Record, options: Options | None) -> bool:
    if options is None:
        return False
    if options.push and record.outcome == "committed":
        return True
    return record.branch is not None and record.branch != options.branch


def run_all(
    specs: Sequence[str],
    options: Options,
    state: State,
    jobs: int,
    on_done: Callable[[Record], None],
) -> bool:
    """Process ``specs`` on ``jobs`` threads; False when interrupted.

    After Ctrl-C no new repository starts and no result is recorded any more: the git commands
    that were running got the signal too, and their failure says nothing about the repository.
    """
    stopping = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fixuser-batch")
    try:
        futures: dict[Future[Record], str] = {}
        pending = iter(specs)

        def submit_next() -> None:
            spec = next(pending, None)
            if spec is not None and not stopping.is_set():
                futures[pool.submit(process, spec, options)] = spec

        for _ in range(max(1, jobs)):
            submit_next()
        # Submitting one repository per finished one (not all at once) keeps memory flat and
        # lets Ctrl-C stop without a queue of work to cancel.
        while futures:
            done = next(iter_completed(futures))
            del futures[done]
            record = done.result()
            if stopping.is_set():
                break
            submit_next()  # first: a worker never waits for the state file to be written
            state.record(record)
            on_done(record)
        return not stopping.is_set()
    except KeyboardInterrupt:
        stopping.set()
        return False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)


def iter_completed(futures: dict[Future[Record], str]) -> Iterator[Future[Record]]:
    from concurrent.futures import FIRST_COMPLETED, wait

    while True:
        done, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done
        if done:
            return
