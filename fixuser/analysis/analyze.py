"""Analysis: which stage runs, on what distro, as whom, and does it drop privileges itself."""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from fixuser.dockerfile.parse import Dockerfile, Instruction, exec_form
from fixuser.dockerfile.stages import (
    LexError,
    Stage,
    Unresolved,
    build_stages,
    chain,
    global_args,
    is_root_user,
    json_or_words,
    last_user,
    misspelled_root,
    process_word,
    shell_words,
    split_flags,
    stage_env,
    substitute,
    user_is_root,
    user_part,
    user_value,
)
from fixuser.knowledge.images import (
    PROGRAM_TABLES,
    ImageInfo,
    ProgramRule,
    hidden_needles,
    lookup,
    program_needles,
    program_rules,
)
from fixuser.model import (
    Analysis,
    ContextReader,
    DockerfileError,
    Verdict,
    WarningRule,
    WarningText,
)
from fixuser.settings import Settings


def command(*names: str) -> str:
    """A regex for any of ``names`` as a command word: not preceded by a word character or
    '-'. Written literal-first, ``mkdir(?<![\\w-]mkdir)``: re then scans for the literal,
    where a leading lookbehind makes it try every position of the text (6-8x slower here)."""
    alternatives = "|".join(f"{re.escape(n)}(?<![\\w-]{re.escape(n)})" for n in names)
    return f"(?:{alternatives})"


PRAGMA_RE = re.compile(r"^\s*#\s*fixuser\s*:\s*ignore\b", re.IGNORECASE)
# Tools that exec into another user, so PID 1 ends up non-root (su and runuser fork instead).
DROP_RE = re.compile(
    "("
    + command("gosu", "su-exec", "setpriv", "s6-setuidgid", "chpst", "setuidgid")
    + r")(?![\w-])"
    r"|chroot\s+--userspec"
)
INSTALLS_DROP_RE = re.compile("(" + command("gosu", "su-exec") + r")(?![\w-])")
# Where fixuser fix --strategy entrypoint puts its wrapper, which drops to the user at start.
WRAPPER_PATH = "/usr/local/bin/fixuser-entrypoint"
# [[needs_root]] programs that need root only to prepare at start (a chown, a config file
# written): fix --strategy entrypoint's wrapper hands what they touch to the user first.
PREPARE_PROGRAMS = frozenset({"chown at start", "a write to /etc"})
CHOWN_WORDS_RE = re.compile(command("chown") + r"\s+([^\n;&|]*)")
ETC_TARGET_RE = re.compile(r"/etc/[\w./-]+")
ROOT_SERVER_RE = re.compile(
    r"(?<![\w-])(nginx|httpd|httpd-foreground|apache2-foreground|apache2ctl|apachectl|php-fpm\d*"
    r"(\.\d+)?|lighttpd)(?![\w-])"
)
SUDO_RE = re.compile(command("sudo") + r"(?![\w-])")
WRAPPERS = frozenset(
    {
        "tini",
        "/sbin/tini",
        "/usr/bin/tini",
        "/tini",
        "dumb-init",
        "/usr/bin/dumb-init",
        "/usr/local/bin/dumb-init",
        "--",
        "-g",
        "-s",
        "exec",
        "/bin/sh",
        "sh",
        "/bin/bash",
        "bash",
        "-c",
        "-e",
        "-ex",
        "-eu",
        "-x",
    }
)
# Evidence in RUN steps: the package manager names the family.
PACKAGE_MANAGERS = (
    (re.compile(command("apk") + r"\s+(add|update|upgrade|--)"), "alpine", "apk"),
    (re.compile(command("apt-get", "apt", "dpkg") + r"\s"), "debian", "apt-get"),
    (re.compile(command("microdnf") + r"\s"), "rhel-minimal", "microdnf"),
    (re.compile(command("tdnf") + r"\s"), "rhel-minimal", "tdnf"),
    (re.compile(command("dnf", "yum", "rpm") + r"\s"), "rhel", "dnf/yum"),
    (re.compile(command("zypper") + r"\s"), "suse", "zypper"),
    (re.compile(command("pacman") + r"\s"), "arch", "pacman"),
)
# A literal each PACKAGE_MANAGERS pattern's match contains: most RUNs name none of them.
MANAGER_NEEDLES = (
    ("apk", 0),
    ("apt", 1),
    ("dpkg", 1),
    ("microdnf", 2),
    ("tdnf", 3),
    ("dnf", 4),
    ("yum", 4),
    ("rpm", 4),
    ("zypper", 5),
    ("pacman", 6),
)
WINDOWS_PATH_RE = re.compile(r"(?:^|[\s\"'\[=])[A-Za-z]:[\\/]")
WINDOWS_PATH_KEYWORDS = frozenset({"WORKDIR", "VOLUME", "COPY", "ADD", "ENTRYPOINT", "CMD"})
# Accounts made for a daemon's own bookkeeping, not for running an application as.
SERVICE_ACCOUNTS = frozenset(
    {"dockremap", "nobody", "sshd", "_apt", "messagebus", "systemd-network"}
)
# Servers whose packages install a daemon that starts as root and drops privileges itself.
SERVER_PACKAGE_RE = re.compile(
    r"(?:apt-get|apt|yum|dnf|microdnf|apk|zypper|tdnf)\s[^;&|\n]*?(?<![\w-])"
    r"(httpd|apache2|nginx|lighttpd|squid|bind9?|openssh-server|vsftpd|postfix|dovecot(?:-core)?|"
    r"mariadb-server|mysql-server|postgresql(?:\d+)?-server|postgresql|exim4?|cups|samba|"
    r"supervisor)(?![\w.-])"
)
# A literal that each name SERVER_PACKAGE_RE matches contains.
SERVER_PACKAGES = (
    "httpd",
    "apache2",
    "nginx",
    "lighttpd",
    "squid",
    "bind",
    "openssh-server",
    "vsftpd",
    "postfix",
    "dovecot",
    "mariadb-server",
    "mysql-server",
    "postgresql",
    "exim",
    "cups",
    "samba",
    "supervisor",
)
CREATE_USER_RE = re.compile(
    r"(?<![\w/-])(?:/usr/sbin/|/usr/bin/|/sbin/|/bin/)?(useradd|adduser)\s+([^;&|\n]*)"
)
# What shadow's useradd and BusyBox adduser accept as a user name (without --badname).
USER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?\Z")
CREATE_GROUP_RE = re.compile(r"(?<![\w/-])(?:/usr/sbin/|/sbin/)?(groupadd|addgroup)\s+([^;&|\n]*)")


class CreatedUser(NamedTuple):
    name: str
    uid: int | None
    gid: int | None
    instruction: Instruction


class Facts:
    """Everything plan.py needs, beyond the public Analysis."""

    __slots__ = (
        "_created",
        "_earlier_user",
        "analysis",
        "args",
        "env",
        "escape",
        "family",
        "image",
        "prepares",
        "stage",
        "stages",
    )

    def __init__(
        self,
        analysis: Analysis,
        stages: tuple[Stage, ...],
        stage: Stage | None,
        image: ImageInfo,
        env: Mapping[str, str],
        args: dict[str, str],
        family: str,
        escape: str = "\\",
    ) -> None:
        self.analysis = analysis
        self.escape = escape  # the file's escape character: WORKDIR and USER values use it
        self.stages = stages
        self.stage = stage
        self.image = image
        self.env = env
        self.args = args
        self.family = family
        self._earlier_user: str | None = None
        self._created: tuple[CreatedUser, ...] | None = None
        # What the entrypoint prepares as root at start (the paths it chowns, the directories
        # of the config files it writes), when that is all it needs root for: a needs-root
        # stage that fix --strategy entrypoint can fix.
        self.prepares: tuple[str, ...] = ()

    # Only a fix needs these, so check does not pay for them.
    @property
    def earlier_user(self) -> str:
        """The last non-root USER the chain set before switching back to root, or ""."""
        if self._earlier_user is None:
            assert self.stage is not None
            self._earlier_user = earlier_non_root(list(self.stages), self.stage, self.args)
        return self._earlier_user

    @property
    def created(self) -> tuple[CreatedUser, ...]:
        """Users the chain's RUN steps create with useradd/adduser, oldest first."""
        if self._created is None:
            assert self.stage is not None
            self._created = tuple(created_users(list(self.stages), self.stage, self.args))
        return self._created


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


def chain_run_text(stages: list[Stage], stage: Stage) -> str:
    """Every RUN of the stage's chain, one text ("" when there is none): worked out once per
    stage, for the searches that first ask whether a word is there at all."""
    if stage._run_text is None:
        stage._run_text = "\n".join(
            run_text(i) for link in chain(stages, stage) for i in link.of("RUN")
        )
    return stage._run_text


def pragma_above(dockerfile: Dockerfile, line: int) -> bool:
    """``# fixuser: ignore`` on the comment lines directly above ``line``."""
    index = line - 1
    while index >= 0:
        text = dockerfile.lines[index].strip()
        if not text.startswith("#"):
            return False
        if PRAGMA_RE.match(text):
            return True
        index -= 1
    return False


def file_pragma(dockerfile: Dockerfile) -> bool:
    header = dockerfile.lines[: dockerfile.instructions[0].start]
    if "fixuser" not in "".join(header).lower():
        return False  # most files: no pragma, and no regex run over a long licence header
    return any(PRAGMA_RE.match(line) for line in header)


def runtime_stage(stages: list[Stage], settings: Settings) -> Stage:
    if settings.target is None:
        return stages[-1]
    for stage in stages:
        if stage.name == settings.target.lower() or stage.label == settings.target:
            return stage
    raise DockerfileError(f"no stage named {settings.target!r} (--target)")


def detect_family(
    stages: list[Stage], stage: Stage, image: ImageInfo, escape: str = "\\"
) -> tuple[str, str]:
    if image.known and image.family != "unknown":
        return image.family, image.evidence
    if escape == "`":
        return "windows", "the # escape=` directive (used by Windows Dockerfiles)"
    for link in chain(stages, stage):
        for instruction in link.instructions:
            if instruction.keyword in WINDOWS_PATH_KEYWORDS and WINDOWS_PATH_RE.search(
                instruction.value
            ):
                return (
                    "windows",
                    f"line {instruction.lineno}: a Windows path in {instruction.written}",
                )
            if instruction.keyword == "SHELL" and re.search(
                r"powershell|pwsh|cmd(\.exe)?\b", instruction.value, re.IGNORECASE
            ):
                return "windows", f"line {instruction.lineno}: SHELL {instruction.value.strip()}"
            if instruction.keyword != "RUN":
                continue
            text = run_text(instruction)
            for pattern, family, tool in PACKAGE_MANAGERS:
                if pattern.search(text):
                    return family, f"line {instruction.lineno}: RUN uses {tool}"
    return "unknown", image.evidence


# Families whose package tools overlap: an ubi-minimal file may run rpm, a RHEL one microdnf.
KINDRED = ({"rhel", "rhel-minimal"},)


def contradicting_evidence(
    stages: list[Stage], stage: Stage, family: str
) -> tuple[str, str] | None:
    """The family the chain's RUN steps prove when it is not ``family`` (the image table's):
    every package manager they use belongs to one other family. (family, evidence) or None.

    A RUN with apt-get cannot build on Alpine, nor apk on Debian: the file knows better than
    a table entry that matched the wrong tag. Files that try several (``apk add || apt-get
    install``) prove nothing."""
    if family in ("windows", "unknown"):
        return None  # Windows images run PowerShell, and pwsh on Linux looks just the same
    text = chain_run_text(stages, stage)
    if not text:
        return None
    # The table's own family's tool in the text: then no single other family can be proven,
    # and most files (apt-get on a Debian image) stop here, before the other searches.
    for needle, index in MANAGER_NEEDLES:
        if PACKAGE_MANAGERS[index][1] == family and used(text, needle, index):
            return None
    found: dict[str, str] = {}
    for needle, index in MANAGER_NEEDLES:
        _, other, tool = PACKAGE_MANAGERS[index]
        if other not in found and used(text, needle, index):
            found[other] = tool
    if len(found) != 1:
        return None
    ((other, tool),) = found.items()
    if other == family or any({other, family} <= kin for kin in KINDRED):
        return None
    for instruction in (i for link in chain(stages, stage) for i in link.of("RUN")):
        for pattern, pattern_family, _ in PACKAGE_MANAGERS:
            if pattern_family == other and pattern.search(run_text(instruction)):
                return other, f"line {instruction.lineno}: RUN uses {tool}"
    return None


def used(text: str, needle: str, index: int) -> bool:
    """PACKAGE_MANAGERS[index] matches ``text`` at or after the first ``needle`` (each of its
    matches holds one of its needles): the regex starts where str.find, far faster, says."""
    at = text.find(needle)
    return at >= 0 and PACKAGE_MANAGERS[index][0].search(text, at) is not None


def generic(family: str, evidence: str) -> ImageInfo:
    """What fixuser assumes of an image of ``family`` it knows nothing else about."""
    return ImageInfo(family, "root", (), (), True, "", "", evidence, False)


def option_value(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
            if not name.startswith("--") and word.startswith(name) and len(word) > len(name):
                return word[len(name) :]
    return None


WITH_VALUE = frozenset(
    [
        "-u",
        "--uid",
        "-g",
        "--gid",
        "-G",
        "--groups",
        "-d",
        "--home",
        "-h",
        "--home-dir",
        "-s",
        "--shell",
        "-c",
        "--comment",
        "-k",
        "--skel",
        "-e",
        "--expiredate",
        "-f",
        "--inactive",
        "-K",
        "--key",
        "-p",
        "--password",
        "--ingroup",
        "--gecos",
        "--firstuid",
        "--lastuid",
        "-Z",
    ]
)


def positional(words: list[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
    return out


def as_id(text: str | None, env: Mapping[str, str]) -> int | None:
    if text is None:
        return None
    try:
        value = substitute(text, env, strict=True)
    except Unresolved:
        return None
    return int(value) if value.isascii() and value.isdigit() else None  # "²": isdigit(), not int()


def created_users(stages: list[Stage], stage: Stage, args: dict[str, str]) -> list[CreatedUser]:
    """Users that RUN steps of the chain create with useradd/adduser, oldest first."""
    users: list[CreatedUser] = []
    for link in reversed(chain(stages, stage)):
        env = stage_env(stages, link, args)
        groups: dict[str, int] = {}
        for instruction in link.of("RUN"):
            text = run_text(instruction)
            # Each regex only where its command's name is (they start with a lookbehind).
            makes_users = "useradd" in text or "adduser" in text
            makes_groups = "groupadd" in text or "addgroup" in text
            if not makes_users and not makes_groups:
                continue
            text = text.replace("\\\n", " ")
            for match in CREATE_GROUP_RE.finditer(text) if makes_groups else ():
                words = safe_split(match.group(2))
                names = positional(words)
                gid = as_id(option_value(words, "-g", "--gid"), env)
                if names and gid is not None:
                    groups[substitute(names[-1], env)] = gid
            for match in CREATE_USER_RE.finditer(text) if makes_users else ():
                words = safe_split(match.group(2))
                names = positional(words)
                if not names:
                    continue
                name = substitute(names[-1] if match.group(1) == "useradd" else names[0], env)
                if not USER_NAME_RE.match(name) or is_root_user(name) or name in SERVICE_ACCOUNTS:
                    continue  # not a name useradd/adduser accepts: quotes, $, brackets
                uid = as_id(option_value(words, "-u", "--uid"), env)
                group = option_value(words, "-g", "--gid", "-G", "--ingroup")
                gid = as_id(group, env)
                if gid is None and group is not None:
                    gid = groups.get(substitute(group, env))
                if gid is None and group is None:
                    gid = groups.get(name)
                users.append(CreatedUser(name, uid, gid, instruction))
    return users


def safe_split(text: str) -> list[str]:
    return shell_words(text)


def effective(stages: list[Stage], stage: Stage, keyword: str) -> Instruction | None:
    for link in chain(stages, stage):
        found = link.of(keyword)
        if found:
            return found[-1]
    return None


def runtime_workdir(stages: list[Stage], stage: Stage, env: Mapping[str, str]) -> str:
    """The WORKDIR the stage's ENTRYPOINT/CMD start in (WORKDIR is inherited through FROM)."""
    workdir = "/"
    for link in reversed(chain(stages, stage)):
        for instruction in link.of("WORKDIR"):
            workdir = posixpath.join(workdir, process_word(instruction.value, env, link.escape))
    return posixpath.normpath(workdir)


def copied_from_context(
    stages: list[Stage], stage: Stage, target: str, env: Mapping[str, str]
) -> str | None:
    """The build-context source of the file the chain COPYs to ``target`` (a path or name).

    ``target`` is an ENTRYPOINT/CMD word: a bare name (found on PATH), an absolute path, or a
    path relative to the WORKDIR the container starts in (``./entrypoint.sh``).
    """
    if "/" in target and not target.startswith("/"):
        target = posixpath.normpath(posixpath.join(runtime_workdir(stages, stage, env), target))
    guess: str | None = None  # a directory copied whole that may hold the file
    for link in chain(stages, stage):
        workdir = "/"
        for instruction in link.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = posixpath.normpath(
                    posixpath.join(workdir, process_word(instruction.value, env, link.escape))
                )
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            flags, words = split_flags(instruction.value)
            if "from" in flags or len(words) < 2:
                continue
            *sources, raw_dest = (substitute(w, env) for w in words)
            dest = posixpath.normpath(posixpath.join(workdir, raw_dest))
            # A destination ending in "/" (or ".", the WORKDIR itself) is a directory.
            into_dir = (
                raw_dest.endswith(("/", "/.", "/.."))
                or raw_dest in (".", "..")
                or dest == workdir
                or len(sources) > 1
            )
            for source in sources:
                base = posixpath.basename(source.rstrip("/"))
                if (into_dir and base in ("", ".")) or source.endswith("/"):
                    # The directory's contents are copied: the file keeps its name below it.
                    if guess is None and (posixpath.dirname(target) == dest or "/" not in target):
                        guess = posixpath.normpath(
                            posixpath.join(source, posixpath.basename(target))
                        )
                    continue
                placed = posixpath.join(dest, base) if into_dir else dest
                if target == placed or ("/" not in target and posixpath.basename(placed) == target):
                    return posixpath.normpath(source)
    return guess


def entry_words(stages: list[Stage], stage: Stage) -> tuple[list[str], Instruction | None]:
    words: list[str] = []
    found = None
    for keyword in ("ENTRYPOINT", "CMD"):
        instruction = effective(stages, stage, keyword)
        if instruction is not None:
            words += json_or_words(instruction.value)
            found = found or instruction
    return words, found


def privileges(
    stages: list[Stage],
    stage: Stage,
    image: ImageInfo,
    env: Mapping[str, str],
    context: ContextReader | None,
    warnings: list[WarningText],
    prepared: list[str] | None = None,
) -> tuple[Verdict | None, str]:
    """drops-privileges / needs-root / root-by-design, with the reason, or (None, "").
    ``prepared`` receives what a needs-root entrypoint prepares as root, when that is all."""
    words, instruction = entry_words(stages, stage)
    text = " ".join(words)
    where = f"line {instruction.lineno}" if instruction else ""
    if words and words[0] == WRAPPER_PATH and copied_from_context(stages, stage, words[0], env):
        return Verdict.DROPS_PRIVILEGES, (
            f"{where}: the entrypoint is fixuser's wrapper {WRAPPER_PATH}, which drops to a "
            "non-root user at start (fixuser fix --strategy entrypoint)"
        )
    dropping = DROP_RE.search(text)
    if dropping:
        return Verdict.DROPS_PRIVILEGES, f"{where}: the entrypoint execs {dropping.group(0)}"
    scripts = [w for w in words if w not in WRAPPERS and not w.startswith("-")][:2]
    located = locate_scripts(stages, stage, scripts, env, context)
    for script, (source, body) in located.items():
        if source is None:
            continue
        if body is None:
            if first_run_matching(stages, stage, INSTALLS_DROP_RE, ("gosu", "su-exec")):
                return Verdict.DROPS_PRIVILEGES, (
                    f"the image installs gosu/su-exec and its entrypoint {script} (from the build "
                    f"context, {source}) could not be read: presumed to drop privileges"
                )
            continue
        match = DROP_RE.search(body)
        if match:
            return Verdict.DROPS_PRIVILEGES, f"entrypoint script {source} execs {match.group(0)}"
    texts = [(f"{where}: the entrypoint", text, "command")] if text else []
    texts += [
        (f"entrypoint script {source}", body, "script")
        for source, body in located.values()
        if source is not None and body is not None
    ]
    dockerfile_text = instructions_text(stages, stage)
    # One search over all the tables read: most entrypoints name none of their programs.
    named = any_program("\n".join([dockerfile_text, *(body for _, body, _ in texts)]))
    daemon = drops_by_flag(stages, stage, texts, env, context) if named else ""
    if daemon:
        return Verdict.DROPS_PRIVILEGES, daemon
    entry_overridden = effective(stages, stage, "ENTRYPOINT") is not None
    if image.entrypoint == "drops-privileges" and not entry_overridden:
        return Verdict.DROPS_PRIVILEGES, (
            f"the base image's own entrypoint drops privileges ({image.evidence})"
        )
    if image.entrypoint == "needs-root" and not entry_overridden:
        return Verdict.NEEDS_ROOT, f"the base image needs root ({image.evidence}): {image.remedy}"
    needs, rule = needs_root(stages, stage, texts, dockerfile_text) if named else ("", None)
    paths = preparation(texts) if rule is not None and rule.program in PREPARE_PROGRAMS else None
    if rule is not None and not paths:
        return Verdict.NEEDS_ROOT, f"{needs}; remedy: {rule.remedy}"
    # Root only to prepare, then the app: unless the app is a server that keeps a root
    # master (below), fix --strategy entrypoint's wrapper can do the preparing.
    verdict, reason = root_by_design(stages, stage, image, located, scripts, text, where)
    if verdict is None and paths:
        if prepared is not None:
            prepared.extend(paths)
        return Verdict.NEEDS_ROOT, (
            f"{needs}, only to prepare; remedy: fixuser fix --strategy entrypoint (its wrapper "
            f"hands {', '.join(paths)} to the user as root at start, then runs the entrypoint "
            "as that user)"
        )
    return verdict, reason


def root_by_design(
    stages: list[Stage],
    stage: Stage,
    image: ImageInfo,
    located: dict[str, tuple[str | None, str | None]],
    scripts: list[str],
    text: str,
    where: str,
) -> tuple[Verdict | None, str]:
    """A server that keeps a root master process and forks unprivileged workers: the
    reason, or (None, "")."""
    entry_overridden = effective(stages, stage, "ENTRYPOINT") is not None
    script_server = scripts_start_server(located)
    if script_server:
        return Verdict.ROOT_BY_DESIGN, script_server
    started_by_script = any(
        w.endswith(".sh") or w.startswith(("/", "./")) or "supervisord" in w for w in scripts
    )
    installed = installed_server(stages, stage) if started_by_script else None
    if installed:
        return Verdict.ROOT_BY_DESIGN, (
            f"{installed[1]}: installs {installed[0]}, a server that starts as root and drops "
            "privileges itself, and starts it through "
            + (" ".join(scripts) if scripts else "the base image's command")
            + "; remedy: run it on ports >= 1024 as a non-root USER (fixuser fix --force)"
        )
    server = ROOT_SERVER_RE.search(text)
    if image.entrypoint == "root-by-design" and (not entry_overridden or server):
        return Verdict.ROOT_BY_DESIGN, (
            f"the base image's server keeps a root master process ({image.evidence}); "
            f"remedy: {image.remedy}"
        )
    if server and not text.startswith(("php ", "php-cli")):
        return Verdict.ROOT_BY_DESIGN, (
            f"{where}: {server.group(1)} keeps a root master process and forks unprivileged "
            "workers; remedy: an unprivileged or rootless variant of the image (e.g. "
            "nginxinc/nginx-unprivileged, docker:dind-rootless), or ports >= 1024 with a "
            "non-root USER (fixuser fix --force)"
        )
    return None, ""


# (what, its text, "command" or "script"): the texts the program tables are matched against
Texts = list[tuple[str, str, str]]


def rule_matches(rule: ProgramRule, body: str) -> Iterator[re.Match[str]]:
    if any(needle in body for needle in rule.needles):
        yield from rule.pattern.finditer(body)


def candidate_rules(kind: str, texts: Texts, extra: str = "") -> list[ProgramRule]:
    """The rules of a table one of whose needles is somewhere in ``texts`` (or ``extra``):
    most entrypoints name none of the table's programs, and then no regex runs at all."""
    everything = (
        texts[0][1]
        if len(texts) == 1 and not extra
        else ("\n".join(body for _, body, _ in texts) + extra)
    )
    pattern, implied = program_needles(kind)
    first = pattern.search(everything)
    if first is None:
        return []  # most files: one search, nothing more
    found = {match.group() for match in pattern.finditer(everything, first.start())}
    hidden = hidden_needles(kind)
    found |= {b for a in list(found) for b in hidden[a] if b in everything}
    indexes = frozenset().union(*(implied[needle] for needle in found))
    return [rule for i, rule in enumerate(program_rules(kind)) if i in indexes]


def drops_by_flag(
    stages: list[Stage],
    stage: Stage,
    texts: Texts,
    env: Mapping[str, str],
    context: ContextReader | None,
) -> str:
    """A daemon the entrypoint starts that drops privileges by its own flag or config
    (images.toml [[drops_by_flag]]): the reason, or ""."""
    for rule in candidate_rules("drops_by_flag", texts):
        for what, body, kind in texts:
            if kind not in rule.where:
                continue
            started = False
            for match in rule_matches(rule, body):
                started = True
                flag = rule.flag.match(body, match.end()) if rule.flag else None
                if flag is not None:
                    user = flag.group("user").strip("'\"")
                    if user and not is_root_user(user):
                        return (
                            f"{what} starts {rule.program}, which drops privileges to {user} "
                            f"by its own flag ({flag.group('flag').strip()})"
                        )
            if not started:
                continue
            if rule.setting is not None:
                for source, config in copied_configs(stages, stage, rule.config, env, context):
                    setting = rule.setting.search(config)
                    if setting is None:
                        continue
                    user = setting.group("user").strip("'\"")
                    if user and not is_root_user(user):
                        return (
                            f"{what} starts {rule.program}, which drops privileges to {user} "
                            f"as {source} sets ({setting.group(0).strip()})"
                        )
                    return ""  # the config keeps it root on purpose
            if rule.by_default:
                return (
                    f"{what} starts {rule.program}, which drops privileges itself once it has "
                    "started (its default)"
                )
    return ""


def any_program(text: str) -> bool:
    """Some needle of either program table is in ``text``."""
    return any(program_needles(kind)[0].search(text) for kind in PROGRAM_TABLES)


def needs_root(
    stages: list[Stage], stage: Stage, texts: Texts, dockerfile_text: str
) -> tuple[str, ProgramRule | None]:
    """What the stage does that cannot work as a plain non-root USER (images.toml
    [[needs_root]]): the reason (its remedy is the rule's), and the rule; ("", None)."""
    for rule in candidate_rules("needs_root", texts, dockerfile_text):
        candidates = [t for t in texts if t[2] in rule.where]
        if "dockerfile" in rule.where:
            candidates.append(("the Dockerfile", dockerfile_text, "dockerfile"))
        for what, body, _kind in candidates:
            for match in rule_matches(rule, body):
                return f"{what} uses {rule.program} ({match.group(0).strip()}): {rule.reason}", rule
    return "", None


def preparation(texts: Texts) -> list[str] | None:
    """What the entrypoint prepares as root, when needs-root's first rule is a PREPARE_PROGRAMS
    one (they come last in the table: no other rule matched): the literal paths it chowns and
    the directories of the files it writes below /etc, in order. None when one of them is not
    a literal path, or is /etc itself: the wrapper cannot hand that over."""
    rules = [r for r in program_rules("needs_root") if r.program in PREPARE_PROGRAMS]
    paths: list[str] = []
    for rule in rules:
        for _what, body, kind in texts:
            if kind not in rule.where:
                continue
            for match in rule_matches(rule, body):
                found = (
                    chowned_paths(match.group(0))
                    if rule.program == "chown at start"
                    else written_dirs(match.group(0))
                )
                if found is None:
                    return None
                paths += [p for p in found if p not in paths]
    return paths or None


def chowned_paths(text: str) -> list[str] | None:
    """The paths of a ``chown [-R] OWNER PATH...`` command (None: one is not literal)."""
    match = CHOWN_WORDS_RE.search(text)
    if match is None:
        return None
    words = [w for w in safe_split(match.group(1)) if not w.startswith("-")]
    paths = words[1:]  # the first word is the owner
    if not paths or any(not p.startswith("/") or any(c in p for c in "$*?`") for p in paths):
        return None
    from fixuser.knowledge.paths import SYSTEM_DIRS, normalise

    out = [normalise(p) for p in paths]
    return None if any(p in SYSTEM_DIRS for p in out) else out


def written_dirs(text: str) -> list[str] | None:
    """The directory of each file below /etc a redirection, tee or ``sed -i`` writes (a
    directory of its own: /etc itself is not handed over)."""
    from fixuser.knowledge.paths import SYSTEM_DIRS

    dirs = [posixpath.dirname(p.rstrip("/")) for p in ETC_TARGET_RE.findall(text)]
    if not dirs or any(d in SYSTEM_DIRS for d in dirs):
        return None
    return list(dict.fromkeys(dirs))


def instructions_text(stages: list[Stage], stage: Stage) -> str:
    """The values of the chain's ENV, VOLUME, ENTRYPOINT and CMD instructions, one a line, as
    written (what the table looks for there is a literal path, not built from variables)."""
    return "\n".join(
        i.value
        for link in chain(stages, stage)
        for keyword in ("ENV", "VOLUME", "ENTRYPOINT", "CMD")
        for i in link.of(keyword)
    )


def copied_configs(
    stages: list[Stage],
    stage: Stage,
    globs: tuple[str, ...],
    env: Mapping[str, str],
    context: ContextReader | None,
) -> Iterator[tuple[str, str]]:
    """Files the chain copies from the build context whose name matches one of ``globs``
    (a directory copied whole is looked into for the literal names), with their text."""
    if context is None or not globs:
        return
    literal = [g for g in globs if not any(c in g for c in "*?[")]
    for link in chain(stages, stage):
        for instruction in link.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            flags, words = split_flags(instruction.value)
            if "from" in flags or len(words) < 2:
                continue
            for source in (substitute(w, env) for w in words[:-1]):
                base = posixpath.basename(source.rstrip("/"))
                if any(fnmatch.fnmatchcase(base, g) for g in globs):
                    candidates = [source]
                else:
                    candidates = [posixpath.join(source, name) for name in literal]
                for candidate in candidates:
                    content = context(posixpath.normpath(candidate))
                    if content is not None and is_text(content):
                        yield candidate, content.decode("utf-8", "replace")


def first_run_matching(
    stages: list[Stage], stage: Stage, pattern: re.Pattern[str], needles: tuple[str, ...]
) -> tuple[Instruction, re.Match[str]] | None:
    """The first RUN of the chain, nearest stage first, that ``pattern`` matches.

    Every match of ``pattern`` contains one of the literal ``needles``: when the chain's RUNs
    hold none of them, no RUN is searched, and otherwise only the RUNs that hold one are.
    """
    everything = chain_run_text(stages, stage)
    if not any(needle in everything for needle in needles):
        return None
    runs = [(i, run_text(i)) for link in chain(stages, stage) for i in link.of("RUN")]
    for instruction, text in runs:
        if any(needle in text for needle in needles):
            match = pattern.search(text)
            if match:
                return instruction, match
    return None


def installed_server(stages: list[Stage], stage: Stage) -> tuple[str, str] | None:
    found = first_run_matching(stages, stage, SERVER_PACKAGE_RE, SERVER_PACKAGES)
    if found is None:
        return None
    instruction, match = found
    return match.group(1), f"line {instruction.lineno}"


def locate_scripts(
    stages: list[Stage],
    stage: Stage,
    scripts: list[str],
    env: Mapping[str, str],
    context: ContextReader | None,
) -> dict[str, tuple[str | None, str | None]]:
    """Each entrypoint word -> the build-context file the chain copies to it (or None), and
    that file's text when the context can be read (or None), decoded once for every reader."""
    located: dict[str, tuple[str | None, str | None]] = {}
    for script in scripts:
        source = copied_from_context(stages, stage, script, env)
        content = context(source) if source is not None and context is not None else None
        if content is not None and not is_text(content):
            continue  # a program (ELF, a static busybox, tini): nothing in it is a shell command
        located[script] = (source, None if content is None else content.decode("utf-8", "replace"))
    return located


def is_text(content: bytes) -> bool:
    """A script, not a program: no NUL byte (every ELF, Mach-O or PE binary has them) and no
    ELF magic. Scanning a binary's strings would find "su-exec" in a static busybox."""
    return b"\0" not in content and not content.startswith(b"\x7fELF")


def scripts_start_server(located: dict[str, tuple[str | None, str | None]]) -> str:
    for source, body in located.values():
        if body is None:
            continue
        match = ROOT_SERVER_RE.search(body)
        if match:
            return (
                f"entrypoint script {source} starts {match.group(1)}, which keeps a root master "
                "process; remedy: ports >= 1024 and a non-root USER (fixuser fix --force)"
            )
    return ""


def stage_warnings(
    stages: list[Stage], stage: Stage, env: Mapping[str, str], args: dict[str, str]
) -> list[WarningText]:
    warnings = []
    for link in chain(stages, stage):
        for instruction in link.of("EXPOSE"):
            for word in substitute(instruction.value, env).split():
                port = word.split("/")[0].split("-")[0]
                if port.isdigit() and int(port) < 1024:
                    warnings.append(
                        WarningText(
                            WarningRule.LOW_PORT,
                            f"line {instruction.lineno}: EXPOSE {word}: a port below 1024 needs "
                            "root or CAP_NET_BIND_SERVICE; move the server to a port >= 1024",
                        )
                    )
    for instruction in stage.of("RUN"):
        mentions = "sudo" in instruction.value or "sudo" in "".join(instruction.heredocs)
        if mentions and SUDO_RE.search(run_text(instruction)):
            warnings.append(
                WarningText(
                    WarningRule.SUDO, f"line {instruction.lineno}: sudo in the runtime stage"
                )
            )
    return warnings + other_stage_warnings(stages, stage, args)


def other_stage_warnings(
    stages: list[Stage], stage: Stage, args: dict[str, str]
) -> list[WarningText]:
    """Stages other than the runtime one that end in USER root: harmless at run time, but
    hadolint DL3002 flags them, so they are named on every verdict, compliant included."""
    warnings = []
    runtime_chain = chain(stages, stage)
    runtime_source = last_user(stages, stage, args).stage  # where the runtime's USER is set
    for other in stages:
        if other is stage or other is runtime_source:
            continue
        if other._by_keyword is None and all(i.keyword != "USER" for i in other.instructions):
            continue  # most builder stages: no USER, and no keyword index built for them
        if not other.of("USER"):
            continue
        setting = last_user(stages, other, args)
        if setting.instruction is None or setting.unresolved or setting.error:
            continue
        if not user_is_root(setting.value):
            continue
        kind = "parent stage" if other in runtime_chain else "builder stage"
        warnings.append(
            WarningText(
                WarningRule.BUILDER_ROOT,
                f"line {setting.instruction.lineno}: {kind} {other.label} ends in USER "
                f"{setting.value} (harmless at run time; hadolint DL3002 still flags it)",
            )
        )
    return warnings


def analyze(dockerfile: Dockerfile, settings: Settings, context: ContextReader | None) -> Facts:
    args = global_args(dockerfile, {})
    stages = build_stages(dockerfile, args)
    stage = runtime_stage(stages, settings)
    links = chain(stages, stage)
    root_stage = links[-1]
    base = root_stage.image
    name_unresolved = bool(root_stage.unresolved) and "$" in reference_name(
        root_stage.from_instruction.value
    )
    image = lookup("" if name_unresolved else base)
    family, evidence = detect_family(stages, stage, image, dockerfile.escape)
    overruled: WarningText | None = None
    if image.known:
        contradiction = contradicting_evidence(stages, stage, family)
        if contradiction is not None:
            overruled = WarningText(
                WarningRule.OTHER,
                f"the image table says {family} ({image.evidence}), but {contradiction[1]}: "
                f"taken as {contradiction[0]}",
            )
            family, evidence = contradiction
            image = generic(family, evidence)
    env = stage_env(stages, stage, args)
    setting = last_user(stages, stage, args)

    def result(
        verdict: Verdict, user: str, reason: str = "", warnings: tuple[WarningText, ...] = ()
    ) -> Facts:
        analysis = Analysis(
            verdict,
            stage.label,
            stage.from_instruction.lineno,
            base,
            family,
            evidence,
            user,
            reason,
            (overruled, *warnings) if overruled else warnings,
        )
        return Facts(
            analysis,
            tuple(stages),
            stage,
            image,
            env,
            args,
            family,
            dockerfile.escape,
        )

    if file_pragma(dockerfile):
        return result(Verdict.IGNORED, "", "# fixuser: ignore at the top of the file")
    if pragma_above(dockerfile, stage.from_instruction.start):
        return result(
            Verdict.IGNORED, "", f"# fixuser: ignore above the FROM of stage {stage.label}"
        )
    if setting.unresolved:
        return result(
            Verdict.UNKNOWN,
            setting.value,
            f"line {setting.instruction.lineno if setting.instruction else 0}: USER uses "
            f"${setting.unresolved}, which has no value in the Dockerfile",
        )
    if setting.error:
        return result(
            Verdict.UNKNOWN,
            setting.value,
            f"line {setting.instruction.lineno if setting.instruction else 0}: BuildKit cannot "
            f"expand USER {setting.value} ({setting.error}): the build fails there",
        )
    if setting.instruction is not None:
        user = setting.value
        source = f"line {setting.instruction.lineno}"
        if not user_part(user):
            # USER $EMPTY resets the image's user: the runtime then starts as root.
            source += f": USER {setting.instruction.value} is empty, which runs as root"
    elif name_unresolved:
        return result(
            Verdict.UNKNOWN,
            "",
            f"the base image is ${root_stage.unresolved}, which has no default value",
        )
    else:
        user = image.user
        source = "the base image's default"
    described = f"{user or '(nothing)'} ({source})"
    if setting.instruction is not None and family != "windows" and misspelled_root(user):
        return result(
            Verdict.INVALID_USER,
            described,
            f"line {setting.instruction.lineno}: USER {setting.instruction.value.strip()} names "
            "no user (user names are case-sensitive: root is lower case), so the container "
            "does not start; write the user you mean",
        )
    root = user_is_root(user) if setting.instruction is not None else is_root_user(user)
    if not root:
        return result(
            Verdict.COMPLIANT, described, warnings=tuple(other_stage_warnings(stages, stage, args))
        )
    warnings = stage_warnings(stages, stage, env, args)
    prepared: list[str] = []
    verdict, reason = privileges(stages, stage, image, env, context, warnings, prepared)
    if verdict is None:
        under_root = lives_under_root(stages, stage, env)
        if under_root:
            verdict, reason = Verdict.NEEDS_ROOT, under_root
    facts = result(verdict or Verdict.ROOT, described, reason, tuple(warnings))
    facts.prepares = tuple(prepared)
    return facts


def lives_under_root(stages: list[Stage], stage: Stage, env: Mapping[str, str]) -> str:
    """The application lives in root's home (its WORKDIR, or the program it starts): /root is
    mode 0700 on Debian, Ubuntu and Alpine, so no other user can even enter it. The reason,
    or ""."""
    values = [
        i.value
        for link in chain(stages, stage)
        for keyword in ("WORKDIR", "ENTRYPOINT", "CMD")
        for i in link.of(keyword)
    ]
    joined = "\n".join(values)
    if "root" not in joined and "~" not in joined and "$" not in joined:
        return ""  # most files: nothing under /root, nothing to work out
    workdir = runtime_workdir(stages, stage, env)
    words, instruction = entry_words(stages, stage)
    program = next((w for w in words if w not in WRAPPERS and not w.startswith("-")), "")
    program = substitute(program, env)
    if workdir == "/root" or workdir.startswith("/root/"):
        what = f"its WORKDIR is {workdir}"
    elif program.startswith(("/root/", "~/")):
        what = f"line {instruction.lineno if instruction else 0}: it starts {program}"
    else:
        return ""
    return (
        f"the application lives under /root ({what}), which is mode 0700: a non-root user "
        "can reach nothing below it by path (the runtime may still start it there, but every "
        "absolute path into /root fails); remedy: move it to its own directory (WORKDIR "
        "/app, COPY into /app), then run fixuser fix"
    )


def reference_name(from_value: str) -> str:
    """The repository part of a FROM's image reference (no tag, no digest)."""
    words = split_flags(from_value)[1]
    ref = words[0].split("@")[0] if words else ""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def earlier_non_root(stages: list[Stage], stage: Stage, args: dict[str, str]) -> str:
    """The last non-root user a USER of the chain sets, each read with the values in effect
    at its own line, or ""."""
    for link in chain(stages, stage):
        for instruction in reversed(link.of("USER")):
            try:
                value = user_value(stages, link, instruction, args)
            except LexError:
                continue
            if not user_is_root(value) and not misspelled_root(value):
                return value
    return ""
