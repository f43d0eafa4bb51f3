"""``fixuser batch-report``: merge the JSON reports of sharded batch runs into one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixuser.branches.batch_report import (
    EXIT_ERROR,
    exit_code,
    merge,
    read_report,
    summary_line,
    to_markdown,
    write_report,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="JSON reports to merge")
    parser.add_argument(
        "--report",
        "-o",
        type=Path,
        help="write the merged JSON here (and Markdown beside it, suffix .md)",
    )


def run(args: argparse.Namespace) -> int:
    loaded = []
    for name in args.reports:
        try:
            loaded.append(read_report(Path(name)))
        except (OSError, ValueError) as e:
            print(f"fixuser batch-report: {name}: {e}", file=sys.stderr)
            return EXIT_ERROR
    records = merge(loaded)
    problems = write_report(args.report, records) if args.report is not None else []
    if args.report is None:
        sys.stdout.write(to_markdown(records))
    for problem in problems:
        print(f"fixuser batch-report: {problem}", file=sys.stderr)
    print(summary_line(records), file=sys.stderr)
    return EXIT_ERROR if problems else exit_code(records)
