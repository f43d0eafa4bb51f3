"""Running the core over many Dockerfiles in worker processes, in the files' order.

A check or fix of one file is pure CPU work (fixuser.core) on bytes read from disk, and a fleet
is hundreds of files: on a machine with more than one CPU they are split among forked workers
and the results come back in the order the files were found, so the output is the same as one
process gives, byte for byte (tests/test_workers.py holds the two to it).

Only where fork exists (Linux): a forked worker starts with everything the parent imported and
costs a few milliseconds; spawning one (macOS, Windows) would import fixuser anew in each.
Workers ignore SIGINT: Ctrl-C reaches the parent, whose pool then ends them.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

# Fewer files than this: one process is as fast as starting the workers and sending results.
AUTO_MIN_FILES = 256
WARM_UP = 16  # files done in this process before the workers are forked (see ordered_map)
MAX_AUTO_JOBS = 8  # each worker holds its own copy of the tables and templates


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    # Without importing multiprocessing (~10 ms): every check asks, and most never fork.
    return sys.platform == "linux" and hasattr(os, "fork")


def job_count(jobs: int, tasks: int) -> int:
    """The workers for ``tasks`` files: ``jobs`` as given (0: one per CPU, from
    AUTO_MIN_FILES files on), and 1, this process, where fork does not exist."""
    if not can_fork() or tasks < 2:
        return 1
    if jobs == 0:
        return min(cpus(), MAX_AUTO_JOBS) if tasks >= AUTO_MIN_FILES else 1
    return max(1, min(jobs, tasks))


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ordered_map(
    work: Callable[[Sequence[Task]], list[Result]], tasks: Sequence[Task], jobs: int
) -> Iterator[Result]:
    """``work`` over ``tasks`` in chunks, in ``jobs`` forked workers (1: in this process);
    the results in the tasks' order, each as soon as its chunk is done."""
    if jobs <= 1:
        yield from work(tasks)
        return
    # The first files in this process, before the fork: what a run loads and builds on first
    # use (the image tables, the rule regexes, jinja2 for a fix) is then inherited by every
    # worker instead of made again in each.
    yield from work(tasks[:WARM_UP])
    rest = tasks[WARM_UP:]
    if not rest:
        return
    # A few chunks per worker: a slow chunk (one huge file) does not hold up the others long,
    # and each result crosses the pipe with its chunk instead of one by one.
    size = max(1, -(-len(rest) // (jobs * 4)))
    chunks = [rest[i : i + size] for i in range(0, len(rest), size)]
    import multiprocessing

    context = multiprocessing.get_context("fork")
    # A forked worker flushes its copies of the standard streams when it ends: what this
    # process has written but not yet flushed would come out once more per worker.
    sys.stdout.flush()
    sys.stderr.flush()
    # What exists now is shared with the workers copy-on-write: frozen, the collector does
    # not walk it (and so copy its pages) in every worker.
    gc.freeze()
    try:
        with context.Pool(jobs, initializer=ignore_sigint) as pool:
            for done in pool.imap(work, chunks):
                yield from done
    finally:
        gc.unfreeze()
