"""``fixuser check``: report which Dockerfiles' runtime stages run as root."""

from __future__ import annotations

import argparse

from fixuser.commands.images import add_inspect_argument, with_local_images
from fixuser.commands.options import add_jobs_argument, add_settings_arguments, settings_from_args
from fixuser.report.findings import Outcome, Report
from fixuser.report.formats import FORMATS, write
from fixuser.tree.pipeline import fix_all
from fixuser.tree.source import WorkTree


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="Dockerfiles or directories")
    parser.add_argument(
        "--format",
        choices=tuple(FORMATS),
        default="text",
        help="text (default); json; sarif (GitHub code scanning); gitlab (a Code Quality "
        "report); github (workflow commands: annotations in a GitHub Actions run)",
    )
    add_jobs_argument(parser)
    add_inspect_argument(parser)
    add_settings_arguments(parser)


def quick_exit(args: argparse.Namespace) -> bool:
    return True  # nothing to clean up after a check (see main.entry)


def run(args: argparse.Namespace) -> int:
    settings = with_local_images(args, settings_from_args(args))
    report = Report()
    report.roles = settings.fix_roles
    tree = WorkTree(args.paths, context=settings.target is None)
    for item in fix_all(tree, settings, fix=False, jobs=args.jobs):
        if item.error:
            report.add(Outcome(item.path, error=item.error))
        else:
            assert item.result is not None
            report.add(Outcome(item.path, item.result.analysis))
    report.overrides = tree.overrides()
    report.notes = tree.notes()
    write(report, args.format)
    return report.check_exit()
