"""Run fix over generated Dockerfiles and count every way it breaks its promises.

    .venv/bin/python bench/fuzz.py [--count 100000] [--seed 1] [--jobs 1] [--show 2]
                                   [--json FILE]

The inputs come from the grammar in testing/fuzzgen.py (stages, ARG/ENV with nested defaults,
USER in every spelling, heredocs quoted and not, exec forms, continuations, CRLF, hostile
paths); input N of seed S is always the same file. Each is judged as tests/test_fuzz_
properties.py judges it, against BuildKit's own parser (PyPI ``dockerfile``) and an oracle of
the runtime user written apart from fixuser:

- BuildKit rejects: the input does not parse, or cannot build (not fixuser's to judge);
- refused as bad input: fixuser's DockerfileError on an input BuildKit builds (by reason);
- declined: fix's FixRefused, a value it will not write (an earlier USER holding a blank),
  said in one line: counted, not a defect;
- crashes; output does not parse; lost instructions; lost lines; non-idempotent;
- compliant while root, root verdict while not root, unknown though decidable: check's
  verdict on the input against the oracle;
- root after fix: the oracle's user of a fixed output is root (or not known);
- dash -n failures and operand mismatches: every RUN fix inserts parses with ``dash -n``, and
  its mkdir/chown operands are exactly, and literally, the directories it meant.

Prints the counts and a few of the smallest examples of each defect; exits 1 when there is any
defect, 0 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testing/

from testing import fuzzgen  # the repository is on the path now


def one(seed: int, index: int) -> dict[str, Any]:
    source = fuzzgen.generate(fuzzgen.RandomChooser(random.Random(f"{seed}:{index}")))
    judgement = fuzzgen.judge(source)
    return {
        "index": index,
        "source": source.decode("utf-8", "surrogateescape"),
        "skipped": judgement.skipped,
        "refused": judgement.refused,
        "declined": judgement.declined,
        "verdict": judgement.verdict,
        "defects": judgement.defects,
    }


def chunk(args: tuple[int, int, int]) -> list[dict[str, Any]]:
    seed, start, stop = args
    return [one(seed, index) for index in range(start, stop)]


def run(count: int, seed: int, jobs: int) -> list[dict[str, Any]]:
    size = 250
    pieces = [(seed, start, min(start + size, count)) for start in range(0, count, size)]
    results: list[dict[str, Any]] = []
    if jobs <= 1:
        for piece in pieces:
            results += chunk(piece)
        return results
    # spawn: a fork of a process that has loaded the Go parser (PyPI dockerfile) deadlocks
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for done in pool.imap(chunk, pieces):
            results += done
    return results


def reason_of(message: str) -> str:
    """A refusal's kind: its line number and quoted parts left out."""
    message = message.split(": ", 1)[1] if message.startswith("line ") else message
    return "".join(part if i % 2 == 0 else "…" for i, part in enumerate(message.split("'")))


def shortened(text: str, width: int = 200, lines: int = 40) -> str:
    """``text`` with long lines (a JSON array 3,000 deep) and long files cut, for the terminal."""
    kept = [line if len(line) <= width else line[:width] + "…" for line in text.splitlines()]
    if len(kept) > lines:
        kept = [*kept[:lines], f"… ({len(kept) - lines} more lines)"]
    return "".join(line + "\n" for line in kept)


def report(results: list[dict[str, Any]], show: int, seconds: float) -> dict[str, Any]:
    skipped = collections.Counter(r["skipped"] for r in results if r["skipped"])
    refused = collections.Counter(reason_of(r["refused"]) for r in results if r["refused"])
    declined = collections.Counter(reason_of(r["declined"]) for r in results if r["declined"])
    verdicts = collections.Counter(r["verdict"] for r in results if r["verdict"])
    defects = {name: [r for r in results if name in r["defects"]] for name in fuzzgen.DEFECTS}
    figures = {
        "inputs": len(results),
        "BuildKit rejects": sum(skipped.values()),
        "refused as bad input": sum(refused.values()),
        "declined (FixRefused)": sum(declined.values()),
        **{name: len(found) for name, found in defects.items()},
    }
    width = 40
    print(f"{'inputs':<{width}}{len(results):>8}   ({seconds:.0f} s)")
    print(f"{'BuildKit rejects (not judged)':<{width}}{sum(skipped.values()):>8}")
    for reason, number in skipped.most_common():
        print(f"    {reason:<{width - 4}}{number:>8}")
    print(f"{'verdicts of the rest':<{width}}")
    for verdict, number in verdicts.most_common():
        print(f"    {verdict:<{width - 4}}{number:>8}")
    print(f"{'refused as bad input':<{width}}{sum(refused.values()):>8}")
    for reason, number in refused.most_common():
        print(f"    {reason[: width - 6]:<{width - 4}}{number:>8}")
    print(f"{'declined (FixRefused, not a defect)':<{width}}{sum(declined.values()):>8}")
    for reason, number in declined.most_common():
        print(f"    {reason[: width - 6]:<{width - 4}}{number:>8}")
    for name in fuzzgen.DEFECTS:
        if name == "refused a file BuildKit builds":
            continue  # counted above, by reason
        print(f"{name:<{width}}{len(defects[name]):>8}")
    for name, found in defects.items():
        for result in sorted(found, key=lambda r: len(r["source"]))[:show]:
            print(f"\n--- {name}: input {result['index']}")
            print(shortened(result["source"]), end="")
            print(f"--> {shortened(result['defects'][name])}", end="")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--show", type=int, default=2, help="examples of each defect")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run(args.count, args.seed, args.jobs)
    figures = report(results, args.show, time.perf_counter() - start)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    defects = sum(figures[name] for name in fuzzgen.DEFECTS)
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
