"""Analysis -> edits. Pure: decides which user, where the block and USER go, what gets owned."""

from __future__ import annotations

import functools
import itertools
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from fixuser.analysis.analyze import (
    CreatedUser,
    Facts,
    command,
    entry_words,
    run_text,
    runtime_workdir,
    safe_split,
)
from fixuser.dockerfile.parse import Dockerfile, Instruction, continues, strip_eol
from fixuser.dockerfile.stages import (
    LexError,
    Stage,
    chain,
    env_pairs,
    last_user,
    misspelled_root,
    process_word,
    split_flags,
    substitute,
    user_is_root,
    user_part,
    user_value,
    volume_words,
)
from fixuser.edits import Edit
from fixuser.knowledge.images import KnownUser
from fixuser.knowledge.paths import is_app_location, is_state_dir, is_system, normalise, under
from fixuser.model import Change, ExtraFile, FixRefused, WarningRule, WarningText
from fixuser.quoting import Unwritable, dockerfile_word, flag_word
from fixuser.settings import Settings

COMMENT = "# CIS Docker Benchmark 4.1: run as a non-root user"
SHELL_LESS = frozenset({"distroless", "scratch", "windows"})
TEMPLATES = {
    "debian": "debian.sh.j2",
    "alpine": "alpine.sh.j2",
    "rhel": "rhel.sh.j2",
    "rhel-minimal": "rhel-minimal.sh.j2",
    "suse": "suse.sh.j2",
    "arch": "arch.sh.j2",
    "unknown": "portable.sh.j2",
    "distroless": "distroless.sh.j2",
    "scratch": "scratch.sh.j2",
    "windows": "windows.sh.j2",
}
MKDIR_RE = re.compile(command("mkdir") + r"\s+([^;&|\n]*)")
RM_RE = re.compile(command("rm") + r"\s+(?=[^;&|\n]*-\w*[rR])([^;&|\n]*)")
COMMAND_RE = {"mkdir": MKDIR_RE, "rm": RM_RE}
NUMERIC_RE = re.compile(r"([0-9]+)(?::([0-9]+))?\Z")  # ASCII digits: what runc reads as a UID


class Choice(NamedTuple):
    """The user the runtime stage will run as."""

    value: str  # written after USER
    owner: str  # for chown and --chown: "10001:10001", or a name when no number is known
    create: bool  # a user block is inserted
    name: str
    uid: int | None
    gid: int | None
    why: str


class Plan(NamedTuple):
    edits: tuple[Edit, ...]
    change: Change
    warnings: tuple[WarningText, ...]
    extra_files: tuple[ExtraFile, ...] = ()  # --strategy entrypoint: its wrapper


def owner_of(uid: int | None, gid: int | None, name: str) -> str:
    if uid is None:
        return name
    return f"{uid}:{gid}" if gid is not None else str(uid)


def choose_user(facts: Facts, settings: Settings, warnings: list[WarningText]) -> Choice:
    image, family = facts.image, facts.family
    numeric = settings.user_format == "numeric"

    def reuse(name: str, uid: int | None, gid: int | None, why: str) -> Choice:
        if settings.openshift and uid is not None:
            gid = 0
        value = owner_of(uid, gid, name) if numeric or not name else name
        return Choice(value, owner_of(uid, gid, name), False, name, uid, gid, why)

    root = root_names(facts)
    if facts.earlier_user and user_part(facts.earlier_user) not in root:
        match = NUMERIC_RE.match(facts.earlier_user)
        if match:
            uid, gid = int(match.group(1)), match.group(2)
            return reuse(
                "",
                uid,
                int(gid) if gid else None,
                f"the stage already switched to {facts.earlier_user} before",
            )
        name = facts.earlier_user.split(":")[0]
        refuse_unwritable_user(facts.earlier_user)
        known: list[CreatedUser | KnownUser] = [*facts.created, *image.users]
        for user in known:
            if user.name == name:
                return reuse(name, user.uid, user.gid, f"the stage already used {name} before")
        return Choice(
            facts.earlier_user,
            name,
            False,
            name,
            None,
            None,
            f"the stage already used {name} before",
        )
    created = [u for u in facts.created if u.uid != 0]  # an account of UID 0 is root
    if created:
        user = created[-1]
        return reuse(
            user.name, user.uid, user.gid, f"line {user.instruction.lineno} creates {user.name}"
        )
    users = [u for u in image.users if u.uid != 0]
    if users and family != "windows":
        user = users[0]
        return reuse(user.name, user.uid, user.gid, f"the base image ships {user.name}")
    if family == "windows":
        return Choice(
            "ContainerUser",
            "ContainerUser",
            False,
            "ContainerUser",
            None,
            None,
            "Windows images ship ContainerUser",
        )
    if family == "scratch" or (family == "distroless" and not image.shell):
        uid = 65534 if family == "scratch" else 65532
        return Choice(
            f"{uid}:{uid}",
            f"{uid}:{uid}",
            False,
            "",
            uid,
            uid,
            "no passwd database and no shell: a numeric user"
            if family == "scratch"
            else "distroless images ship nonroot (65532)",
        )
    uid, gid = settings.uid, settings.group_id
    taken = {u.uid for u in (*image.reserved, *image.users)}
    while uid in taken:
        warnings.append(
            WarningText(
                WarningRule.UID_TAKEN,
                f"uid {uid} is already used by the base image ({image.evidence}); using {uid + 1}",
            )
        )
        uid, gid = uid + 1, (gid + 1 if settings.gid is None else gid)
    if settings.openshift:
        gid = 0
    value = f"{uid}:{gid}" if numeric else settings.user
    if settings.openshift and numeric:
        value = str(uid)
    return Choice(value, f"{uid}:{gid}", True, settings.user, uid, gid, "created by fixuser")


def root_names(facts: Facts) -> frozenset[str]:
    """Names the stage's chain or its base image gives UID 0 (``useradd -o -u 0 toor``): the
    container would run as root under them, so fixuser never switches to one."""
    users: list[CreatedUser | KnownUser] = [*facts.created, *facts.image.users]
    return frozenset(u.name for u in users if u.uid == 0)


def refuse_unwritable_user(value: str) -> None:
    """An earlier USER fixuser would reuse must stay one word in a USER line and in ``chown``:
    a blank, a line break or a leading '-' (an option to chown) cannot."""
    if value.startswith("-") or any(c.isspace() for c in value):
        raise FixRefused(
            f"the stage's earlier USER {value!r} cannot be written as one word of a USER "
            "line or a chown"
        )


def after_header(stage: Stage) -> Instruction:
    """The FROM and the ARG/ENV/LABEL instructions directly under it: the block goes after."""
    last = stage.from_instruction
    for instruction in stage.instructions:
        if instruction.keyword not in ("ARG", "ENV", "LABEL", "MAINTAINER"):
            break
        last = instruction
    return last


class Writable:
    __slots__ = ("deadline", "path")

    def __init__(self, path: str, deadline: int) -> None:
        self.path = path
        self.deadline = deadline  # index (in stage.instructions) to own it before, -1: any time


def command_paths(command: str, text: str, workdir: str, env: Mapping[str, str]) -> list[str]:
    """The path operands of each ``mkdir``/``rm`` in a RUN, resolved against the WORKDIR."""
    targets: list[str] = []
    if command not in text:
        return targets  # most RUNs make no directory: no regex, no shell-word split
    for match in COMMAND_RE[command].finditer(text.replace("\\\n", " ")):
        words = safe_split(match.group(1))
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word in ("-m", "--mode"):
                skip = True
                continue
            if word.startswith(("-", "~")):
                continue
            path = substitute(word, env)
            if not path or any(c in path for c in "{}*?$`()\"'<>~:\\"):
                continue
            targets.append(normalise(posixpath.join(workdir, path)))
    return targets


def writable_dirs(
    facts: Facts, stage: Stage, settings: Settings
) -> tuple[list[Writable], list[str]]:
    """Directories the app must be able to write, and its app directories (for --chown).

    The app's directories are its WORKDIRs and VOLUMEs; a directory a RUN step makes counts
    when it lies in one of them or outside the shared system roots (/opt/java, made by an
    install step, does not), and not when a later step removes it again (a build scratch dir).
    """
    env = facts.env
    found: dict[str, Writable] = {}
    app_dirs: list[str] = []
    runs: list[tuple[int, str, str]] = []  # (position, text, WORKDIR) of each RUN
    position = 0

    def add(path: str, deadline: int) -> None:
        if is_system(path):
            return
        if path not in found:
            found[path] = Writable(path, deadline)
        elif deadline >= 0 and (found[path].deadline < 0 or deadline < found[path].deadline):
            found[path].deadline = deadline

    for link in reversed(chain(facts.stages, stage)):
        workdir = "/"
        for index, instruction in enumerate(link.instructions):
            position += 1
            if instruction.keyword == "WORKDIR":
                value = process_word(instruction.value, env, link.escape)
                if ":" in value or "\\" in value:  # a Windows path
                    continue
                workdir = normalise(posixpath.join(workdir, value))
                if not is_system(workdir):
                    app_dirs.append(workdir)
                    if settings.ownership == "app":
                        add(workdir, -1)
            elif instruction.keyword == "RUN":
                runs.append((position, run_text(instruction), workdir))
            elif instruction.keyword == "VOLUME":
                for path in volume_paths(instruction.value, env, facts.escape):
                    path = normalise(posixpath.join(workdir, path))
                    app_dirs.append(path)
                    if link is stage:
                        add(path, index)
    made = [(at, p, text) for at, text, cwd in runs for p in command_paths("mkdir", text, cwd, env)]
    removed = []  # what ``rm -r`` removes matters only when something was made
    if made:
        removed = [(at, p) for at, text, cwd in runs for p in command_paths("rm", text, cwd, env)]
    for at, path, text in made:
        if any(gone >= at and under(path, target) for gone, target in removed):
            continue
        if is_app_location(path, app_dirs):
            add(path, -1)
        elif is_state_dir(path) and not installs_into(text, path, env):
            add(path, -1)  # /var/lib/app, /opt/app, /home/app: where the app keeps its state
    return list(found.values()), app_dirs


def inherited_volumes(facts: Facts, stage: Stage) -> list[tuple[str, Stage, Instruction]]:
    """The absolute VOLUME paths the stage inherits from the stages of this file it is built
    FROM, outside the system directories, each with its stage and VOLUME line."""
    found: list[tuple[str, Stage, Instruction]] = []
    for link in chain(facts.stages, stage)[1:]:
        for instruction in link.of("VOLUME"):
            for path in volume_paths(instruction.value, facts.env, facts.escape):
                path = normalise(path)
                if path.startswith("/") and not is_system(path):
                    found.append((path, link, instruction))
    return found


INSTALL_TARGET_RE = re.compile(
    r"""(?:\s-C|\s-d|--directory[= ]|--prefix[= ]|--target[= ])\s*["']?(/[^\s"';&|]*)"""
)


def installs_into(text: str, path: str, env: Mapping[str, str]) -> bool:
    """The RUN that makes ``path`` unpacks or installs into it (``tar -C``, ``unzip -d``,
    ``--prefix``): an install tree, like /opt/java/openjdk, not where the app writes."""
    text = substitute(text, env) if "$" in text else text
    return any(normalise(target.rstrip("/")) == path for target in INSTALL_TARGET_RE.findall(text))


def volume_paths(value: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    paths = volume_words(value, env, escape)
    return [p for p in paths if p and ":" not in p and "\\" not in p and not p.startswith("~")]


def chown_edits(
    stage: Stage,
    dockerfile: Dockerfile,
    choice: Choice,
    app_dirs: list[str],
    env: Mapping[str, str],
    start_workdir: str = "/",
    used_as_directory: Callable[[], frozenset[str]] = frozenset,
) -> tuple[list[Edit], list[str]]:
    edits, owned = [], []
    owner = flag_word(choice.owner, dockerfile.escape)  # BuildKit expands --chown=
    workdir = start_workdir  # a WORKDIR the stage inherits from the stage it is built FROM
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            value = process_word(instruction.value, env, stage.escape)
            workdir = normalise(posixpath.join(workdir, value))
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        flags, words = split_flags(instruction.value)
        if "chown" in flags or len(words) < 2:
            continue
        raw = substitute(words[-1], env)
        dest = normalise(posixpath.join(workdir, raw))
        if not is_app_location(dest, app_dirs):
            continue
        if (
            posixpath.dirname(dest) == "/"
            and not raw.endswith("/")
            and dest not in app_dirs
            and dest not in used_as_directory()  # worked out only for such a COPY
        ):
            # /entrypoint.sh, /server: most likely a file at the top of the tree, and an app
            # that can rewrite its own entrypoint is worse off; / is no app directory.
            continue
        line = dockerfile.lines[instruction.start]
        indent = len(line) - len(line.lstrip())
        cut = indent + len(instruction.written)
        edits.append(
            Edit(
                instruction.start,
                instruction.start + 1,
                0,
                f"{line[:cut]} --chown={owner}{line[cut:]}",
            )
        )
        owned.append(
            f"line {instruction.lineno}: {instruction.written} {words[-1]} --chown={choice.owner}"
        )
    return edits, owned


CLASSPATH_FLAGS = frozenset({"-cp", "-classpath", "--classpath", "--class-path"})


def directories_named(facts: Facts, stage: Stage) -> frozenset[str]:
    """Top-level paths the stage uses as directories: a path below them in ENTRYPOINT/CMD, a
    WORKDIR or a COPY destination (``/app/bin/run``), or a class path (``java -cp /app``).
    ``COPY classes /app`` then copies a directory, not a file such as ``/server``."""
    words, _ = entry_words(list(facts.stages), stage)
    paths = [substitute(w, facts.env) for w in words]
    named = {
        value
        for flag, value in itertools.pairwise(paths)
        if flag in CLASSPATH_FLAGS and value.startswith("/")
    }
    for link in chain(facts.stages, stage):
        for instruction in link.instructions:
            if instruction.keyword == "WORKDIR":
                paths.append(process_word(instruction.value, facts.env, link.escape))
            elif instruction.keyword in ("COPY", "ADD"):
                words = split_flags(instruction.value)[1]
                if words:
                    paths.append(substitute(words[-1], facts.env))
    for path in paths:
        for part in path.split(":"):  # -cp /app/lib:/app/classes
            if part.startswith("/") and part.count("/") >= 2:
                named.add("/" + part.split("/")[1])
    return frozenset(normalise(p) for p in named)


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


def eol(text: str, dockerfile: Dockerfile) -> str:
    return text.replace("\n", dockerfile.newline)


def insertion_after(dockerfile: Dockerfile, instruction: Instruction) -> tuple[int, list[Edit]]:
    """Where text goes after ``instruction``, closing a dangling continuation or last line."""
    line = instruction.end + 1
    edits: list[Edit] = []
    last = dockerfile.lines[instruction.end]
    body = strip_eol(last)
    ending = last[len(body) :]
    if not ending.endswith("\n"):
        # The file's last line: no ending, or a lone "\r" (which ends no line: text written
        # after it would join it). It gets the file's line ending.
        ending = ""
    # An instruction's last line can only still continue when nothing but blank lines and
    # comments follow it to the end of the file: the continuation dangles, and would swallow
    # whatever is inserted after it (blank and comment lines do not end a continuation).
    # Lossy on purpose: the escape character goes.
    if continues(last, dockerfile.escape):
        body = body.rstrip(" \t")[: -len(dockerfile.escape)].rstrip(" \t")
        edits.append(Edit(instruction.end, line, 0, body + (ending or dockerfile.newline)))
    elif not ending:
        edits.append(Edit(instruction.end, line, 0, body + dockerfile.newline))
    return line, edits


def home_of(choice: Choice) -> str:
    return f"/home/{choice.name}"


def new_home(facts: Facts, choice: Choice) -> str:
    """A home for the user when the stage sets HOME to root's (/root or below): caches and
    dotfiles under $HOME keep working once the container no longer runs as root."""
    home = facts.env.get("HOME", "")
    if not choice.name or not (home == "/root" or home.startswith("/root/")):
        return ""
    return home_of(choice)


def last_home_setter(stage: Stage) -> Instruction | None:
    """The stage's last ENV that sets HOME, or None."""
    for instruction in reversed(stage.of("ENV")):
        if "HOME" in instruction.value and any(
            key == "HOME" for key, _ in env_pairs(instruction.value, stage.escape)
        ):
            return instruction
    return None


def user_before(facts: Facts, stage: Stage, instruction: Instruction) -> str:
    """The non-root user in effect just before ``instruction`` (a USER of ``stage``), or ""
    when that is root, unknown or unset."""
    earlier = [u for u in stage.of("USER") if u.start < instruction.start]
    if earlier:
        try:
            value = user_value(list(facts.stages), stage, earlier[-1], facts.args)
        except LexError:
            return ""
    elif stage.parent is not None:
        setting = last_user(list(facts.stages), facts.stages[stage.parent], facts.args)
        if setting.unresolved or setting.error or setting.instruction is None:
            return ""
        value = setting.value
    else:
        return ""  # the base image's default: USER root there is no repetition
    if user_is_root(value) or misspelled_root(value):
        return ""
    if user_part(value) in root_names(facts):
        return ""
    return value


def sets_root(facts: Facts, stage: Stage, instruction: Instruction) -> bool:
    """The USER ``instruction`` of ``stage`` makes it root, read as BuildKit reads it there:
    ``root``, 0, or nothing at all (``USER $EMPTY``)."""
    try:
        return user_is_root(user_value(list(facts.stages), stage, instruction, facts.args))
    except LexError:
        return False


def child_edits(
    dockerfile: Dockerfile, facts: Facts, stage: Stage, choice: Choice
) -> list[tuple[Edit, str]]:
    """``USER root`` after the FROM of each stage built FROM the fixed one (``--target``):
    its RUN steps still run as root and it ends as the user it had; what is built FROM those
    inherits from them, unchanged. Not where the stage's first instruction is its own USER."""
    kw_user = "user" if dockerfile.lower_case else "USER"
    out: list[tuple[Edit, str]] = []
    for child in facts.stages:
        if child.parent != stage.index:
            continue
        header = after_header(child)
        rest = (
            child.instructions[child.instructions.index(header) + 1 :]
            if header in (child.instructions)
            else child.instructions
        )
        if rest and rest[0].keyword == "USER":
            continue
        at, extra = insertion_after(dockerfile, header)
        text = (
            f"# fixuser: stage {stage.label} now runs as {choice.value}; this one builds as "
            f"root, as before\n{kw_user} root\n"
        )
        out += [(edit, "") for edit in extra]
        out.append(
            (
                Edit(at, at, 0, eol(text, dockerfile)),
                f"USER root after the FROM of stage {child.label} on line "
                f"{child.from_instruction.lineno}: it is built FROM {stage.label} and keeps "
                "building and running as root",
            )
        )
    return out


def onbuild_edits(dockerfile: Dockerfile, stage: Stage, choice: Choice) -> list[Edit]:
    """A child build runs ONBUILD triggers as the parent's final USER: keep RUN triggers root."""
    triggers = stage.of("ONBUILD")
    if not any(t.value.lstrip().upper().startswith("RUN") for t in triggers):
        return []
    keyword = "onbuild user" if dockerfile.lower_case else "ONBUILD USER"
    first, last = triggers[0], triggers[-1]
    at, extra = insertion_after(dockerfile, last)
    return [
        Edit(first.start, first.start, 3, eol(f"{keyword} root\n", dockerfile)),
        *extra,
        Edit(
            at,
            at,
            1,
            eol(f"{keyword} {dockerfile_word(choice.value, dockerfile.escape)}\n", dockerfile),
        ),
    ]


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
    warnings: list[WarningText] = []
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
                WarningText(
                    WarningRule.OTHER,
                    "no shell in the base image: "
                    + ", ".join(left)
                    + " stay owned by root (COPY --chown owns what is copied)",
                )
            )
        late, early = [], []
    if not entry:  # the wrapper hands VOLUMEs over at start, inherited ones included
        warnings += [
            WarningText(
                WarningRule.OTHER,
                f"line {at.lineno}: VOLUME {path} comes from stage {link.label}, which this stage "
                "is built FROM: the directory is fixed at that line, so a chown here would be lost "
                f"(buildah and podman discard it) and it stays root's; if the app writes there, "
                f"chown it to {choice.owner} before that VOLUME line, or mount a volume it owns",
            )
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
        if lock:
            notes.append(said)
        else:
            warnings.append(WarningText(WarningRule.OTHER, said))
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
            WarningText(
                WarningRule.OTHER,
                f"stage {c.label} is built FROM {stage.label} and inherits its new ENTRYPOINT: it "
                f"runs as {choice.value} too, unless it sets an ENTRYPOINT of its own",
            )
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
