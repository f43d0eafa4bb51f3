"""Stages, FROM chains, ARG/ENV resolution and the effective user of each stage."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from fixuser.dockerfile import lex
from fixuser.dockerfile.lex import (
    LexError as LexError,  # re-exported: the expansions here raise them
)
from fixuser.dockerfile.lex import Unresolved as Unresolved
from fixuser.dockerfile.parse import GO_SPACE, KEYWORD_SPLIT_RE, Dockerfile, Instruction, exec_form

# Go's strconv.Atoi, which the runtime (runc's user lookup) uses on the user part of USER: an
# optional sign and decimal digits. When it succeeds the part is a UID, whatever passwd says.
ATOI_RE = re.compile(r"[+-]?[0-9]+\Z")
ATOI_LIMIT = 2**63  # Atoi fails past int64: the part is then looked up as a name


def substitute(text: str, env: Mapping[str, str], strict: bool = False) -> str:
    """Expand the variables of ``text`` (a shell word, its quotes already gone) by BuildKit's
    rules: ``$VAR``, ``${VAR}``, ``${VAR:-x}`` nested to any depth, ``:+``, ``-``, ``+``,
    ``#``, ``%``, ``/``. ``strict``: Unresolved when a variable without a value expands to
    nothing. What BuildKit could not expand at all comes back as written."""
    if "$" not in text:
        return text  # most values: and then ``env`` is never looked at (see LazyEnv)
    try:
        return lex.word(text, env, "", strict=strict, quotes=False)
    except Unresolved:
        raise
    except LexError:
        return text


def expand(text: str, env: Mapping[str, str], escape: str = "\\", strict: bool = False) -> str:
    """A word of the Dockerfile (USER, ENV and ARG values, FROM) as BuildKit expands it:
    variables, quotes and escapes (ProcessWord). Raises LexError where BuildKit fails the
    build, and Unresolved (``strict``) as ``substitute``."""
    return lex.word(text, env, escape, strict=strict)


def process_word(
    text: str, env: Mapping[str, str], escape: str = "\\", strict: bool = False
) -> str:
    """The value of a one-word instruction (WORKDIR, USER, a VOLUME path) as BuildKit's
    ProcessWord makes it: quotes removed, the escape character escaping the next character,
    variables expanded (not in single quotes). ``WORKDIR "/app data"`` is /app data,
    ``USER "app"`` is app. What BuildKit cannot expand (an unclosed quote, ``${A B}``: its build
    fails there) is left to ``substitute`` alone."""
    try:
        return expand(text, env, escape, strict)
    except Unresolved:
        raise
    except LexError:
        return substitute(text, env, strict)


QUOTING = frozenset("'\"\\")
# One piece of a word: plain characters, a '...' or "..." string, or a backslash escape; or
# the blanks between words. shlex's whitespace is these four, not all of \s.
PIECE_RE = re.compile(
    r"""[^ \t\r\n'"\\]+|'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])|([ \t\r\n]+)"""
)
QUOTED_ESCAPE_RE = re.compile(r'\\(["\\])')  # in "...", a backslash escapes only " and \


def shell_words(text: str) -> list[str]:
    """POSIX shell words, as ``shlex.split(text)`` splits them; ``str.split`` when it cannot
    (an unclosed quote, a trailing backslash) or when nothing is quoted."""
    if QUOTING.isdisjoint(text):
        return text.split()
    try:
        return posix_split(text)
    except ValueError:
        return text.split()


def posix_split(text: str) -> list[str]:
    """``shlex.split(text, posix=True)`` by regex, ~10x faster (tests/test_stages.py holds the
    two to the same words and the same refusals)."""
    words: list[str] = []
    word: list[str] = []
    quoted = False  # '' and "" make a word of their own, even empty
    position, end = 0, len(text)
    while position < end:
        match = PIECE_RE.match(text, position)
        if match is None:
            raise ValueError(f"unclosed quote or trailing backslash at {position}")
        position = match.end()
        single, double, escaped, blank = match.groups()
        if blank is not None:
            if word or quoted:
                words.append("".join(word))
                word, quoted = [], False
        elif single is not None:
            word.append(single)
            quoted = True
        elif double is not None:
            word.append(QUOTED_ESCAPE_RE.sub(r"\1", double) if "\\" in double else double)
            quoted = True
        elif escaped is not None:
            word.append(escaped)
        else:
            word.append(match.group())
    if word or quoted:
        words.append("".join(word))
    return words


def split_flags(value: str) -> tuple[dict[str, str], list[str]]:
    """Leading ``--flag=value`` options and the remaining words of an instruction: its JSON
    array when the rest is one (``COPY ["a b", "/app/"]``), else its shell words."""
    words = shell_words(value)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        name, _, flag_value = words.pop(0)[2:].partition("=")
        flags[name.lower()] = flag_value
    if "[" in value:
        argv = exec_form(value)
        if argv is not None:
            return flags, argv
    return flags, words


def json_or_words(value: str) -> list[str]:
    """Arguments of an exec-form (JSON) or shell-form instruction, split into words; the exec
    form only as BuildKit reads it (the whole rest a JSON array of strings)."""
    return split_flags(value)[1]


def volume_words(value: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """VOLUME's paths as BuildKit reads them: the strings of its JSON array, or its words
    split at blanks, each then processed as a word (quotes removed, variables expanded), so
    ``VOLUME ["'/data'"]`` is /data."""
    words = exec_form(value, escape)
    return [process_word(w, env, escape) for w in (value.split() if words is None else words)]


def buildkit_words(rest: str, escape: str) -> list[str]:
    """BuildKit's parseWords (line_parsers.go): words split at unquoted blanks, their quotes
    and escapes kept for the expansion that follows (ENV and ARG pairs)."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False  # a quoted "" is a word
    quote = ""
    position, end = 0, len(rest)
    while position < end:
        ch = rest[position]
        position += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if position == end:
                    break
                word.append(ch)
                ch = rest[position]
                position += 1
            word.append(ch)
        elif ch in GO_SPACE:
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok = [], False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if position == end:
                    break
                word.append(ch)
                ch = rest[position]
                position += 1
            word.append(ch)
    if blank_ok or word:
        words.append("".join(word))
    return words


def env_pairs(value: str, escape: str) -> list[tuple[str, str]]:
    """ENV's pairs as written (parseNameVal): ``K=V K2="V 2"``, or the legacy ``K rest``; a
    word without ``=`` in the first form is an error in BuildKit, and is left out here."""
    words = buildkit_words(value, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = KEYWORD_SPLIT_RE.split(value, maxsplit=1)
        return [(parts[0], parts[1])] if len(parts) == 2 else []
    return [(k, v) for k, equals, v in (w.partition("=") for w in words) if equals and k]


def arg_pairs(value: str, escape: str) -> list[tuple[str, str | None]]:
    """ARG's names and their defaults as written (None: declared without one)."""
    pairs: list[tuple[str, str | None]] = []
    for word in buildkit_words(value, escape):
        key, equals, default = word.partition("=")
        if key:
            pairs.append((key, default if equals else None))
    return pairs


def user_part(user: str) -> str:
    """The user of a ``USER user[:group]`` value."""
    return user.split(":", 1)[0].strip()


def numeric_uid(part: str) -> int | None:
    """The UID the runtime reads ``part`` as, or None when it is a name (strconv.Atoi)."""
    if not ATOI_RE.match(part):
        return None
    value = int(part)
    return value if -ATOI_LIMIT <= value < ATOI_LIMIT else None


def is_root_user(user: str) -> bool:
    """Runs as UID 0: ``root`` (names are case-sensitive), any number Atoi reads as 0 (``0``,
    ``000``, ``+0``, ``-0``), with any group; and Windows' ``ContainerAdministrator`` (Windows
    account names are case-insensitive). hadolint DL3002 agrees on ``root``, ``0``, ``root:*``
    and ``0:*``."""
    part = user_part(user)
    uid = numeric_uid(part)
    if uid is not None:
        return uid == 0
    return part == "root" or part.lower() == "containeradministrator"


def user_is_root(value: str) -> bool:
    """A USER instruction's expanded value runs as root: is_root_user, or an empty user
    (``USER $UNSET``, ``USER :1000``): the image's user is reset and the runtime starts the
    container as UID 0."""
    return not user_part(value) or is_root_user(value)


def misspelled_root(user: str) -> bool:
    """``ROOT``, ``Root``: no such user on Linux (passwd names are case-sensitive), so the
    container does not start at all."""
    part = user_part(user)
    return part.lower() == "root" and part != "root"


class Stage:
    """One FROM and the instructions after it (a plain class: NamedTuple has its own index)."""

    __slots__ = (
        "_by_keyword",
        "_chain",
        "_env",
        "_run_text",
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
        self._chain: tuple[Stage, ...] | None = None  # see chain()
        self._env: tuple[Mapping[str, str], LazyEnv] | None = None  # (the args, the env)
        self._run_text: str | None = None  # see analysis.chain_run_text

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
    """The stage and the stages it is built FROM, nearest first (worked out once per stage:
    analysis and plan ask for it a dozen times a file)."""
    if stage._chain is None:
        out = [stage]
        while out[-1].parent is not None and len(out) <= len(stages):
            out.append(stages[out[-1].parent])
        stage._chain = tuple(out)
    return stage._chain


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


def stage_env(stages: list[Stage], stage: Stage, args: Mapping[str, str]) -> Mapping[str, str]:
    """ARG and ENV values visible at the end of ``stage`` (ENV is inherited through FROM).

    Computed once per stage and args, on first use (analysis asks repeatedly).
    """
    if stage._env is not None and stage._env[0] is args:
        return stage._env[1]
    env = LazyEnv(lambda: compute_env(stages, stage, args))
    stage._env = (args, env)
    return env


def compute_env(
    stages: list[Stage], stage: Stage, args: Mapping[str, str], until: Instruction | None = None
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
    stages: list[Stage], stage: Stage, instruction: Instruction, args: Mapping[str, str]
) -> Mapping[str, str]:
    """The variables in effect at ``instruction`` of ``stage`` (computed on first lookup)."""
    return LazyEnv(lambda: compute_env(stages, stage, args, until=instruction))


def user_value(
    stages: list[Stage], stage: Stage, instruction: Instruction, args: Mapping[str, str]
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


def last_user(stages: list[Stage], stage: Stage, args: Mapping[str, str]) -> UserSetting:
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
