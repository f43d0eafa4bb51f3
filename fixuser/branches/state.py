"""The batch run's state file: the records so far, rewritten atomically after every repository,
what ``--resume`` and ``--retry-failed`` continue from.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path

from fixuser.branches.batch import StartError
from fixuser.branches.batch_report import Record, read_report, write_atomically
from fixuser.branches.batch_report import to_json as report_json
from fixuser.branches.clones import sha


class State:
    """The records of this run, rewritten atomically after every repository.

    The state file holds the report's records; each PR description (a few KB) is written once
    to a file of its own beside it (``STATE.d/``), so rewriting the state stays cheap however
    large the fleet grows.

    A dry run keeps its records in memory only (``persist=False``): the state file says what
    was done to the repositories, for ``--resume``, and a dry run does nothing to them. Kept
    apart in a file of its own they would only be something else to clean up or confuse with
    the real one; a dry run stopped part-way is simply run again (its clones are cached). So a
    dry run never hides a repository from a later ``--push --resume``, nor empties the state
    of a real run it is given with ``--state``; with ``--resume`` it reads that state and shows
    what the resumed run would still do.
    """

    def __init__(self, path: Path, records: dict[str, Record], *, persist: bool = True) -> None:
        self.path = path
        self.records = records
        self.persist = persist
        self.descriptions = path.with_name(path.name + ".d")
        self._lock = threading.Lock()
        # why the state file holds less than the records, when it does (see unsaved)
        self.behind = self.lost = ""
        self.said = False

    @classmethod
    def load(cls, path: Path, *, persist: bool = True) -> State:
        try:
            records = read_report(path)
        except FileNotFoundError:
            records = []
        except (OSError, ValueError) as e:
            raise StartError(f"--state {path}: cannot read it: {e}") from None
        state = cls(path, {}, persist=persist)
        for r in records:
            try:
                text = state.description_path(r.repo).read_text(encoding="utf-8")
            except OSError:
                text = ""
            state.records[r.repo] = dataclasses.replace(r, description=text)
        return state

    def description_path(self, spec: str) -> Path:
        return self.descriptions / f"{sha(spec)[:20]}.md"

    def save(self) -> None:
        if self.persist:
            records = report_json(self.records.values(), compact=True)
            write_atomically(self.path, records, durable=False)

    def record(self, record: Record) -> None:
        """Keep ``record`` and save the state. A state that cannot be written (a full disk)
        does not stop the run: the records stay here for the report, and the run says so."""
        with self._lock:
            if record.description and self.persist:
                path = self.description_path(record.repo)
                try:
                    write_atomically(path, record.description, durable=False)
                except OSError as e:  # lost for good: a later save does not write it
                    self.lost = self.lost or f"cannot write {path}: {e.strerror or e}"
            self.records[record.repo] = record
            try:
                self.save()
                self.behind = ""  # all of it is in the file again
            except OSError as e:
                self.behind = f"cannot write the state {self.path}: {e.strerror or e}"
            if self.unsaved and not self.said:  # once: a disk full now stays full a while
                print(f"fixuser batch: {self.unsaved}; the run goes on", file=sys.stderr)
                self.said = True

    @property
    def unsaved(self) -> str:
        """Why the state file holds less than the records ("" when it holds them all)."""
        return self.behind or self.lost
