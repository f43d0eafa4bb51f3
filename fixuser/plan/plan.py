"""Analysis -> edits. Pure: decides which user, where the block and USER go, what gets owned."""

from __future__ import annotations

import functools
import posixpath
from typing import NamedTuple

from fixuser.analysis.analyze import Facts
from fixuser.analysis.runs import runtime_workdir
from fixuser.dockerfile.parse import Dockerfile
from fixuser.dockerfile.words import process_word
from fixuser.edits import Edit
from fixuser.knowledge.paths import normalise
from fixuser.model import Change, ExtraFile, FixRefused
from fixuser.plan.blocks import COMMENT, SHELL_LESS, TEMPLATES, home_of, new_home, render_block
from fixuser.plan.ownership import chown_edits, directories_named, inherited_volumes, writable_dirs
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
from fixuser.plan.user import choose_user
from fixuser.quoting import Unwritable, dockerfile_word
from fixuser.settings import Settings


class Plan(NamedTuple):
    edits: tuple[Edit, ...]
    change: Change
    warnings: tuple[str, ...]
    extra_files: tuple[ExtraFile, ...] = ()  # --strategy entrypoint: its wrapper


def plan(dockerfile: Dockerfile, facts: Facts, settings: Settings, path: str = "-") -> Plan:
    """The edits that fix the stage; FixRefused when a path or name from the file cannot be
    written where the fix would write it (a line break in a VOLUME path)."""
    try:
        return plan_edits(dockerfile, facts, settings, path)
    except Unwritable as e:
        raise FixRefused(f"cannot write a value of this file into the fix: {e}") from e


def plan_edits(dockerfile: Dockerfile, facts: Facts, settings: Settings, path: str) -> Plan:
    stage = facts.stage
    assert stage is not None
    warnings: list[str] = []
    has_shell = facts.image.shell and facts.family not in SHELL_LESS
    # --strategy entrypoint: no USER; a wrapper drops to the user at start (fixuser.plan.entrypoint)
    entry = settings.strategy == "entrypoint"
    if entry and not has_shell:
        from fixuser.plan.entrypoint import refuse_without_shell

        refuse_without_shell(facts)
    choice = choose_user(facts, settings, warnings)
    edits: list[Edit] = []
    notes: list[str] = []
    kw_user = "user" if dockerfile.lower_case else "USER"

    header = after_header(stage)
    runs = stage.of("RUN")
    last_run = runs[-1] if runs else None
    anchor = last_run or header
    users_after = [u for u in stage.of("USER") if last_run is None or u.start > last_run.end]

    targets, app_dirs = writable_dirs(facts, stage, settings)
    anchor_index = stage.instructions.index(anchor) if anchor in stage.instructions else -1
    early = [t for t in targets if 0 <= t.deadline <= anchor_index]
    late = [t.path for t in targets if t not in early]
    # A user fixuser creates gets a home of its own, made and owned in its block: HOME is
    # where tools keep caches and dotfiles, and /nonexistent breaks them.
    own_home = home_of(choice) if has_shell and choice.create else ""
    home = new_home(facts, choice) if has_shell and not entry else ""  # the wrapper sets HOME
    if home and home not in late and home != own_home:
        late.append(home)
    if not entry:  # --writable with a USER: made the user's at build time
        late += [p for p in settings.writable if p not in late and p != own_home]
    tool = ""
    if entry:
        from fixuser.plan import entrypoint

        tool = entrypoint.render_tool(dockerfile, facts.family)

    chowned: list[str] = []
    if has_shell and choice.create:
        block_dirs = [own_home, *(late if anchor is header else [])]
        block = render_block(
            TEMPLATES.get(facts.family, "portable.sh.j2"), dockerfile, choice, settings, block_dirs
        )
        at, extra = insertion_after(dockerfile, header)
        edits += extra
        edits.append(Edit(at, at, 1, eol(block + tool, dockerfile)))
        notes.append(
            f"creates user {choice.name} ({choice.owner}) with the {facts.family} "
            "template after the FROM"
        )
        chowned += block_dirs
        notes.append(f"makes {', '.join(block_dirs)} writable by {choice.owner} in that block")
        if anchor is header:
            late = []
    elif tool:
        at, extra = insertion_after(dockerfile, header)
        edits += extra
        edits.append(Edit(at, at, 1, eol(tool, dockerfile)))
    if tool:
        notes.append(f"puts the wrapper's tool in the image ({facts.family}) after the FROM")
    if targets and not has_shell:
        # No RUN is possible. A WORKDIR that comes after the USER is created owned by that
        # user (BuildKit and buildah alike: tests/test_engine.py proves it for buildah), and
        # COPY --chown creates its destination owned; anything else stays root's.
        after_user = {
            normalise(posixpath.join("/", process_word(i.value, facts.env, stage.escape)))
            for i in stage.instructions[anchor_index + 1 :]
            if i.keyword == "WORKDIR"
        }
        left = [t.path for t in targets if t.path not in after_user]
        if left:
            warnings.append(
                "no shell in the base image: "
                + ", ".join(left)
                + " stay owned by root (COPY --chown owns what is copied)"
            )
        late, early = [], []
    if not entry:  # the wrapper hands VOLUMEs over at start, inherited ones included
        warnings += [
            f"line {at.lineno}: VOLUME {path} comes from stage {link.label}, which this stage "
            "is built FROM: the directory is fixed at that line, so a chown here would be lost "
            f"(buildah and podman discard it) and it stays root's; if the app writes there, "
            f"chown it to {choice.owner} before that VOLUME line, or mount a volume it owns"
            for path, link, at in inherited_volumes(facts, stage)
        ]
    if early:
        first = min(t.deadline for t in early)
        volume = stage.instructions[first]
        dirs = [t.path for t in early]
        edits.append(
            Edit(
                volume.start,
                volume.start,
                2,  # after a user block inserted at the same place
                eol(render_block("writable.sh.j2", dockerfile, choice, settings, dirs), dockerfile),
            )
        )
        chowned += dirs
        notes.append(f"makes {', '.join(dirs)} writable before the VOLUME on line {volume.lineno}")
    user_text = f"{COMMENT}\n"
    wrapped = None
    if entry:
        wrapped = entrypoint.plan_entrypoint(
            dockerfile,
            facts,
            settings,
            path=path,
            user=choice.name,
            uid=choice.uid,
            gid=choice.gid,
            owner=choice.owner,
        )
        user_text = wrapped.text
    lock = ""
    if settings.lock_users:  # one RUN before the USER, after the stage's own RUN steps
        from fixuser.analysis.accounts import lock_users

        lock, said = lock_users(
            facts.family if has_shell else None,
            choice.name,
            choice.uid,
            lower_case=dockerfile.lower_case,
            escape=dockerfile.escape,
        )
        (notes if lock else warnings).append(said)
        user_text = lock + user_text
    if late:
        user_text = render_block("writable.sh.j2", dockerfile, choice, settings, late) + user_text
        chowned += late
        notes.append(f"makes {', '.join(late)} writable by {choice.owner}")
    if wrapped is None:
        user_text += f"{kw_user} {dockerfile_word(choice.value, dockerfile.escape)}\n"
    trailing = users_after[-1] if users_after and wrapped is None else None
    trailing_root = trailing is not None and sets_root(facts, stage, trailing)
    if home:
        kw_env = "env" if dockerfile.lower_case else "ENV"
        home_text = f"{kw_env} HOME={dockerfile_word(home, dockerfile.escape)}\n"
        # The USER goes after the last RUN (or in place of a trailing USER root); an ENV that
        # sets HOME after that point would set root's home again: the new HOME follows it.
        user_at = trailing.start if trailing is not None and trailing_root else anchor.end + 1
        setter = last_home_setter(stage)
        if setter is not None and setter.start >= user_at:
            at, extra = insertion_after(dockerfile, setter)
            edits += [e for e in extra if e not in edits]
            edits.append(Edit(at, at, 3, eol(home_text, dockerfile)))
            notes.append(
                f"ENV HOME={home} after line {setter.end + 1}, which set HOME to "
                f"{facts.env['HOME']}, root's"
            )
        else:
            user_text += home_text
            notes.append(f"ENV HOME={home} after the USER: HOME was {facts.env['HOME']}, root's")
    before = user_before(facts, stage, trailing) if trailing is not None and trailing_root else ""
    if trailing is not None and before and not lock and not late:
        # USER app ... USER root at the end: dropping the USER root brings app back, with
        # nothing between them that needs root. A second USER app would only say it twice.
        edits.append(Edit(trailing.start, trailing.end + 1, 2, ""))
        notes.append(
            f"removes USER {trailing.value.strip()} on line {trailing.lineno}: the stage "
            f"runs as {before} before it"
        )
    elif trailing is not None and before:
        # A RUN of the fix (--lock-users, directories made writable) needs root, and the
        # stage runs as its earlier user up to that USER root: it stays, the RUN follows it
        at, extra = insertion_after(dockerfile, trailing)
        edits += [e for e in extra if e not in edits]
        edits.append(Edit(at, at, 2, eol(user_text, dockerfile)))
        notes.append(f"USER {choice.value} after line {trailing.end + 1} ({choice.why})")
    elif trailing is not None and trailing_root:
        edits.append(Edit(trailing.start, trailing.end + 1, 2, eol(user_text, dockerfile)))
        notes.append(
            f"replaces USER {trailing.value.strip()} on line {trailing.lineno} with "
            f"USER {choice.value}"
        )
    else:
        at, extra = insertion_after(dockerfile, anchor)
        edits += [e for e in extra if e not in edits]
        edits.append(Edit(at, at, 2, eol(user_text, dockerfile)))
        if wrapped is None:
            notes.append(f"USER {choice.value} after line {anchor.end + 1} ({choice.why})")
        else:
            edits += wrapped.edits
            notes.append(
                f"the wrapper's COPY after line {anchor.end + 1}, for {choice.value} ({choice.why})"
            )
            notes += wrapped.notes
    # COPY/ADD --chown is Linux-only: the Dockerfile reference says it does not work for
    # Windows containers (ownership there is not /etc/passwd uids).
    if settings.ownership == "app" and facts.family != "windows":
        parent = facts.stages[stage.parent] if stage.parent is not None else None
        inherited = runtime_workdir(list(facts.stages), parent, facts.env) if parent else "/"
        copy_edits, owned = chown_edits(
            stage,
            dockerfile,
            choice,
            app_dirs,
            facts.env,
            inherited,
            functools.cache(lambda: directories_named(facts, stage)),
        )
        edits += copy_edits
        chowned += owned
    # The wrapper changes no USER: ONBUILD triggers and child stages still build as root.
    onbuild = onbuild_edits(dockerfile, stage, choice) if wrapped is None else []
    if onbuild:
        edits += [e for e in onbuild if e not in edits]
        notes.append(
            "ONBUILD triggers keep running as root in child builds (ONBUILD USER root "
            f"before them, ONBUILD USER {choice.value} after)"
        )
    children = child_edits(dockerfile, facts, stage, choice) if wrapped is None else []
    if wrapped is not None:
        warnings += [
            f"stage {c.label} is built FROM {stage.label} and inherits its new ENTRYPOINT: it "
            f"runs as {choice.value} too, unless it sets an ENTRYPOINT of its own"
            for c in facts.stages
            if c.parent == stage.index and not c.of("ENTRYPOINT")
        ]
    if children:
        edits += [edit for edit, _ in children]
        notes += [note for _, note in children if note]
    change = Change(
        user=choice.value,
        created_user=f"{choice.name} ({choice.owner})" if choice.create else None,
        chowned=tuple(chowned),
        notes=tuple(notes),
        uid=choice.uid,
    )
    if wrapped is None:
        return Plan(tuple(edits), change, tuple(warnings))
    change = change._replace(
        strategy="entrypoint", wrapper=wrapped.wrapper.path, handed=wrapped.handed
    )
    return Plan(tuple(edits), change, tuple(warnings), (wrapped.wrapper,))
