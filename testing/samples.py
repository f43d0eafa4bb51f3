"""The samples of samples/, each read once: input, expected output, verdict, settings, extras.

tests/test_samples.py holds fixuser to them; the engine and oracle tests build and lint them.
"""

from __future__ import annotations

import dataclasses
import posixpath
import tomllib
from collections.abc import Mapping
from pathlib import Path

from fixuser.model import ContextReader, Verdict
from fixuser.settings import Settings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SETTINGS = Settings()


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    folder: Path
    source: bytes
    expected: bytes
    verdict: Verdict
    description: str
    # settings.toml beside the sample: the fix flags the case is about (target = "base")
    settings: Settings = SETTINGS
    # expected.<name> beside expected: a file the fix adds to the build context (the wrapper
    # of --strategy entrypoint, expected.fixuser-entrypoint.sh), by <name>
    extras: Mapping[str, bytes] = dataclasses.field(default_factory=dict)

    def context(self, *, fixed: bool = False) -> ContextReader:
        """The sample folder is the build context; ``fixed``: with the files the fix adds."""
        root = self.folder.resolve()

        def read(relative: str) -> bytes | None:
            if fixed and posixpath.normpath(relative.lstrip("/")) in self.extras:
                return self.extras[posixpath.normpath(relative.lstrip("/"))]
            path = (root / relative.lstrip("/")).resolve()
            if root not in path.parents or not path.is_file():
                return None
            return path.read_bytes()

        return read


def load(folder: Path) -> Sample:
    readme = (folder / "README").read_text("utf-8").strip()
    verdict, _, description = readme.partition(": ")
    options = folder / "settings.toml"
    settings = Settings(**tomllib.loads(options.read_text())) if options.is_file() else SETTINGS
    extras = {p.name.removeprefix("expected."): p.read_bytes() for p in folder.glob("expected.*")}
    return Sample(
        folder.name,
        folder,
        (folder / "Dockerfile").read_bytes(),
        (folder / "expected").read_bytes(),
        Verdict(verdict),
        description,
        settings,
        extras,
    )


SAMPLE_LIST = [load(d) for d in sorted(SAMPLES.iterdir()) if (d / "Dockerfile").is_file()]
ids = [s.name for s in SAMPLE_LIST]
