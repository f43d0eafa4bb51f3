"""``--inspect-images`` (check, fix): base images the image table does not know are looked up
in an engine's local image store, and their config ``User`` replaces the assumed root."""

from __future__ import annotations

import argparse

from fixuser.settings import Settings
from fixuser.tree.pipeline import fix_all
from fixuser.tree.source import WorkTree


def add_inspect_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inspect-images",
        action="store_true",
        help="read the default user of base images fixuser's table does not know from the "
        "local image store of docker or podman (never pulled; cached by image ID); without "
        "it they are assumed to run as root",
    )


def with_local_images(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` with the users the local store knows for the files' assumed bases: a first
    pass finds the bases assumed root, one engine call lists the store."""
    if not args.inspect_images or args.paths == ["-"]:
        return settings
    from fixuser.containers.store import image_users

    tree = WorkTree(args.paths, context=settings.target is None)
    assumed = {
        item.result.analysis.base_image
        for item in fix_all(tree, settings, fix=False, jobs=args.jobs)
        if item.result is not None and item.result.analysis.assumed
    }
    found = image_users(assumed)
    return settings.replace(image_users=found) if found else settings
