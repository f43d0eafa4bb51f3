"""Stages, FROM chains, ARG/ENV resolution and the effective user of each stage."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from fixuser.dockerfile.lex import LexError, Unresolved
from fixuser.dockerfile.parse import Dockerfile, Instruction, exec_form
from fixuser.dockerfile.words import arg_pairs, env_pairs, expand, split_flags, substitute


class Stage:
    """One FROM and the instructions after it (a plain class: NamedTuple has its own index)."""

    __slots__ = (
        "_by_keyword",
        "escape",
        "from_instruction",
        "image",
        "index",
        "instructions",
        "name",
        "parent",
        "platform",
        "unresolved",
    )

    def __init__(
        self,
        index: int,
        name: str,  # the AS name, lower case, or ""
        image: str,  # the FROM reference after ARG substitution (may name an earlier stage)
        platform: str,
        from_instruction: Instruction,
        instructions: tuple[Instruction, ...],  # after the FROM, up to the next FROM
        parent: int | None,  # index of the stage this one is built FROM, when it is one
        unresolved: str,  # a variable in the FROM line with no value, or ""
        escape: str = "\\",  # the file's escape character, which BuildKit's expansion uses
    ) -> None:
        self.index = index
        self.escape = escape
        self.name = name
        self.image = image
        self.platform = platform
        self.from_instruction = from_instruction
        self.instructions = instructions
        self.parent = parent
        self.unresolved = unresolved
        self._by_keyword: dict[str, list[Instruction]] | None = None

    def __repr__(self) -> str:
        return f"Stage({self.index}, {self.name!r}, {self.image!r})"

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    def of(self, keyword: str) -> Sequence[Instruction]:
        """The stage's instructions with this keyword, in order (indexed on first use)."""
        if self._by_keyword is None:
            self._by_keyword = {}
            for instruction in self.instructions:
                self._by_keyword.setdefault(instruction.keyword, []).append(instruction)
        return self._by_keyword.get(keyword, ())


def global_args(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """The values of the ARGs before the first FROM (buildMetaArgs): a build argument, else
    the default expanded with the values before it; one BuildKit cannot expand has none."""
    values: dict[str, str] = {}
    for instruction in dockerfile.instructions:
        if instruction.keyword == "FROM":
            break
        for key, default in arg_pairs(instruction.value, dockerfile.escape):
            if key in build_args:
                values[key] = build_args[key]
            elif default is not None:
                try:
                    values[key] = expand(default, values, dockerfile.escape)
                except LexError:
                    values.pop(key, None)
    return values


def build_stages(dockerfile: Dockerfile, args: Mapping[str, str] | None = None) -> list[Stage]:
    """The stages, their FROM references resolved with ``args`` (the file's global ARG
    values: global_args(dockerfile, {}) when not given; analysis has them already)."""
    if args is None:
        args = global_args(dockerfile, {})
    instructions = dockerfile.instructions
    froms = [i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM"]
    stages: list[Stage] = []
    names: dict[str, int] = {}
    for number, at in enumerate(froms):
        instruction = instructions[at]
        flags, words = split_flags(instruction.value)
        raw = words[0] if words else ""
        unresolved = ""
        try:
            image = substitute(raw, args, strict=True)
        except Unresolved as e:
            unresolved, image = str(e), substitute(raw, args)
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
        platform = substitute(flags.get("platform", ""), args)
        parent = names.get(image.lower())  # FROM 0 is an image, as in BuildKit: no index
        end = froms[number + 1] if number + 1 < len(froms) else len(instructions)
        stage = Stage(
            len(stages),
            name,
            image,
            platform,
            instruction,
            instructions[at + 1 : end],
            parent,
            unresolved,
            dockerfile.escape,
        )
        if name:
            names[name] = stage.index
        stages.append(stage)
    return stages


def chain(stages: Sequence[Stage], stage: Stage) -> tuple[Stage, ...]:
    """The stage and the stages it is built FROM, nearest first. (The runtime stage's chain is
    worked out once, by its Runtime.)"""
    out = [stage]
    while out[-1].parent is not None and len(out) <= len(stages):
        out.append(stages[out[-1].parent])
    return tuple(out)


class LazyEnv(Mapping[str, str]):
    """A stage's ARG/ENV values, computed the first time one is looked up.

    Most values fixuser reads have no ``$`` in them, so for most files nothing is computed.
    """

    __slots__ = ("_compute", "_values")

    def __init__(self, compute: Callable[[], dict[str, str]]) -> None:
        self._compute = compute
        self._values: dict[str, str] | None = None

    def _get(self) -> dict[str, str]:
        if self._values is None:
            self._values = self._compute()
        return self._values

    def __getitem__(self, key: str) -> str:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def stage_env(stages: Sequence[Stage], stage: Stage, args: Mapping[str, str]) -> Mapping[str, str]:
    """ARG and ENV values visible at the end of ``stage`` (ENV is inherited through FROM),
    computed on the first lookup: most values fixuser reads have no ``$`` in them."""
    return LazyEnv(lambda: compute_env(stages, stage, args))


def compute_env(
    stages: Sequence[Stage], stage: Stage, args: Mapping[str, str], until: Instruction | None = None
) -> dict[str, str]:
    """The variables BuildKit expands with just before ``until`` (an instruction of
    ``stage``), or after the stage's last instruction.

    As dockerfile2llb builds them: each ENV and ARG of the stages the stage is built FROM, and
    of the stage, in order, sets its variable (a later one replaces it; a child stage inherits
    both kinds). The pairs of one ENV expand against the values before it; an ARG's default
    against those before it (its earlier pairs included); an ARG without a default takes the
    global ARG's value, or sets nothing. A value BuildKit cannot expand leaves its variable
    unset. The base image's own ENV is not known: its variables are unset here.
    """
    env: dict[str, str] = {}
    escape = stage.escape
    for link in reversed(chain(stages, stage)):
        for instruction in link.instructions:
            if instruction is until:
                return env
            if instruction.keyword == "ENV":
                pairs = env_pairs(instruction.value, escape)
                before = dict(env) if len(pairs) > 1 else env
                for key, raw in pairs:
                    try:
                        env[expand(key, before, escape)] = expand(raw, before, escape)
                    except LexError:
                        env.pop(key, None)
            elif instruction.keyword == "ARG":
                for key, default in arg_pairs(instruction.value, escape):
                    if default is None:
                        if key in args:
                            env[key] = args[key]
                        continue
                    try:
                        env[key] = expand(default, env, escape)
                    except LexError:
                        env.pop(key, None)
    return env


def env_at(
    stages: Sequence[Stage], stage: Stage, instruction: Instruction, args: Mapping[str, str]
) -> Mapping[str, str]:
    """The variables in effect at ``instruction`` of ``stage`` (computed on first lookup)."""
    return LazyEnv(lambda: compute_env(stages, stage, args, until=instruction))


def user_value(
    stages: Sequence[Stage], stage: Stage, instruction: Instruction, args: Mapping[str, str]
) -> str:
    """What the USER ``instruction`` of ``stage`` sets, expanded as BuildKit expands it with
    the ENV and ARG values in effect at that line (not the stage's last ones). Raises
    Unresolved (a variable with no value in the file makes it) or LexError (BuildKit fails)."""
    raw = instruction.value
    env: Mapping[str, str] = env_at(stages, stage, instruction, args) if "$" in raw else {}
    return expand(raw, env, stage.escape, strict=True)


class UserSetting(NamedTuple):
    value: str  # resolved USER value ("" when the chain sets none, or when it expands to "")
    instruction: Instruction | None
    stage: Stage | None
    unresolved: str = ""  # variable without a value
    error: str = ""  # BuildKit cannot expand the value: the build fails there


def last_user(stages: Sequence[Stage], stage: Stage, args: Mapping[str, str]) -> UserSetting:
    """The last USER in the stage or, failing that, in the stages it is built FROM."""
    for link in chain(stages, stage):
        users = link.of("USER")
        if users:
            instruction = users[-1]
            try:
                value = user_value(stages, link, instruction, args)
            except Unresolved as e:
                return UserSetting(instruction.value, instruction, link, e.name)
            except LexError as e:
                return UserSetting(instruction.value, instruction, link, error=str(e))
            return UserSetting(value, instruction, link)
    return UserSetting("", None, None)


# Shells whose ``-c SCRIPT`` an exec-form RUN may run (any directory, any version suffix).
SHELL_NAME_RE = re.compile(r"(?:ba|da|a|z|k|mk)?sh[0-9.]*\Z")


def run_text(instruction: Instruction) -> str:
    """The shell text a RUN runs: its shell form and heredoc bodies; for the exec form
    (``RUN ["sh", "-c", "useradd app"]``), the script a shell's ``-c`` runs, else the argv as
    one command line, each word quoted as the shell would need it (``["useradd", "app"]`` is
    ``useradd app``: the words are the argv, never ``app"]``)."""
    value = instruction.value
    if "[" in value:
        argv = exec_form(value)
        if argv is not None:
            return exec_script(argv) + "\n"
    return value + "\n" + "".join(instruction.heredocs)


def exec_script(argv: list[str]) -> str:
    """What an exec-form argv runs, as shell text."""
    if argv and SHELL_NAME_RE.match(posixpath.basename(argv[0])):
        index = 1
        while index < len(argv) - 1:
            option = argv[index]
            if option in ("-o", "+o", "-O", "+O"):  # bash -o pipefail -c SCRIPT
                index += 2
                continue
            if not option.startswith(("-", "+")) or option in ("-", "--"):
                break
            if not option.startswith("--") and "c" in option:
                return argv[index + 1]  # sh -c SCRIPT [NAME [ARG...]]
            index += 1
    return shlex.join(argv)


class Runtime:
    """The stage a container runs, seen once: the file's stages, the stage, its FROM chain
    (the stage, then each stage it is built FROM), the global ARG values, the variables in
    effect at the end of each stage of the chain, and the text of every RUN of the chain.
    analysis and plan take one of these instead of working any of it out again; the parts
    that cost something are computed on first use and kept here, not in the Stage objects."""

    __slots__ = ("_envs", "_run_text", "args", "chain", "escape", "stage", "stages")

    def __init__(
        self, stages: Sequence[Stage], stage: Stage, args: Mapping[str, str], escape: str = "\\"
    ) -> None:
        self.stages = tuple(stages)
        self.stage = stage
        self.args = args
        self.escape = escape  # the file's escape character: WORKDIR and USER values use it
        self.chain = chain(self.stages, stage)
        self._envs: dict[int, Mapping[str, str]] = {}
        self._run_text: str | None = None

    @property
    def env(self) -> Mapping[str, str]:
        """The ARG and ENV values in effect at the end of the runtime stage."""
        return self.env_of(self.stage)

    def env_of(self, link: Stage) -> Mapping[str, str]:
        """The values in effect at the end of ``link`` (a stage of the chain)."""
        env = self._envs.get(link.index)
        if env is None:
            env = self._envs[link.index] = stage_env(self.stages, link, self.args)
        return env

    @property
    def run_text(self) -> str:
        """Every RUN of the chain, one text ("" when there is none), for the searches that
        first ask whether a word is there at all."""
        if self._run_text is None:
            self._run_text = "\n".join(run_text(i) for link in self.chain for i in link.of("RUN"))
        return self._run_text

    def effective(self, keyword: str) -> Instruction | None:
        """The last ``keyword`` instruction of the chain, nearest stage first (ENTRYPOINT, CMD:
        a stage inherits them from the stage it is built FROM)."""
        for link in self.chain:
            found = link.of(keyword)
            if found:
                return found[-1]
        return None

    def last_user(self) -> UserSetting:
        return last_user(self.stages, self.stage, self.args)
