"""The text of the blocks a fix inserts, rendered from templates/ (one per family), and the home
of the user it creates."""

from __future__ import annotations

from fixuser.analysis.analyze import Facts
from fixuser.dockerfile.parse import Dockerfile
from fixuser.plan.user import Choice
from fixuser.settings import Settings

COMMENT = "# CIS Docker Benchmark 4.1: run as a non-root user"


def render_block(
    template: str, dockerfile: Dockerfile, choice: Choice, settings: Settings, dirs: list[str]
) -> str:
    """The template's block for this user and these directories. A fleet's files mostly ask
    for the same few blocks, so each distinct one is rendered once per run (templates are
    pure functions of these values)."""
    key = (
        template,
        dockerfile.lower_case,
        dockerfile.escape,
        choice.name,
        choice.uid,
        choice.gid,
        choice.owner,
        settings.openshift,
        tuple(dirs),
    )
    block = BLOCKS.get(key)
    if block is None:
        from fixuser.render import render  # jinja2 only when something is fixed

        kw = {k: (k.lower() if dockerfile.lower_case else k) for k in ("RUN", "USER")}
        text = render(
            template,
            kw=kw,
            esc=dockerfile.escape,
            user=choice.name,
            uid=choice.uid,
            gid=choice.gid,
            owner=choice.owner,
            openshift=settings.openshift,
            dirs=dirs,
            home=home_of(choice),
        ).strip("\n")
        block = BLOCKS[key] = text + "\n" if text else ""
    return block


BLOCKS: dict[tuple[object, ...], str] = {}


def home_of(choice: Choice) -> str:
    return f"/home/{choice.name}"


def new_home(facts: Facts, choice: Choice) -> str:
    """A home for the user when the stage sets HOME to root's (/root or below): caches and
    dotfiles under $HOME keep working once the container no longer runs as root."""
    home = facts.runtime.env.get("HOME", "")
    if not choice.name or not (home == "/root" or home.startswith("/root/")):
        return ""
    return home_of(choice)
