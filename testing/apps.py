"""Helpers for the tests that run a server image and reach it as a client would.

A container is started under the engine with its port published on the host
(``-p 127.0.0.1:HOSTPORT:CONTAINERPORT``, a free host port), reached over HTTP with urllib (or
with one FastCGI request, for php-fpm), asked who PID 1 is the way the CIS 4.1 audit does it
(the ``Uid:`` line of /proc/1/status, read with ``exec cat``), and removed. A server that
cannot start (a non-root user on port 80, where the engine keeps ports below 1024 for root)
is run to its end instead, for its exit status and log.

The apps of tests/apps/ (a gunicorn app and a Node server, both on port 80) and the local
stand-ins for nginx, httpd and php-fpm (tests/images/build.sh) are what these serve.
"""

from __future__ import annotations

import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import TypeVar

from fixuser.containers.engine import Engine, EngineError, exit_code, parse_status_uid
from testing.engine import TESTS, start_container

APPS = TESTS / "apps"
# Below this port a bind needs root (or CAP_NET_BIND_SERVICE) inside the container.
UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start"
# Docker Engine (20.10+) runs every container with this sysctl; podman here does not.
DOCKER_LIKE = ("--sysctl", f"{UNPRIVILEGED_PORT_START}=0")
START_SECONDS = 60.0  # a server's start, from `run -d` to its first answer
T = TypeVar("T")


class NotServing(AssertionError):
    """The container stopped, or never answered, before its server did: with its log."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass(frozen=True)
class Served:
    """A running container whose ``container_port`` is published on 127.0.0.1:``host_port``."""

    engine: Engine
    container: str
    container_port: int
    host_port: int

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.host_port}{path}"

    def get(self, path: str = "/", timeout: float = 5.0) -> Response:
        """One HTTP GET through the published port; an HTTP error status is a Response too."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as answer:
                return Response(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read(), dict(e.headers))

    def fastcgi(self, params: Mapping[str, str], timeout: float = 5.0) -> bytes:
        """One FastCGI request through the published port: the responder's stdout."""
        return fastcgi_request("127.0.0.1", self.host_port, params, timeout=timeout)

    def pid1_uid(self) -> int | None:
        """PID 1's effective UID, from /proc/1/status as CIS 4.1 audits it (None: not running)."""
        status = self.engine.container_status(self.container)
        return parse_status_uid(status) if status is not None else None

    def uids(self) -> set[int]:
        """The effective UIDs of every process in the container (a root master's workers)."""
        done = self.engine.command(
            ["exec", self.container, "sh", "-c", "cat /proc/[0-9]*/status"], check=False
        )
        return {
            uid
            for block in done.stdout.split("Name:")
            if (uid := parse_status_uid(block)) is not None
        }

    def running(self) -> bool:
        return self.engine.is_running(self.container)

    def logs(self) -> str:
        return container_logs(self.engine, self.container)


def free_port() -> int:
    """A TCP port nothing listens on now, for the host side of ``-p``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def container_logs(engine: Engine, container: str) -> str:
    done = engine.command(["logs", container], check=False)
    return (done.stdout + done.stderr).strip()


@contextmanager
def serve(
    engine: Engine,
    image: str,
    container_port: int,
    label: str,
    *,
    args: Sequence[str] = (),
    argv: Sequence[str] = (),
) -> Iterator[Served]:
    """Run ``image`` detached with ``container_port`` published on a free host port; remove it
    when the block ends. ``args`` go to ``run`` (``--user``, ``--sysctl``, ``-e``)."""
    host_port = free_port()
    published = ("-p", f"127.0.0.1:{host_port}:{container_port}")
    container = start_container(engine, image, label, *published, *args, argv=tuple(argv))
    try:
        yield Served(engine, container, container_port, host_port)
    finally:
        engine.remove_container(container)


def wait_for_http(served: Served, path: str = "/", seconds: float = START_SECONDS) -> Response:
    """The first HTTP answer of ``served``; NotServing, with the log, when the container stops
    or nothing answers in ``seconds``."""
    return _wait(served, seconds, lambda: served.get(path, timeout=2.0))


def wait_for_fastcgi(
    served: Served, params: Mapping[str, str], seconds: float = START_SECONDS
) -> bytes:
    """The first FastCGI answer of ``served`` (as wait_for_http)."""
    return _wait(served, seconds, lambda: served.fastcgi(params, timeout=2.0))


def _wait(served: Served, seconds: float, attempt: Callable[[], T]) -> T:
    deadline = time.monotonic() + seconds
    why = "no answer"
    while time.monotonic() < deadline:
        try:
            return attempt()
        except (OSError, HTTPException) as e:  # refused, reset, closed early: not up yet
            why = f"{type(e).__name__}: {e}"
        if not served.running():
            raise NotServing(f"the container stopped before it answered ({why}):\n{served.logs()}")
        time.sleep(0.25)
    raise NotServing(f"no answer in {seconds:.0f} s ({why}):\n{served.logs()}")


@dataclass(frozen=True)
class Exited:
    code: int | None
    log: str


def run_to_exit(
    engine: Engine,
    image: str,
    label: str,
    *,
    args: Sequence[str] = (),
    argv: Sequence[str] = (),
    seconds: float = START_SECONDS,
) -> Exited:
    """Run ``image`` until it exits, as a server that cannot start does: its exit status and
    log. One still running after ``seconds`` did start: NotServing says so, with its log."""
    container = start_container(engine, image, label, *args, argv=tuple(argv))
    try:
        try:
            waited = engine.command(["wait", container], timeout=seconds, check=False)
        except EngineError:  # timed out: it runs
            raise NotServing(
                f"still running after {seconds:.0f} s:\n{container_logs(engine, container)}"
            ) from None
        return Exited(exit_code(waited.stdout), container_logs(engine, container))
    finally:
        engine.remove_container(container)


# --- FastCGI: what nginx's fastcgi_pass sends to php-fpm ---------------------------------------

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6
FCGI_RESPONDER = 1


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def _length(data: bytes) -> bytes:
    return bytes([len(data)]) if len(data) < 128 else struct.pack(">I", len(data) | 1 << 31)


def fastcgi_request(
    host: str, port: int, params: Mapping[str, str], *, timeout: float = 5.0
) -> bytes:
    """One FastCGI responder request with ``params`` (SCRIPT_FILENAME, REQUEST_METHOD, ...) and
    no body: the stdout the application answered with (CGI headers, a blank line, the body)."""
    pairs = b"".join(
        _length(k) + _length(v) + k + v
        for k, v in ((k.encode(), v.encode()) for k, v in params.items())
    )
    message = (
        _record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", FCGI_RESPONDER, 0))
        + _record(FCGI_PARAMS, pairs)
        + _record(FCGI_PARAMS, b"")
        + _record(FCGI_STDIN, b"")
    )
    stdout = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(message)
        data = bytearray()
        while True:
            while len(data) >= 8:
                _, kind, _, length, padding = struct.unpack(">BBHHBx", data[:8])
                if len(data) < 8 + length + padding:
                    break
                if kind == FCGI_STDOUT:
                    stdout += data[8 : 8 + length]
                elif kind == FCGI_END_REQUEST:
                    return bytes(stdout)
                del data[: 8 + length + padding]
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the FastCGI server closed before it ended the request")
            data += chunk


def php_params(script: str) -> dict[str, str]:
    """The FastCGI params of a GET of ``script`` (a path inside the container)."""
    return {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "GET",
        "SCRIPT_FILENAME": script,
        "SCRIPT_NAME": "/" + Path(script).name,
        "REQUEST_URI": "/" + Path(script).name,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
    }
