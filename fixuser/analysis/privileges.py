"""Why a root stage may be left alone: it drops privileges itself (gosu, su-exec, a daemon's own
flag), keeps a root master process (nginx, httpd, php-fpm) or needs root (the [[needs_root]]
programs, an application under /root)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from fixuser.analysis.runs import (
    WRAPPERS,
    command,
    entry_words,
    first_run_matching,
    instructions_text,
    safe_split,
    start_workdir,
)
from fixuser.analysis.scripts import copied_configs, copied_from_context, locate_scripts
from fixuser.dockerfile.stages import Runtime
from fixuser.dockerfile.users import is_root_user
from fixuser.dockerfile.words import split_flags, substitute
from fixuser.knowledge.images import ImageInfo
from fixuser.knowledge.programs import (
    PROGRAM_TABLES,
    ProgramRule,
    hidden_needles,
    program_needles,
    program_rules,
)
from fixuser.model import ContextReader, Verdict

# Tools that exec into another user, so PID 1 ends up non-root (su and runuser fork instead).
DROP_RE = re.compile(
    "("
    + command("gosu", "su-exec", "setpriv", "s6-setuidgid", "chpst", "setuidgid")
    + r")(?![\w-])"
    r"|chroot\s+--userspec"
)


# s6-overlay: /init runs as PID 1 (as root), prepares, and its services drop with s6-setuidgid.
# The evidence that /init is s6-overlay's: the file installs or configures it.
S6_INIT = "/init"
S6_RE = re.compile(r"s6-overlay|\bS6_[A-Z_]+|s6-rc\.d|/etc/services\.d|s6-setuidgid")
S6_NOTE = (
    "s6-overlay's /init starts as root and its services drop with s6-setuidgid; images built "
    "so remap that user's UID/GID from variables at start (PUID/PGID on linuxserver.io "
    "images, USERMAP_UID/USERMAP_GID on paperless-ngx): set those, not a USER, which skips "
    "the remapping"
)


def installs_s6(runtime: Runtime) -> bool:
    """The chain installs or configures s6-overlay (its tarballs, S6_ variables, service
    directories): the /init it starts is s6-overlay's."""
    return any(
        S6_RE.search(i.value)
        for link in runtime.chain
        for keyword in ("ARG", "ENV", "ADD", "COPY", "RUN")
        for i in link.of(keyword)
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


def privileges(
    runtime: Runtime,
    image: ImageInfo,
    context: ContextReader | None,
    prepared: list[str] | None = None,
) -> tuple[Verdict | None, str]:
    """drops-privileges / needs-root / root-by-design, with the reason, or (None, "").
    ``prepared`` receives what a needs-root entrypoint prepares as root, when that is all."""
    words, instruction = entry_words(runtime)
    text = " ".join(words)
    where = f"line {instruction.lineno}" if instruction else ""
    if words and words[0] == WRAPPER_PATH and copied_from_context(runtime, words[0]):
        return Verdict.DROPS_PRIVILEGES, (
            f"{where}: the entrypoint is fixuser's wrapper {WRAPPER_PATH}, which drops to a "
            "non-root user at start (fixuser fix --strategy entrypoint)"
        )
    dropping = DROP_RE.search(text)
    if dropping:
        return Verdict.DROPS_PRIVILEGES, f"{where}: the entrypoint execs {dropping.group(0)}"
    if words and words[0] == S6_INIT and installs_s6(runtime):
        return Verdict.DROPS_PRIVILEGES, f"{where}: {S6_NOTE}"
    scripts = [w for w in words if w not in WRAPPERS and not w.startswith("-")][:2]
    located = locate_scripts(runtime, scripts, context)
    for script, (source, body) in located.items():
        if source is None:
            continue
        if body is None:
            if first_run_matching(runtime, INSTALLS_DROP_RE, ("gosu", "su-exec")):
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
    dockerfile_text = instructions_text(runtime)
    # One search over all the tables read: most entrypoints name none of their programs.
    named = any_program("\n".join([dockerfile_text, *(body for _, body, _ in texts)]))
    daemon = drops_by_flag(runtime, texts, context) if named else ""
    if daemon:
        return Verdict.DROPS_PRIVILEGES, daemon
    entry_overridden = runtime.effective("ENTRYPOINT") is not None
    if image.entrypoint == "drops-privileges" and not entry_overridden:
        note = f"; {image.remedy}" if image.remedy else ""
        return Verdict.DROPS_PRIVILEGES, (
            f"the base image's own entrypoint drops privileges ({image.evidence}){note}"
        )
    if image.entrypoint == "needs-root" and not entry_overridden:
        return Verdict.NEEDS_ROOT, f"the base image needs root ({image.evidence}): {image.remedy}"
    needs, rule = needs_root(texts, dockerfile_text) if named else ("", None)
    paths = preparation(texts) if rule is not None and rule.program in PREPARE_PROGRAMS else None
    if rule is not None and not paths:
        return Verdict.NEEDS_ROOT, f"{needs}; remedy: {rule.remedy}"
    # Root only to prepare, then the app: unless the app is a server that keeps a root
    # master (below), fix --strategy entrypoint's wrapper can do the preparing.
    verdict, reason = root_by_design(runtime, image, located, scripts, text, where)
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
    runtime: Runtime,
    image: ImageInfo,
    located: dict[str, tuple[str | None, str | None]],
    scripts: list[str],
    text: str,
    where: str,
) -> tuple[Verdict | None, str]:
    """A server that keeps a root master process and forks unprivileged workers: the
    reason, or (None, "")."""
    entry_overridden = runtime.effective("ENTRYPOINT") is not None
    script_server = scripts_start_server(located)
    if script_server:
        return Verdict.ROOT_BY_DESIGN, script_server
    started_by_script = any(
        w.endswith(".sh") or w.startswith(("/", "./")) or "supervisord" in w for w in scripts
    )
    installed = installed_server(runtime) if started_by_script else None
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
    runtime: Runtime,
    texts: Texts,
    context: ContextReader | None,
) -> str:
    """A daemon the entrypoint starts that drops privileges by its own flag or config
    (programs.toml [[drops_by_flag]]): the reason, or ""."""
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
                for source, config in copied_configs(runtime, rule.config, context):
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


def needs_root(texts: Texts, dockerfile_text: str) -> tuple[str, ProgramRule | None]:
    """What the stage does that cannot work as a plain non-root USER (programs.toml
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


def installed_server(runtime: Runtime) -> tuple[str, str] | None:
    found = first_run_matching(runtime, SERVER_PACKAGE_RE, SERVER_PACKAGES)
    if found is None:
        return None
    instruction, match = found
    return match.group(1), f"line {instruction.lineno}"


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


def lives_under_root(runtime: Runtime) -> str:
    """The application lives in root's home: its WORKDIR, a COPY/ADD destination (not a
    dotfile: ``/root/.npmrc`` configures root's own tools), or a path its ENTRYPOINT/CMD
    starts or names (``rpmbuild -ba /root/rpmbuild/SPECS/x.spec``). /root is mode 0700 on
    Debian, Ubuntu and Alpine, so no other user can even enter it. The reason, or ""."""
    values = [
        i.value
        for link in runtime.chain
        for keyword in ("WORKDIR", "ENTRYPOINT", "CMD", "COPY", "ADD")
        for i in link.of(keyword)
    ]
    joined = "\n".join(values)
    if "root" not in joined and "~" not in joined and "$" not in joined:
        return ""  # most files: nothing under /root, nothing to work out
    env = runtime.env
    workdir = start_workdir(runtime.chain, env)
    words, instruction = entry_words(runtime)
    program = next((w for w in words if w not in WRAPPERS and not w.startswith("-")), "")
    program = substitute(program, env)
    named = next(
        (m.group(1) for w in words for m in [ROOT_PATH_RE.search(substitute(w, env))] if m), ""
    )
    line = instruction.lineno if instruction else 0
    if workdir == "/root" or workdir.startswith("/root/"):
        what = f"its WORKDIR is {workdir}"
    elif program.startswith(("/root/", "~/")):
        what = f"line {line}: it starts {program}"
    elif named:
        what = f"line {line}: its command uses {named}"
    else:
        copied = copied_under_root(runtime)
        if not copied:
            return ""
        what = copied
    return (
        f"the application lives under /root ({what}), which is mode 0700: a non-root user "
        "can reach nothing below it by path (the runtime may still start it there, but every "
        "absolute path into /root fails); remedy: move it to its own directory (WORKDIR "
        "/app, COPY into /app), then run fixuser fix"
    )


# A path below /root in a word of ENTRYPOINT/CMD: the word itself, or an option's value.
ROOT_PATH_RE = re.compile(r"(?:^|=)(/root/[^\s\"']+)")


def copied_under_root(runtime: Runtime) -> str:
    """``line N: COPY into /root/app``: the last COPY/ADD of the chain into /root, not of a
    dotfile (root's own configuration), or ""."""
    env = runtime.env
    for link in runtime.chain:
        for instruction in reversed([*link.of("COPY"), *link.of("ADD")]):
            _, words = split_flags(instruction.value)
            if len(words) < 2 or "root" not in words[-1]:
                continue
            *sources, dest = (substitute(w, env) for w in words)
            dest = posixpath.normpath(dest) if dest.startswith("/") else ""
            if dest == "/root":
                names = [posixpath.basename(s.rstrip("/")) for s in sources]
                if all(name.startswith(".") for name in names):
                    continue
            elif not dest.startswith("/root/") or dest[len("/root/") :].startswith("."):
                continue
            return f"line {instruction.lineno}: {instruction.keyword} into {dest}"
    return ""
