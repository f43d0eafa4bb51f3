"""``fixuser audit``: the CIS Docker Benchmark 4.1 audit of running containers, as text or
JSON (the audit itself: fixuser.containers.audit)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from fixuser.containers import audit as containers
from fixuser.containers.audit import Finding
from fixuser.errors import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from fixuser.escape import printable

EXIT_ROOT, EXIT_CANNOT_RUN = EXIT_FINDING, EXIT_ERROR


def print_text(findings: Iterable[Finding]) -> None:
    rows = list(findings)
    if not rows:
        print("no running containers")
        return
    for f in rows:
        uid = "?" if f.uid is None else str(f.uid)
        extra = f"  (config User: {f.config_user or 'unset'})"
        where = f"  Dockerfile: {f.dockerfile}" if f.dockerfile else ""
        # Container, image and account names are the engine's data: shown escaped, one line.
        line = f"{f.verdict.upper():8} uid={uid:<6} {f.name} {f.id} {f.image}{extra}{where}"
        print(printable(line))
        for account in f.users or ():
            print(printable(f"         user {account.text()}"))
        if f.users_source and "unreadable" in f.users_source:
            print(printable(f"         users: {f.users_source}"))
    roots = sum(f.verdict == "root" for f in rows)
    print(f"{len(rows)} running, {roots} as root (CIS Docker 4.1)")
    if any(f.users is not None for f in rows):
        flagged = sum(len(f.users or ()) for f in rows)
        aliases = sum(a.uid == 0 and a.name != "root" for f in rows for a in f.users or ())
        print(f"{flagged} accounts not needed, {aliases} of them root-equivalent (UID 0)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", help="Docker Engine API address (default: DOCKER_HOST, then known sockets)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="audit only containers with this label (repeatable)",
    )
    parser.add_argument(
        "--users",
        action="store_true",
        help="also list the accounts each container does not need: a login shell, a password, "
        "UID 0 besides root (an account of UID 0 makes the exit status 1)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        client = containers.connect(args.host)
    except ConnectionError as e:
        print(f"fixuser audit: {e}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    findings = containers.audit(client, args.label, args.users)
    if args.format == "json":
        json.dump({"containers": [f.as_json() for f in findings]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_text(findings)
    if any(f.verdict == "root" or f.root_equivalent for f in findings):
        return EXIT_ROOT
    return EXIT_CANNOT_RUN if any(f.verdict == "unknown" for f in findings) else EXIT_OK
