"""Analysis -> edits. Pure: decides which user, where the block and USER go, what gets owned."""

from __future__ import annotations

import functools
import posixpath
from typing import NamedTuple

from fixuser.analysis.analyze import Facts
from fixuser.analysis.runs import start_workdir
from fixuser.dockerfile.parse import Dockerfile, Instruction
from fixuser.dockerfile.stages import chain
from fixuser.dockerfile.words import process_word
from fixuser.edits import Edit
from fixuser.knowledge import families
from fixuser.knowledge.paths import normalise
from fixuser.model import Change, ExtraFile, FixRefused, WarningRule, WarningText
from fixuser.plan.blocks import COMMENT, home_of, new_home, render_block
from fixuser.plan.entrypoint import EntrypointPlan
from fixuser.plan.ownership import (
    Writable,
    chown_edits,
    directories_named,
    inherited_volumes,
    writable_dirs,
)
from fixuser.plan.placement import (
    after_header,
    child_edits,
    eol,
    insertion_after,
    last_home_setter,
    onbuild_edits,
    sets_root,
    user_before,
)
from fixuser.plan.user import Choice, choose_user
from fixuser.quoting import Unwritable, dockerfile_word
from fixuser.settings import Settings


class Plan(NamedTuple):
    edits: tuple[Edit, ...]
    change: Change
    warnings: tuple[WarningText, ...]
    extra_files: tuple[ExtraFile, ...] = ()  # --strategy entrypoint: its wrapper


def plan(dockerfile: Dockerfile, facts: Facts, settings: Settings, path: str = "-") -> Plan:
    """The edits that fix the stage; FixRefused when a path or name from the file cannot be
    written where the fix would write it (a line break in a VOLUME path)."""
    try:
        return plan_edits(dockerfile, facts, settings, path)
    except Unwritable as e:
        raise FixRefused(f"cannot write a value of this file into the fix: {e}") from e


class Draft:
    """The fix as it is being planned: what every step reads, and the edits, notes, warnings
    and owned paths they add, in order."""

    # set by choose()
    choice: Choice
    header: Instruction  # the FROM and the ARG/ENV/LABEL lines under it
    anchor: Instruction  # the USER goes after it: the stage's last RUN, else the header
    anchor_index: int
    users_after: list[Instruction]  # USER instructions after the last RUN
    # set by find_writable()
    targets: list[Writable]
    app_dirs: list[str]
    early: list[Writable]
    late: list[str]
    own_home: str
    home: str
    # set by compose_user_text()
    trailing: Instruction | None
    trailing_root: bool

    def __init__(self, dockerfile: Dockerfile, facts: Facts, settings: Settings, path: str):
        self.dockerfile, self.facts, self.settings, self.path = dockerfile, facts, settings, path
        self.stage = facts.runtime.stage
        self.has_shell = facts.image.shell and families.family(facts.family).posix_shell
        # --strategy entrypoint: no USER; a wrapper drops to the user at start
        self.entry = settings.strategy == "entrypoint"
        self.warnings: list[WarningText] = []
        self.edits: list[Edit] = []
        self.notes: list[str] = []
        self.chowned: list[str] = []
        self.user_text = ""
        self.lock = ""
        self.tool = ""
        self.wrapped: EntrypointPlan | None = None

    def insert_after(self, instruction: Instruction, priority: int, text: str) -> None:
        """``text`` after ``instruction`` (closing a dangling continuation first, once)."""
        at, extra = insertion_after(self.dockerfile, instruction)
        self.edits += [e for e in extra if e not in self.edits]
        self.edits.append(Edit(at, at, priority, eol(text, self.dockerfile)))


def plan_edits(dockerfile: Dockerfile, facts: Facts, settings: Settings, path: str) -> Plan:
    """The fix as a chain of steps, each adding its edits to one Draft."""
    draft = Draft(dockerfile, facts, settings, path)
    choose(draft)
    find_writable(draft)
    insert_user_block(draft)
    own_without_shell(draft)
    warn_inherited_volumes(draft)
    own_before_volumes(draft)
    compose_user_text(draft)
    place_home(draft)
    place_user(draft)
    chown_copies(draft)
    keep_children_building_as_root(draft)
    return finish(draft)


def choose(d: Draft) -> None:
    """The user, and where the USER goes: after the stage's last RUN (or its FROM header)."""
    if d.entry and not d.has_shell:
        from fixuser.plan.entrypoint import refuse_without_shell

        refuse_without_shell(d.facts)
    d.choice = choose_user(d.facts, d.settings, d.warnings)
    d.header = after_header(d.stage)
    runs = d.stage.of("RUN")
    last_run = runs[-1] if runs else None
    d.anchor = last_run or d.header
    d.users_after = [u for u in d.stage.of("USER") if last_run is None or u.start > last_run.end]
    instructions = d.stage.instructions
    d.anchor_index = instructions.index(d.anchor) if d.anchor in instructions else -1


def find_writable(d: Draft) -> None:
    """What the user must be able to write: owned before a VOLUME fixes it (early), or with
    the USER (late); its own home; a HOME that was root's; --writable."""
    d.targets, d.app_dirs = writable_dirs(d.facts, d.settings)
    d.early = [t for t in d.targets if 0 <= t.deadline <= d.anchor_index]
    d.late = [t.path for t in d.targets if t not in d.early]
    # A user fixuser creates gets a home of its own, made and owned in its block: HOME is
    # where tools keep caches and dotfiles, and /nonexistent breaks them.
    d.own_home = home_of(d.choice) if d.has_shell and d.choice.create else ""
    # the wrapper sets HOME itself
    d.home = new_home(d.facts, d.choice) if d.has_shell and not d.entry else ""
    if d.home and d.home not in d.late and d.home != d.own_home:
        d.late.append(d.home)
    if not d.entry:  # --writable with a USER: made the user's at build time
        d.late += [p for p in d.settings.writable if p not in d.late and p != d.own_home]


def insert_user_block(d: Draft) -> None:
    """The family's user block (and the wrapper's tool) right after the FROM header."""
    if d.entry:
        from fixuser.plan import entrypoint

        d.tool = entrypoint.render_tool(d.dockerfile, d.facts.family)
    if d.has_shell and d.choice.create:
        block_dirs = [d.own_home, *(d.late if d.anchor is d.header else [])]
        template = families.family(d.facts.family).template
        block = render_block(template, d.dockerfile, d.choice, d.settings, block_dirs)
        at, extra = insertion_after(d.dockerfile, d.header)
        d.edits += extra
        d.edits.append(Edit(at, at, 1, eol(block + d.tool, d.dockerfile)))
        d.notes.append(
            f"creates user {d.choice.name} ({d.choice.owner}) with the {d.facts.family} "
            "template after the FROM"
        )
        d.chowned += block_dirs
        d.notes.append(f"makes {', '.join(block_dirs)} writable by {d.choice.owner} in that block")
        if d.anchor is d.header:
            d.late = []
    elif d.tool:
        at, extra = insertion_after(d.dockerfile, d.header)
        d.edits += extra
        d.edits.append(Edit(at, at, 1, eol(d.tool, d.dockerfile)))
    if d.tool:
        d.notes.append(f"puts the wrapper's tool in the image ({d.facts.family}) after the FROM")


def own_without_shell(d: Draft) -> None:
    """No RUN is possible. A WORKDIR that comes after the USER is created owned by that user
    (BuildKit and buildah alike: tests/test_engine.py proves it for buildah), and COPY
    --chown creates its destination owned; anything else stays root's."""
    if not d.targets or d.has_shell:
        return
    env, escape = d.facts.runtime.env, d.stage.escape
    after_user = {
        normalise(posixpath.join("/", process_word(i.value, env, escape)))
        for i in d.stage.instructions[d.anchor_index + 1 :]
        if i.keyword == "WORKDIR"
    }
    left = [t.path for t in d.targets if t.path not in after_user]
    if left:
        d.warnings.append(
            WarningText(
                WarningRule.OTHER,
                "no shell in the base image: "
                + ", ".join(left)
                + " stay owned by root (COPY --chown owns what is copied)",
            )
        )
    d.late, d.early = [], []


def warn_inherited_volumes(d: Draft) -> None:
    """A VOLUME of a stage this one is built FROM cannot be chowned here (the wrapper hands
    VOLUMEs over at start, inherited ones included)."""
    if d.entry:
        return
    d.warnings += [
        WarningText(
            WarningRule.OTHER,
            f"line {at.lineno}: VOLUME {path} comes from stage {link.label}, which this stage "
            "is built FROM: the directory is fixed at that line, so a chown here would be lost "
            f"(buildah and podman discard it) and it stays root's; if the app writes there, "
            f"chown it to {d.choice.owner} before that VOLUME line, or mount a volume it owns",
        )
        for path, link, at in inherited_volumes(d.facts)
    ]


def own_before_volumes(d: Draft) -> None:
    """A VOLUME's directory made the user's before the VOLUME line (later changes to a volume
    are discarded)."""
    if not d.early:
        return
    volume = d.stage.instructions[min(t.deadline for t in d.early)]
    dirs = [t.path for t in d.early]
    block = render_block("writable.sh.j2", d.dockerfile, d.choice, d.settings, dirs)
    # priority 2: after a user block inserted at the same place
    d.edits.append(Edit(volume.start, volume.start, 2, eol(block, d.dockerfile)))
    d.chowned += dirs
    d.notes.append(f"makes {', '.join(dirs)} writable before the VOLUME on line {volume.lineno}")


def compose_user_text(d: Draft) -> None:
    """What goes where the USER goes: the directories made writable, --lock-users' RUN, the
    CIS comment and the USER (or the wrapper's COPY and ENTRYPOINT)."""
    d.user_text = f"{COMMENT}\n"
    if d.entry:
        from fixuser.plan import entrypoint

        d.wrapped = entrypoint.plan_entrypoint(
            d.dockerfile,
            d.facts,
            d.settings,
            path=d.path,
            user=d.choice.name,
            uid=d.choice.uid,
            gid=d.choice.gid,
            owner=d.choice.owner,
        )
        d.user_text = d.wrapped.text
    if d.settings.lock_users:  # one RUN before the USER, after the stage's own RUN steps
        from fixuser.plan.lock import lock_users

        d.lock, said = lock_users(
            d.facts.family if d.has_shell else None,
            d.choice.name,
            d.choice.uid,
            lower_case=d.dockerfile.lower_case,
            escape=d.dockerfile.escape,
        )
        if d.lock:
            d.notes.append(said)
        else:
            d.warnings.append(WarningText(WarningRule.OTHER, said))
        d.user_text = d.lock + d.user_text
    if d.late:
        block = render_block("writable.sh.j2", d.dockerfile, d.choice, d.settings, d.late)
        d.user_text = block + d.user_text
        d.chowned += d.late
        d.notes.append(f"makes {', '.join(d.late)} writable by {d.choice.owner}")
    if d.wrapped is None:
        kw_user = "user" if d.dockerfile.lower_case else "USER"
        d.user_text += f"{kw_user} {dockerfile_word(d.choice.value, d.dockerfile.escape)}\n"
    d.trailing = d.users_after[-1] if d.users_after and d.wrapped is None else None
    d.trailing_root = d.trailing is not None and sets_root(d.facts, d.stage, d.trailing)


def place_home(d: Draft) -> None:
    """ENV HOME for the user when the stage set HOME to root's. The USER goes after the last
    RUN (or in place of a trailing USER root); an ENV that sets HOME after that point would
    set root's home again: the new HOME follows it."""
    if not d.home:
        return
    kw_env = "env" if d.dockerfile.lower_case else "ENV"
    home_text = f"{kw_env} HOME={dockerfile_word(d.home, d.dockerfile.escape)}\n"
    trailing = d.trailing if d.trailing_root else None
    user_at = trailing.start if trailing is not None else d.anchor.end + 1
    setter = last_home_setter(d.stage)
    was = d.facts.runtime.env["HOME"]
    if setter is not None and setter.start >= user_at:
        d.insert_after(setter, 3, home_text)
        d.notes.append(
            f"ENV HOME={d.home} after line {setter.end + 1}, which set HOME to {was}, root's"
        )
    else:
        d.user_text += home_text
        d.notes.append(f"ENV HOME={d.home} after the USER: HOME was {was}, root's")


def place_user(d: Draft) -> None:
    """The USER text after the last RUN, in place of a trailing USER root, or nothing at all
    when removing that USER root brings back the user the stage ran as."""
    trailing = d.trailing
    before = (
        user_before(d.facts, d.stage, trailing) if trailing is not None and d.trailing_root else ""
    )
    if trailing is not None and before and not d.lock and not d.late:
        # USER app ... USER root at the end: dropping the USER root brings app back, with
        # nothing between them that needs root. A second USER app would only say it twice.
        d.edits.append(Edit(trailing.start, trailing.end + 1, 2, ""))
        d.notes.append(
            f"removes USER {trailing.value.strip()} on line {trailing.lineno}: the stage "
            f"runs as {before} before it"
        )
    elif trailing is not None and before:
        # A RUN of the fix (--lock-users, directories made writable) needs root, and the
        # stage runs as its earlier user up to that USER root: it stays, the RUN follows it
        d.insert_after(trailing, 2, d.user_text)
        d.notes.append(f"USER {d.choice.value} after line {trailing.end + 1} ({d.choice.why})")
    elif trailing is not None and d.trailing_root:
        d.edits.append(Edit(trailing.start, trailing.end + 1, 2, eol(d.user_text, d.dockerfile)))
        d.notes.append(
            f"replaces USER {trailing.value.strip()} on line {trailing.lineno} with "
            f"USER {d.choice.value}"
        )
    else:
        d.insert_after(d.anchor, 2, d.user_text)
        where = f"after line {d.anchor.end + 1} ({d.choice.why})"
        if d.wrapped is None:
            d.notes.append(f"USER {d.choice.value} {where}")
        else:
            d.edits += d.wrapped.edits
            d.notes.append(
                f"the wrapper's COPY after line {d.anchor.end + 1}, for {d.choice.value} "
                f"({d.choice.why})"
            )
            d.notes += d.wrapped.notes


def chown_copies(d: Draft) -> None:
    """COPY/ADD into the app's directories get --chown. Linux only: the Dockerfile reference
    says it does not work for Windows containers (ownership there is not /etc/passwd uids)."""
    if d.settings.ownership != "app" or d.facts.family == "windows":
        return
    runtime = d.facts.runtime
    parent = runtime.stages[d.stage.parent] if d.stage.parent is not None else None
    inherited = start_workdir(chain(runtime.stages, parent), runtime.env) if parent else "/"
    copy_edits, owned = chown_edits(
        d.stage,
        d.dockerfile,
        d.choice,
        d.app_dirs,
        runtime.env,
        inherited,
        functools.cache(lambda: directories_named(d.facts)),
    )
    d.edits += copy_edits
    d.chowned += owned


def keep_children_building_as_root(d: Draft) -> None:
    """ONBUILD triggers and the stages built FROM this one still build as root (the wrapper
    changes no USER: it only warns that they inherit its ENTRYPOINT)."""
    if d.wrapped is not None:
        d.warnings += [
            WarningText(
                WarningRule.OTHER,
                f"stage {c.label} is built FROM {d.stage.label} and inherits its new "
                f"ENTRYPOINT: it runs as {d.choice.value} too, unless it sets an ENTRYPOINT of "
                "its own",
            )
            for c in d.facts.runtime.stages
            if c.parent == d.stage.index and not c.of("ENTRYPOINT")
        ]
        return
    onbuild = onbuild_edits(d.dockerfile, d.stage, d.choice)
    if onbuild:
        d.edits += [e for e in onbuild if e not in d.edits]
        d.notes.append(
            "ONBUILD triggers keep running as root in child builds (ONBUILD USER root "
            f"before them, ONBUILD USER {d.choice.value} after)"
        )
    children = child_edits(d.dockerfile, d.facts, d.stage, d.choice)
    d.edits += [edit for edit, _ in children]
    d.notes += [note for _, note in children if note]


def finish(d: Draft) -> Plan:
    change = Change(
        user=d.choice.value,
        created_user=f"{d.choice.name} ({d.choice.owner})" if d.choice.create else None,
        chowned=tuple(d.chowned),
        notes=tuple(d.notes),
        uid=d.choice.uid,
    )
    if d.wrapped is None:
        return Plan(tuple(d.edits), change, tuple(d.warnings))
    change = change._replace(
        strategy="entrypoint", wrapper=d.wrapped.wrapper.path, handed=d.wrapped.handed
    )
    return Plan(tuple(d.edits), change, tuple(d.warnings), (d.wrapped.wrapper,))
