"""The container engine at the edge: build, run and inspect with docker, podman or buildah.

Everything here shells out to the engine's own CLI, so what fixuser proves is what a user's
``docker build`` / ``podman build`` does. Builds never pull (``--pull=never`` where the engine has
it) and read the Dockerfile from a temporary file outside the build context, so ``COPY . .``
cannot pick it up and the working tree is never touched.

Who a container runs as is read the way CIS 4.1 audits it: the effective UID of PID 1 from
``/proc/1/status``. Images without a shell (distroless, scratch) cannot run a probe; for them the
image config's ``User`` is resolved against the image's own ``/etc/passwd`` and the ownership of
its directories.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fixuser.containers.parse import (
    PROBE,
    ImageConfig,
    config_from,
    dockerfile_label,
    exit_code,
    parse_diff,
    parse_passwd,
    parse_probe,
    parse_status_uid,
    primary_gids,
    resolve_user,
    writable_by,
)
from fixuser.errors import FixuserError

ENGINES = ("docker", "podman", "buildah")
INFO_TIMEOUT = 20
BUILD_TIMEOUT = 1800
RUN_TIMEOUT = 120
# How long a container started with its own entrypoint gets before PID 1 is read.
SETTLE_SECONDS = 1.0

HOW_TO_GET_ONE = (
    "no container engine answers: install podman and buildah (Debian/Ubuntu: "
    "`apt-get install podman buildah runc`), or start Docker, or set DOCKER_HOST; "
    "choose one with --engine docker|podman|buildah"
)


class EngineError(FixuserError):
    """An engine command failed; ``lines`` holds the engine's own error lines."""

    def __init__(self, message: str, lines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.lines = tuple(lines)


class NoEngineError(EngineError):
    """No usable engine: the message says how to get one."""


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    platform: str | None = None


@dataclasses.dataclass(frozen=True)
class Build:
    tag: str
    seconds: float
    size: int  # bytes, as the engine reports the image


@dataclasses.dataclass(frozen=True)
class RuntimeUser:
    """Who the container runs as, and what it can write."""

    uid: int | None  # effective UID of PID 1 (or of the configured user, for shell-less images)
    name: str | None  # the name the UID has in the image's /etc/passwd; None when it has none
    writable: Mapping[str, bool]  # WORKDIR and VOLUME paths -> writable by that user
    source: str  # how the UID was learnt
    has_shell: bool
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """What a container of an image did when started with its own ENTRYPOINT/CMD."""

    started: bool
    running: bool  # still running when the time was up
    exit_code: int | None  # when it exited
    seconds: float  # how long it ran (up to the time given)
    log: tuple[str, ...]  # its output, stdout and stderr, line by line
    changes: tuple[tuple[str, str], ...]  # ("A"|"C"|"D", path) as `docker diff` lists them
    pid1_uid: int | None = None  # PID 1's effective UID, when it could be read while it ran
    error: str = ""  # why it did not start

    @property
    def ok(self) -> bool:
        """Kept running, or finished with exit status 0."""
        return self.started and (self.running or self.exit_code == 0)


@dataclasses.dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def error_lines(self, limit: int = 15) -> tuple[str, ...]:
        lines = [line for line in (self.stderr or self.stdout).splitlines() if line.strip()]
        return tuple(lines[-limit:])


@dataclasses.dataclass(frozen=True)
class Engine:
    name: str  # docker, podman or buildah
    executable: str

    # --- running the CLI -----------------------------------------------------------------

    def command(
        self,
        args: Sequence[str],
        *,
        timeout: float = RUN_TIMEOUT,
        check: bool = True,
        what: str = "",
    ) -> Completed:
        argv = [self.executable, *args]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise EngineError(f"{what or shlex.join(argv)}: timed out after {timeout:.0f} s") from e
        except OSError as e:
            raise EngineError(f"{self.executable}: {e}") from e
        done = Completed(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise EngineError(
                f"{what or shlex.join(argv[:3])} failed (exit {proc.returncode})",
                done.error_lines(),
            )
        return done

    @property
    def runs_containers(self) -> bool:
        return self.name != "buildah"

    # --- images --------------------------------------------------------------------------

    def build(
        self,
        dockerfile: bytes,
        context: Path,
        tag: str,
        options: BuildOptions = BuildOptions(),
        *,
        timeout: float = BUILD_TIMEOUT,
    ) -> Build:
        """Build ``dockerfile`` (its text) with ``context`` as the build context."""
        context = context.resolve()
        with tempfile.TemporaryDirectory(prefix="fixuser-build-", dir=outside(context)) as tmp:
            path = Path(tmp) / "Dockerfile"
            path.write_bytes(dockerfile)
            args = self.build_args(path, context, tag, options)
            started = time.monotonic()
            self.command(args, timeout=timeout, what=f"{self.name} build")
            seconds = time.monotonic() - started
        return Build(tag=tag, seconds=seconds, size=self.image_config(tag).size)

    def build_args(self, path: Path, context: Path, tag: str, options: BuildOptions) -> list[str]:
        if self.name == "buildah":
            args = ["bud", "--pull=never", "--layers", "--isolation", "chroot"]
        elif self.name == "podman":
            args = ["build", "--pull=never", "--layers"]
        else:  # docker: no --pull=never; it only pulls what is missing
            args = ["build"]
        args += ["-f", str(path), "-t", tag]
        for key, value in options.build_args:
            args += ["--build-arg", f"{key}={value}"]
        if options.target:
            args += ["--target", options.target]
        if options.platform:
            args += ["--platform", options.platform]
        return [*args, str(context)]

    def image_config(self, image: str) -> ImageConfig:
        if self.name == "buildah":
            out = self.command(["inspect", "--type", "image", image], what="buildah inspect")
            data = json.loads(out.stdout)
            config = data.get("OCIv1", {}).get("config", {}) or {}
            size = self.image_size_buildah(image)
            return config_from(config, size, lower=True)
        out = self.command(["image", "inspect", image], what=f"{self.name} image inspect")
        data = json.loads(out.stdout)[0]
        return config_from(data.get("Config") or {}, int(data.get("Size") or 0), lower=False)

    def image_size_buildah(self, image: str) -> int:
        out = self.command(["images", "--json", image], what="buildah images", check=False)
        try:
            return int(json.loads(out.stdout)[0].get("size", 0))
        except (ValueError, IndexError, KeyError, TypeError):
            return 0

    def image_exists(self, image: str) -> bool:
        args = (
            ["inspect", "--type", "image", image]
            if self.name == "buildah"
            else ["image", "inspect", image]
        )
        return self.command(args, check=False).returncode == 0

    def remove_image(self, image: str) -> None:
        args = ["rmi", "-f", image] if self.name != "docker" else ["image", "rm", "-f", image]
        self.command(args, check=False)

    def read_files(self, image: str, paths: Sequence[str]) -> dict[str, tarfile.TarInfo | bytes]:
        """Files and directory entries of ``image``'s filesystem, without running it.

        A regular file maps to its bytes, a directory to its TarInfo (owner, mode); missing paths
        are left out. Works for images without a shell.
        """
        found: dict[str, tarfile.TarInfo | bytes] = {}
        # Not `cp CONTAINER:PATH -`: podman reports the caller as the owner of what it copies.
        if self.name == "podman":
            root = Path(self.command(["image", "mount", image], what="image mount").stdout.strip())
            try:
                for p in paths:
                    found.update(read_local(root, p))
            finally:
                self.command(["image", "unmount", image], check=False)
            return found
        if self.name == "buildah":
            container = self.command(["from", "--pull=never", image]).stdout.strip()
            try:
                root = Path(self.command(["mount", container]).stdout.strip())
                for p in paths:
                    found.update(read_local(root, p))
            finally:
                self.command(["rm", container], check=False)
            return found
        container = self.command(["create", image, "fixuser-probe"], what="create").stdout.strip()
        try:
            return self.export_members(container, paths)
        finally:
            self.command(["rm", "-f", container], check=False)

    def export_members(
        self, container: str, paths: Sequence[str]
    ) -> dict[str, tarfile.TarInfo | bytes]:
        """The entries ``paths`` of ``export CONTAINER``, read as the stream goes by."""
        wanted = {p.strip("/"): p for p in paths}
        found: dict[str, tarfile.TarInfo | bytes] = {}
        proc = subprocess.Popen(
            [self.executable, "export", container],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    key = member.name.removeprefix("./").strip("/")
                    if key not in wanted:
                        continue
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        found[wanted[key]] = extracted.read() if extracted else b""
                    elif member.isdir() or member.issym():
                        found[wanted[key]] = member
                    if len(found) == len(wanted):
                        break
        except tarfile.TarError:
            pass
        finally:
            proc.kill()
            proc.wait()
        return found

    # --- containers ----------------------------------------------------------------------

    def run(
        self,
        image: str,
        argv: Sequence[str] = (),
        *,
        entrypoint: str | None = None,
        user: str | None = None,
        timeout: float = RUN_TIMEOUT,
    ) -> Completed:
        """Run a throw-away container to completion (never pulls)."""
        if not self.runs_containers:
            raise EngineError("buildah builds images but does not run containers")
        args = ["run", "--rm"]
        if self.name == "podman":
            args.append("--pull=never")
        if entrypoint is not None:
            args += ["--entrypoint", entrypoint]
        if user is not None:
            args += ["--user", user]
        return self.command([*args, image, *argv], timeout=timeout, check=False)

    def pid1_uid_live(self, image: str) -> tuple[int | None, str]:
        """Start ``image`` with its own entrypoint and read PID 1's effective UID while it runs.

        This is what CIS 4.1 audits (an entrypoint may drop privileges with gosu/su-exec).
        (None, why) when the container exits before it can be read.
        """
        args = ["run", "-d"] + (["--pull=never"] if self.name == "podman" else [])
        started = self.command([*args, image], check=False)
        if started.returncode != 0:
            return None, "could not start: " + " ".join(started.error_lines(3))
        container = started.stdout.strip().splitlines()[-1]
        try:
            time.sleep(SETTLE_SECONDS)
            status = self.container_status(container)
            if status is None:
                return None, "exited before PID 1 could be read"
            return parse_status_uid(status), "/proc/1/status of the running container"
        finally:
            self.remove_container(container)

    def behave(self, image: str, seconds: float) -> Behaviour:
        """Start ``image`` as a user would (its own ENTRYPOINT/CMD, no arguments), let it run
        up to ``seconds``, and record what it did: whether it kept running or how it exited,
        its log, PID 1's UID while it ran, and the filesystem changes it made."""
        # create, then start: a container that cannot start (no such user, no such program)
        # still has an id to remove, and a start error to report.
        args = ["create"] + (["--pull=never"] if self.name == "podman" else [])
        created = self.command([*args, image], check=False)
        if created.returncode != 0:
            error = " ".join(created.error_lines(3)) or f"exit {created.returncode}"
            return Behaviour(False, False, None, 0.0, (), (), error=error)
        container = created.stdout.strip().splitlines()[-1]
        begun = time.monotonic()
        try:
            started = self.command(["start", container], check=False)
            if started.returncode != 0:
                error = " ".join(started.error_lines(3)) or f"exit {started.returncode}"
                return Behaviour(False, False, None, 0.0, (), (), error=error)
            pid1_uid, code = None, None
            try:  # one call that returns when it exits, or times out while it runs
                waited = self.command(["wait", container], timeout=seconds, check=False)
            except EngineError:  # the time is up and it still runs
                # read now, not at start: an entrypoint may step down from root (gosu) first
                status = self.container_status(container)
                pid1_uid = parse_status_uid(status) if status else None
                running = status is not None or self.is_running(container)
            else:
                running = False
                code = exit_code((waited.stdout.strip().splitlines() or [""])[-1])
            elapsed = time.monotonic() - begun
            if not running and code is None:
                code = exit_code(
                    self.command(
                        ["inspect", "--format", "{{.State.ExitCode}}", container], check=False
                    ).stdout
                )
            logs = self.command(["logs", container], check=False)
            log = tuple((logs.stdout + logs.stderr).splitlines())
            diff = self.command(["diff", container], check=False).stdout
            return Behaviour(True, running, code, elapsed, log, parse_diff(diff), pid1_uid=pid1_uid)
        finally:
            self.remove_container(container)

    def remove_container(self, container: str) -> None:
        # podman rm -f otherwise waits out the stop timeout of a PID 1 that ignores SIGTERM.
        quick = ["-t", "0"] if self.name == "podman" else []
        self.command(["rm", "-f", "-v", *quick, container], check=False)

    def is_running(self, container: str) -> bool:
        state = self.command(
            ["inspect", "--format", "{{.State.Running}}", container], check=False
        ).stdout.strip()
        return state == "true"

    def container_status(self, container: str) -> str | None:
        """/proc/1/status of a running container: exec cat, else the host's /proc/<pid>."""
        running = self.command(
            ["inspect", "--format", "{{.State.Running}} {{.State.Pid}}", container], check=False
        ).stdout.split()
        if not running or running[0] != "true":
            return None
        done = self.command(["exec", container, "cat", "/proc/1/status"], check=False)
        if done.returncode == 0 and "Uid:" in done.stdout:
            return done.stdout
        if len(running) > 1 and running[1].isdigit():
            try:  # no cat in the image (distroless): the kernel's view from the host
                return Path(f"/proc/{running[1]}/status").read_text()
            except OSError:
                return None
        return None

    def runtime_user(
        self,
        image: str,
        config: ImageConfig | None = None,
        extra: Sequence[str] = (),
        pid1: tuple[int | None, str] | None = None,
    ) -> RuntimeUser:
        """Who ``image`` runs as and whether its WORKDIR and VOLUMEs (and the ``extra`` paths,
        files or directories) are writable by it. ``pid1``: PID 1's UID as a run of the image
        with its own entrypoint already read it (else it is started once more to read it)."""

        def live() -> tuple[int | None, str]:
            return pid1 if pid1 is not None else self.pid1_uid_live(image)

        config = config or self.image_config(image)
        paths = tuple(dict.fromkeys(p for p in (config.workdir, *config.volumes, *extra) if p))
        notes: list[str] = []
        if self.runs_containers:
            done = self.run(image, ["-c", PROBE, "fixuser-probe", *paths], entrypoint="/bin/sh")
            if done.returncode == 0:
                uid, name, writable = parse_probe(done.stdout)
                live_uid, how = live()
                source = "/proc/1/status (probe shell as PID 1)"
                if live_uid is not None:
                    source = how
                    if live_uid != uid:
                        notes.append(f"its entrypoint changes the user: PID 1 runs as {live_uid}")
                    uid = live_uid
                else:
                    notes.append(f"own entrypoint: {how}")
                return RuntimeUser(uid, name, writable, source, True, tuple(notes))
            if "/bin/sh" in self.read_files(image, ["/bin/sh"]):
                # It has a shell, so the container itself does not start (e.g. no such user).
                raise EngineError("the container does not start", done.error_lines())
            notes.append("no /bin/sh in the image: read its config and filesystem")
        return self.static_user(image, config, paths, tuple(notes), live)

    def static_user(
        self,
        image: str,
        config: ImageConfig,
        paths: Sequence[str],
        notes: tuple[str, ...],
        live: Callable[[], tuple[int | None, str]],
    ) -> RuntimeUser:
        files = self.read_files(image, ["/etc/passwd", "/etc/group", *paths])
        passwd, group = files.get("/etc/passwd", b""), files.get("/etc/group", b"")
        passwd_text = passwd.decode(errors="replace") if isinstance(passwd, bytes) else ""
        group_text = group.decode(errors="replace") if isinstance(group, bytes) else ""
        uid, gid, name = resolve_user(config.user, passwd_text, group_text)
        source = f"image config User {config.user or '(unset: root)'} and its /etc/passwd"
        if self.runs_containers:
            live_uid, how = live()
            if live_uid is not None:
                uid, source = live_uid, how
                name = parse_passwd(passwd_text).get(live_uid)
        gids = {gid} if gid is not None else set()
        if uid is not None and gid is None:
            gids = primary_gids(passwd_text, uid)
        writable: dict[str, bool] = {}
        extra: list[str] = []
        for p in paths:
            entry = files.get(p)
            if isinstance(entry, tarfile.TarInfo) and not entry.issym() and uid is not None:
                writable[p] = writable_by(entry.mode, entry.uid, entry.gid, uid, gids)
            elif isinstance(entry, bytes):
                # read_files gives a regular file's bytes, not its mode: not judged here
                extra.append(f"{p} is a file whose mode cannot be read without a shell")
            elif entry is None and p in config.volumes and self.name == "podman":
                # Seen with podman 4.3: a VOLUME path missing from the image is created at run
                # time owned by the container's user.
                writable[p] = True
                extra.append(f"{p} is not in the image: podman creates it for the user")
            else:
                writable[p] = False
        return RuntimeUser(uid, name, writable, source, False, (*notes, *extra))

    def smoke(self, image: str, command: str, has_shell: bool) -> Completed:
        """Run ``command`` in a container of ``image`` as the image's user."""
        if has_shell:
            return self.run(image, ["-c", command], entrypoint="/bin/sh")
        argv = shlex.split(command)
        if not argv:
            raise EngineError("the smoke command is empty")
        return self.run(image, argv[1:], entrypoint=argv[0])


def read_local(root: Path, path: str) -> dict[str, tarfile.TarInfo | bytes]:
    target = root / path.lstrip("/")
    try:
        if target.is_symlink():  # never followed: it would resolve on the host, not in the image
            link = tarfile.TarInfo(path)
            link.type, link.linkname = tarfile.SYMTYPE, os.readlink(target)
            return {path: link}
        if target.is_file():
            return {path: target.read_bytes()}
        st = target.stat()
    except OSError:
        return {}
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.uid, info.gid = (
        tarfile.DIRTYPE,
        st.st_mode & 0o7777,
        st.st_uid,
        st.st_gid,
    )
    return {path: info}


def outside(context: Path) -> str | None:
    """A temporary directory that is not inside ``context`` (None: the system default)."""
    default = Path(tempfile.gettempdir()).resolve()
    if default != context and context not in default.parents:
        return None
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (home, Path("/var/tmp"), Path("/dev/shm")):
        if candidate.is_dir() and candidate != context and context not in candidate.parents:
            return str(candidate)
    raise EngineError(f"no temporary directory outside the build context {context}")


def answers(name: str, executable: str) -> bool:
    """Whether the engine's daemon/storage responds (``docker`` without a daemon does not)."""
    try:
        proc = subprocess.run(
            [executable, "info"],
            capture_output=True,
            timeout=INFO_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def find_engine(name: str | None = None) -> Engine:
    """The engine named, or the first of docker, podman, buildah that answers.

    Raises NoEngineError with how to get one. ``DOCKER_HOST`` is honoured by docker itself.
    """
    candidates = [name] if name else list(ENGINES)
    tried: list[str] = []
    for candidate in candidates:
        if candidate not in ENGINES:
            raise NoEngineError(f"unknown engine {candidate!r} (choose docker, podman or buildah)")
        executable = shutil.which(candidate)
        if executable is None:
            tried.append(f"{candidate}: not installed")
            continue
        if answers(candidate, executable):
            return Engine(candidate, executable)
        tried.append(f"{candidate}: `{candidate} info` does not answer")
    raise NoEngineError(HOW_TO_GET_ONE + " (" + "; ".join(tried) + ")")


__all__ = [
    "ENGINES",
    "HOW_TO_GET_ONE",
    "Build",
    "BuildOptions",
    "Completed",
    "Engine",
    "EngineError",
    "ImageConfig",
    "NoEngineError",
    "RuntimeUser",
    "config_from",
    "dockerfile_label",
    "exit_code",
    "find_engine",
    "parse_passwd",
    "parse_probe",
    "parse_status_uid",
    "resolve_user",
    "writable_by",
]
