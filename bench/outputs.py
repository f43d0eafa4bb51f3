"""Save what fixuser prints over the corpus and the samples, to hold a refactoring to it.

    .venv/bin/python bench/outputs.py DIR [CORPUS]          # write DIR/<run>.{out,err,rc}
    .venv/bin/python bench/outputs.py DIR --compare SAVED    # and compare with a saved DIR

The runs are the ones a restructure must not change: ``check`` in every format,
``fix --diff``, ``fix --diff --strategy entrypoint`` and ``fix --diff --lock-users``, each over
CORPUS (default ``../shared/corpus`` beside the repository) and over ``samples/``, each in a
subprocess of the installed ``fixuser`` with ``--jobs 1`` (one process: the order of the
output is the files' order either way, see tests/test_workers.py). With ``--compare`` it
prints each run that differs and exits 1 when any does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
RUNS = {
    "check": ["check"],
    "check-json": ["check", "--format", "json"],
    "check-sarif": ["check", "--format", "sarif"],
    "check-gitlab": ["check", "--format", "gitlab"],
    "check-github": ["check", "--format", "github"],
    "fix-diff": ["fix", "--diff"],
    "fix-diff-entrypoint": ["fix", "--diff", "--strategy", "entrypoint"],
    "fix-diff-lock-users": ["fix", "--diff", "--lock-users"],
}


def corpus_files(corpus: Path) -> list[str]:
    """Every file MANIFEST.tsv lists (their names are not all ones discovery looks for)."""
    manifest = corpus / "MANIFEST.tsv"
    if not manifest.is_file():
        return [str(corpus)]
    rows = manifest.read_text(encoding="utf-8").splitlines()[1:]
    return [str(corpus / row.split("\t", 1)[0]) for row in rows if row.strip()]


def save(out: Path, corpus: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for where, paths in (("corpus", corpus_files(corpus)), ("samples", ["samples"])):
        for name, argv in RUNS.items():
            command = [sys.executable, "-m", "fixuser", *argv, "--jobs", "1", *paths]
            env = {**os.environ, "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
            done = subprocess.run(command, capture_output=True, cwd=ROOT, env=env, check=False)
            stem = f"{where}-{name}"
            (out / f"{stem}.out").write_bytes(done.stdout)
            (out / f"{stem}.err").write_bytes(done.stderr)
            (out / f"{stem}.rc").write_text(f"{done.returncode}\n")
            names.append(stem)
            print(f"{stem}: exit {done.returncode}, {len(done.stdout)} + {len(done.stderr)} bytes")
    return names


def compare(out: Path, saved: Path, names: list[str]) -> int:
    differ = [
        f"{stem}{suffix}"
        for stem in names
        for suffix in (".out", ".err", ".rc")
        if not (saved / f"{stem}{suffix}").is_file()
        or (saved / f"{stem}{suffix}").read_bytes() != (out / f"{stem}{suffix}").read_bytes()
    ]
    for name in differ:
        print(f"differs: {name} (diff {saved / name} {out / name})")
    print(f"{len(names) * 3 - len(differ)} of {len(names) * 3} outputs byte-identical")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("corpus", type=Path, nargs="?", default=DEFAULT_CORPUS)
    parser.add_argument("--compare", type=Path, metavar="SAVED")
    args = parser.parse_args()
    names = save(args.out, args.corpus.resolve())
    return compare(args.out, args.compare, names) if args.compare else 0


if __name__ == "__main__":
    sys.exit(main())
