"""What the batch run shows while it works (a bar on a terminal, a line a repository otherwise)
and the summary it ends with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from fixuser.branches.batch_report import OUTCOMES, Record, counts, summary_line
from fixuser.escape import printable


class Progress:
    """A one-line bar with counts per outcome on a terminal; one plain line per repo otherwise."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.tally: dict[str, int] = {}

    def update(self, record: Record) -> None:
        self.done += 1
        self.tally[record.outcome] = self.tally.get(record.outcome, 0) + 1
        if not self.tty:
            detail = f": {record.reason}" if record.reason else ""
            url = f" {record.url}" if record.url else ""
            line = f"[{self.done}/{self.total}] {record.repo}: {record.outcome}{url}{detail}"
            print(printable(line), file=self.stream, flush=True)
            return
        width = 24
        filled = width * self.done // max(self.total, 1)
        tally = " ".join(f"{o} {self.tally[o]}" for o in OUTCOMES if o in self.tally)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r\x1b[K[{bar}] {self.done}/{self.total} {tally}")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()


def print_summary(records: Sequence[Record]) -> None:
    tally = counts(records)
    for outcome in OUTCOMES:
        if tally[outcome]:
            print(f"{outcome} ({tally[outcome]}):")
            for r in records:
                if r.outcome == outcome:
                    extra = " ".join(x for x in (r.url or "", r.reason) if x)
                    print(printable(f"  {r.repo}" + (f"  {extra}" if extra else "")))
    print(summary_line(records))
