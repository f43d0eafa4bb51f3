"""Run ``fixuser verify``'s proof over every sample it can build here and print the counts.

    .venv/bin/python bench/verify_samples.py [--network] [--run-seconds 5] [--json out.json]

A sample counts when fix changes it and every base image it names is built locally by
tests/images/build.sh (or is scratch). Its folder is the build context, its settings.toml
(if any) gives the flags, and the fixed text is its ``expected`` file. Each is built before
and after with the real engine and both images run with their own ENTRYPOINT/CMD: the proof
is what ``fixuser verify`` prints (see README, "Proof"). Samples that install packages fetch
from Debian's mirror and are skipped without --network.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repository: its testing/ package

from fixuser.containers.engine import BuildOptions, find_engine  # noqa: E402
from fixuser.containers.proof import prove  # noqa: E402
from testing.engine import local_family  # noqa: E402

SAMPLES = REPO / "samples"
FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
USER_RE = re.compile(r"^\s*USER\s+(\S+)", re.I | re.M)
PACKAGES_RE = re.compile(r"\b(apt-get|apt|apk|dnf|microdnf|yum|zypper|pacman)\s", re.M)


def cases(network: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    chosen, skipped = [], []
    for folder in sorted(p for p in SAMPLES.iterdir() if (p / "Dockerfile").is_file()):
        source, expected = folder / "Dockerfile", folder / "expected"
        if source.read_bytes() == expected.read_bytes():
            continue  # left alone on purpose: nothing to prove
        text = source.read_text("latin-1")
        stages = {m.group(2).lower() for m in FROM_RE.finditer(text) if m.group(2)}
        bases = [m.group(1) for m in FROM_RE.finditer(text) if m.group(1).lower() not in stages]
        if not bases or not all(local_family(b) for b in bases):
            skipped.append((folder.name, "a base image not built here"))
        elif PACKAGES_RE.search(text) and not network:
            skipped.append((folder.name, "installs packages (--network)"))
        else:
            chosen.append(folder)
    return chosen, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", action="store_true", help="also samples that fetch")
    parser.add_argument("--run-seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = find_engine()
    chosen, skipped = cases(args.network)
    results = []
    started = time.monotonic()
    for folder in chosen:
        options_file = folder / "settings.toml"
        target = (
            tomllib.loads(options_file.read_text()).get("target")
            if options_file.is_file()
            else None
        )
        fixed = (folder / "expected").read_bytes()
        text = fixed.decode("latin-1")
        if target:  # the USER of the stage fixed, not of the stages after it
            text = text.split(f"AS {target}", 1)[-1].split("\nFROM ", 1)[0]
        users = USER_RE.findall(text)
        base = FROM_RE.findall(fixed.decode("latin-1"))[-1][0]
        proof = prove(
            folder / "Dockerfile",
            (folder / "Dockerfile").read_bytes(),
            fixed,
            folder,
            engine=engine,
            expected_user=users[-1] if users else None,
            family=local_family(base),
            options=BuildOptions(target=target),
            run_seconds=args.run_seconds,
        )
        after = proof.after.behaviour if proof.after else None
        ran = "-" if after is None else ("running" if after.running else f"exit {after.exit_code}")
        print(f"{proof.status:11} {folder.name:34} {ran:9} {'; '.join(proof.reasons)[:120]}")
        results.append({"sample": folder.name, "status": proof.status, "reasons": proof.reasons})
    for name, why in skipped:
        print(f"{'skipped':11} {name:34} {why}")
    counts = {s: sum(r["status"] == s for r in results) for s in ("proven", "failed", "unprovable")}
    print(
        f"\n{counts['proven']} proven, {counts['failed']} failed, {counts['unprovable']} could "
        f"not be proven, {len(skipped)} skipped; {len(chosen)} samples in "
        f"{time.monotonic() - started:.0f} s ({engine.name}, --run-seconds {args.run_seconds:g})"
    )
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "results": results}, indent=2))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
