"""Facts about servers on low ports and root masters, recorded with the real engine.

A fix that makes such a service non-root must still leave it answering. These tests record
what that fix is up against, on the local stand-ins of the official images (tests/images/
build.sh) and the apps of tests/apps/: each reached over HTTP (or FastCGI) through a port
published on the host, PID 1 read from /proc/1/status as CIS 4.1 audits it.

- podman here keeps ports below 1024 for root (ip_unprivileged_port_start stays 1024, as
  under CRI-O and Kubernetes before containerd 2.0): a non-root process cannot bind port 80,
  so a fix that leaves a port below 1024 fails here, where Docker (which lowers the sysctl to
  0) would hide it.
- nginx, httpd and php-fpm as shipped answer with a root master (PID 1 UID 0) and workers of
  their own user; a plain USER on nginx does not even start it.
- gunicorn and a Node server on port 80 answer as root and fail to bind as UID 10001.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixuser.containers.engine import Engine
from testing.apps import (
    APPS,
    DOCKER_LIKE,
    php_params,
    run_to_exit,
    serve,
    wait_for_fastcgi,
    wait_for_http,
)
from testing.engine import RUN_ID, build_tagged

pytestmark = pytest.mark.engine

DEBIAN = "docker.io/library/debian:bookworm-slim"
NGINX = "docker.io/library/nginx:1.27"
HTTPD = "docker.io/library/httpd:2.4"
PHP_FPM = "docker.io/library/php:8.3-fpm"
NGINX_UID, WWW_DATA_UID, NODE_UID, APP_UID = 101, 33, 1000, 10001
BIND_80_DENIED = "bind() to 0.0.0.0:80 failed (13: Permission denied)"

# What nginxinc/docker-nginx-unprivileged changes, but the port: no `user` directive, the pid
# file and every temp path in /tmp. Only `listen 80` stands between it and a non-root start.
NGINX_NON_ROOT_BUT_THE_PORT = (
    "FROM docker.io/library/nginx:1.27\n"
    "RUN sed -i '/^user /d' /etc/nginx/nginx.conf \\\n"
    " && sed -i 's,^pid .*,pid /tmp/nginx.pid;,' /etc/nginx/nginx.conf \\\n"
    " && sed -i '/^http {/a \\"
    "    client_body_temp_path /tmp/client_temp;\\n"
    "    proxy_temp_path /tmp/proxy_temp;\\n"
    "    fastcgi_temp_path /tmp/fastcgi_temp;\\n"
    "    uwsgi_temp_path /tmp/uwsgi_temp;\\n"
    "    scgi_temp_path /tmp/scgi_temp;' /etc/nginx/nginx.conf\n"
    "USER 101\n"
)


def tag_for(name: str) -> str:
    return f"localhost/fixuser-test/servers-{name}:{RUN_ID}"


@pytest.fixture(scope="module")
def module_images(engine: Engine) -> Iterator[list[str]]:
    """Tags built once for the module's tests, removed at its end."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        engine.remove_image(tag)


def build(engine: Engine, tags: list[str], text: str, context: Path, name: str) -> str:
    return build_tagged(engine, tags, text.encode(), context, tag_for(name))


# --- the engine ----------------------------------------------------------------------------


def test_fact_podman_keeps_ports_below_1024_for_root(running_engine: Engine) -> None:
    """The fact the port moves rely on: here a non-root process cannot bind port 80."""
    if running_engine.name != "podman":
        pytest.skip("Docker Engine lowers the sysctl to 0: recorded for podman")
    done = running_engine.run(
        DEBIAN, ["/proc/sys/net/ipv4/ip_unprivileged_port_start"], entrypoint="cat"
    )
    assert (done.returncode, done.stdout.strip()) == (0, "1024")
    docker_like = running_engine.command(
        [
            "run",
            "--rm",
            "--pull=never",
            *DOCKER_LIKE,
            "--entrypoint",
            "cat",
            DEBIAN,
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ],
    )
    assert docker_like.stdout.strip() == "0"


# --- the stand-ins have the official layouts -------------------------------------------------


def text_of(engine: Engine, image: str, path: str) -> str:
    data = engine.read_files(image, [path]).get(path)
    assert isinstance(data, bytes), f"{image}: {path} is missing or not a file"
    return data.decode()


def entry(engine: Engine, image: str, path: str) -> tarfile.TarInfo:
    info = engine.read_files(image, [path]).get(path)
    assert isinstance(info, tarfile.TarInfo), f"{image}: {path} is missing or not a directory"
    return info


def test_nginx_stand_in_has_the_official_layout(engine: Engine) -> None:
    conf = text_of(engine, NGINX, "/etc/nginx/nginx.conf")
    assert "\nuser  nginx;\n" in conf and "\npid        /run/nginx.pid;\n" in conf
    assert "include /etc/nginx/conf.d/*.conf;" in conf and "_temp_path" not in conf
    default = text_of(engine, NGINX, "/etc/nginx/conf.d/default.conf")
    assert "    listen       80;\n" in default and "root   /usr/share/nginx/html;" in default
    assert "nginx:x:101:101:nginx user:/nonexistent:/bin/false\n" in text_of(
        engine, NGINX, "/etc/passwd"
    )
    cache = entry(engine, NGINX, "/var/cache/nginx")
    assert (cache.uid, cache.mode & 0o777) == (0, 0o755)
    config = engine.image_config(NGINX)
    assert (config.entrypoint, config.cmd) == (
        ("/docker-entrypoint.sh",),
        ("nginx", "-g", "daemon off;"),
    )


def test_nginx_stand_in_has_no_temp_directories_before_its_first_start(
    running_engine: Engine,
) -> None:
    """As the official image: the root master makes them at start, so a non-root nginx must
    be given directories it can make them in."""
    done = running_engine.run(NGINX, ["-A", "/var/cache/nginx/"], entrypoint="ls")
    assert (done.returncode, done.stdout) == (0, "")


def test_httpd_stand_in_has_the_official_layout(engine: Engine) -> None:
    conf = text_of(engine, HTTPD, "/usr/local/apache2/conf/httpd.conf")
    for line in ("Listen 80", "User www-data", "Group www-data", "ErrorLog /proc/self/fd/2"):
        assert f"\n{line}\n" in conf, line
    assert "PidFile" not in conf  # the compiled-in logs/httpd.pid
    prefix, logs = (
        entry(engine, HTTPD, "/usr/local/apache2"),
        entry(engine, HTTPD, "/usr/local/apache2/logs"),
    )
    assert (prefix.uid, prefix.gid, logs.uid, logs.mode & 0o777) == (33, 33, 0, 0o755)
    assert engine.image_config(HTTPD).cmd == ("httpd-foreground",)


def test_php_fpm_stand_in_has_the_official_layout(engine: Engine) -> None:
    www = text_of(engine, PHP_FPM, "/usr/local/etc/php-fpm.d/www.conf")
    assert "\nuser = www-data\ngroup = www-data\n" in www and "\n;listen = 127.0.0.1:9000\n" in www
    assert "\nlisten = 9000\n" in text_of(engine, PHP_FPM, "/usr/local/etc/php-fpm.d/docker.conf")
    zz = text_of(engine, PHP_FPM, "/usr/local/etc/php-fpm.d/zz-docker.conf")
    assert "daemonize = no" in zz
    html = entry(engine, PHP_FPM, "/var/www/html")
    assert (html.uid, html.mode & 0o7777) == (33, 0o1777)
    assert engine.image_config(PHP_FPM).cmd == ("php-fpm",)


# --- nginx: a root master, and what a plain USER does to it ----------------------------------


def test_fact_nginx_as_shipped_answers_on_80_with_a_root_master(
    running_engine: Engine, session_label: str
) -> None:
    with serve(running_engine, NGINX, 80, session_label) as served:
        answer = wait_for_http(served)
        assert answer.status == 200 and "Welcome to nginx!" in answer.text
        assert served.pid1_uid() == 0
        assert NGINX_UID in served.uids()  # its workers


def test_fact_a_plain_user_101_does_not_start_nginx(
    running_engine: Engine, module_images: list[str], tmp_path: Path, session_label: str
) -> None:
    """Root-owned temp directories stop it before it reaches the port (the official image
    names /var/cache/nginx/client_temp; Debian's binary, /var/lib/nginx/body, linked there)."""
    tag = build(running_engine, module_images, f"FROM {NGINX}\nUSER 101\n", tmp_path, "nginx-101")
    exited = run_to_exit(running_engine, tag, session_label)
    assert exited.code not in (0, None), exited.log
    assert "mkdir()" in exited.log and "(13: Permission denied)" in exited.log


@pytest.fixture(scope="module")
def nginx_but_the_port(
    engine: Engine, module_images: list[str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    ctx = tmp_path_factory.mktemp("nginx-but-the-port")
    return build(engine, module_images, NGINX_NON_ROOT_BUT_THE_PORT, ctx, "nginx-but-port")


def test_fact_nginx_non_root_on_port_80_fails_to_bind_under_podman(
    running_engine: Engine, nginx_but_the_port: str, session_label: str
) -> None:
    if running_engine.name != "podman":
        pytest.skip("Docker Engine lets any user bind port 80: recorded for podman")
    exited = run_to_exit(running_engine, nginx_but_the_port, session_label)
    assert exited.code not in (0, None)
    assert BIND_80_DENIED in exited.log


def test_fact_the_docker_sysctl_lets_non_root_nginx_bind_80(
    running_engine: Engine, nginx_but_the_port: str, session_label: str
) -> None:
    """Why the proof runs under podman: with Docker's setting the same image works."""
    with serve(running_engine, nginx_but_the_port, 80, session_label, args=DOCKER_LIKE) as served:
        assert wait_for_http(served).status == 200
        assert served.pid1_uid() == NGINX_UID


def test_fact_nginx_non_root_on_8080_answers_under_podman(
    running_engine: Engine, module_images: list[str], tmp_path: Path, session_label: str
) -> None:
    """The unprivileged image's recipe, port included, works on the stand-in."""
    text = NGINX_NON_ROOT_BUT_THE_PORT.replace(
        "USER 101\n",
        "RUN sed -i 's,listen       80;,listen       8080;,' /etc/nginx/conf.d/default.conf\n"
        "USER 101\n",
    )
    tag = build(running_engine, module_images, text, tmp_path, "nginx-8080")
    with serve(running_engine, tag, 8080, session_label) as served:
        answer = wait_for_http(served)
        assert answer.status == 200 and "Welcome to nginx!" in answer.text
        assert served.pid1_uid() == NGINX_UID


# --- httpd and php-fpm: root masters ------------------------------------------------------


def test_fact_httpd_as_shipped_answers_on_80_with_a_root_master(
    running_engine: Engine, session_label: str
) -> None:
    with serve(running_engine, HTTPD, 80, session_label) as served:
        answer = wait_for_http(served)
        assert answer.status == 200 and "It works!" in answer.text
        assert served.pid1_uid() == 0
        assert WWW_DATA_UID in served.uids()


def test_fact_httpd_as_www_data_cannot_bind_80_under_podman(
    running_engine: Engine, session_label: str
) -> None:
    if running_engine.name != "podman":
        pytest.skip("Docker Engine lets any user bind port 80: recorded for podman")
    exited = run_to_exit(running_engine, HTTPD, session_label, args=("--user", "www-data"))
    assert exited.code not in (0, None)
    assert "AH00072: make_sock: could not bind to address 0.0.0.0:80" in exited.log


def test_fact_httpd_as_www_data_on_an_allowed_port_fails_on_its_pid_file(
    running_engine: Engine, session_label: str
) -> None:
    """Past the port, the root-owned logs/ (the compiled-in pid file) stops it: the port is
    not the only change a non-root httpd needs."""
    args = ("--user", "www-data", *DOCKER_LIKE)
    exited = run_to_exit(running_engine, HTTPD, session_label, args=args)
    assert exited.code not in (0, None)
    assert "AH00099: could not create /usr/local/apache2/logs/httpd.pid" in exited.log


@pytest.fixture(scope="module")
def php_app(
    engine: Engine, module_images: list[str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    ctx = tmp_path_factory.mktemp("php")
    (ctx / "index.php").write_text("<?php echo 'served by uid ', posix_geteuid(), \"\\n\";\n")
    text = f"FROM {PHP_FPM}\nCOPY index.php /var/www/html/\n"
    return build(engine, module_images, text, ctx, "php-fpm")


def test_fact_php_fpm_as_shipped_serves_on_9000_with_a_root_master(
    running_engine: Engine, php_app: str, session_label: str
) -> None:
    with serve(running_engine, php_app, 9000, session_label) as served:
        stdout = wait_for_fastcgi(served, php_params("/var/www/html/index.php"))
        assert stdout.endswith(f"served by uid {WWW_DATA_UID}\n".encode()), stdout
        assert served.pid1_uid() == 0


def test_fact_php_fpm_as_www_data_serves_on_9000_as_it_is(
    running_engine: Engine, php_app: str, session_label: str
) -> None:
    """Port 9000, no pid file, logs on the container's fds: USER www-data is all it needs."""
    args = ("--user", "www-data")
    with serve(running_engine, php_app, 9000, session_label, args=args) as served:
        stdout = wait_for_fastcgi(served, php_params("/var/www/html/index.php"))
        assert stdout.endswith(f"served by uid {WWW_DATA_UID}\n".encode()), stdout
        assert served.pid1_uid() == WWW_DATA_UID
        assert "'user' directive is ignored when FPM is not running as root" in served.logs()


# --- apps on port 80: root answers, a non-root user cannot bind ------------------------------


@pytest.fixture(scope="module")
def gunicorn_app(engine: Engine, module_images: list[str]) -> str:
    text = (APPS / "gunicorn" / "Dockerfile").read_text()
    return build(engine, module_images, text, APPS / "gunicorn", "gunicorn")


@pytest.fixture(scope="module")
def node_app(engine: Engine, module_images: list[str]) -> str:
    text = (APPS / "node" / "Dockerfile").read_text()
    return build(engine, module_images, text, APPS / "node", "node")


@pytest.mark.parametrize("app", ["gunicorn_app", "node_app"])
def test_fact_an_app_on_port_80_answers_as_root(
    running_engine: Engine, app: str, request: pytest.FixtureRequest, session_label: str
) -> None:
    with serve(running_engine, request.getfixturevalue(app), 80, session_label) as served:
        answer = wait_for_http(served)
        assert (answer.status, answer.text) == (200, "hello from uid 0\n")
        assert served.pid1_uid() == 0


@pytest.mark.parametrize(
    ("app", "denied"),
    [
        ("gunicorn_app", "Permission denied"),  # gunicorn retries, then: Can't connect to (...)
        ("node_app", "EACCES"),  # Error: listen EACCES: permission denied 0.0.0.0:80
    ],
)
def test_fact_an_app_on_port_80_cannot_bind_as_user_10001_under_podman(
    running_engine: Engine,
    app: str,
    denied: str,
    request: pytest.FixtureRequest,
    module_images: list[str],
    tmp_path: Path,
    session_label: str,
) -> None:
    if running_engine.name != "podman":
        pytest.skip("Docker Engine lets any user bind port 80: recorded for podman")
    base = request.getfixturevalue(app)
    tag = build(
        running_engine, module_images, f"FROM {base}\nUSER {APP_UID}\n", tmp_path, app + "-10001"
    )
    exited = run_to_exit(running_engine, tag, session_label)
    assert exited.code not in (0, None), exited.log
    assert denied in exited.log


def test_fact_the_node_image_has_its_node_user(running_engine: Engine) -> None:
    done = running_engine.run("docker.io/library/node:20-slim", ["node"], entrypoint="id")
    assert (
        done.stdout.strip() == f"uid={NODE_UID}(node) gid={NODE_UID}(node) groups={NODE_UID}(node)"
    )
