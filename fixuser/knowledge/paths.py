"""Which directories belong to the application and which to the system."""

from __future__ import annotations

import posixpath

# Never chowned, not even when a WORKDIR names them.
SYSTEM_DIRS = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/games",
        "/usr/include",
        "/usr/lib",
        "/usr/lib32",
        "/usr/lib64",
        "/usr/libexec",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/etc",
        "/usr/local/games",
        "/usr/local/include",
        "/usr/local/lib",
        "/usr/local/libexec",
        "/usr/local/sbin",
        "/usr/local/share",
        "/usr/local/src",
        "/usr/sbin",
        "/usr/share",
        "/usr/src",
        "/var",
        "/var/backups",
        "/var/cache",
        "/var/lib",
        "/var/local",
        "/var/lock",
        "/var/log",
        "/var/mail",
        "/var/opt",
        "/var/run",
        "/var/spool",
        "/var/tmp",
        "/var/www",
        "/etc/ssl",
        "/etc/pki",
        "/var/lib/apt",
        "/var/lib/dpkg",
        "/var/cache/apt",
        "/var/lib/rpm",
        "/var/cache/yum",
        "/var/cache/dnf",
        "/var/cache/apk",
        "/etc/apt",
        "/etc/yum.repos.d",
        "/etc/apk",
    ]
)
# Trees of the system: nothing below them is an application's, whatever a WORKDIR says.
SYSTEM_TREES = (
    "/bin/",
    "/sbin/",
    "/lib/",
    "/lib32/",
    "/lib64/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/libexec/",
    "/usr/include/",
    "/usr/share/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
    "/usr/local/lib/",
    "/usr/local/include/",
    "/usr/local/share/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/boot/",
    "/etc/ssl/",
    "/etc/pki/",
    "/etc/apt/",
    "/var/lib/dpkg/",
    "/var/lib/apt/",
    "/var/cache/apt/",
    "/var/cache/apk/",
    "/var/cache/yum/",
    "/var/cache/dnf/",
    "/var/cache/debconf/",
    "/var/cache/ldconfig/",
    "/var/cache/man/",
    "/var/cache/fontconfig/",
    "/var/lib/rpm/",
    "/var/lib/systemd/",
    "/var/log/apt/",
    "/root/",
    "/run/systemd/",
    "/run/lock/",
    "/var/run/systemd/",
    "/tmp/",
    "/var/tmp/",
    "/etc/alternatives/",
    "/usr/lib/jvm/",
)
# Where applications keep their state: a directory a RUN step makes below one of these (not
# the root itself: that is the system's) is the application's, wherever its WORKDIR is.
STATE_ROOTS = (
    "/var/lib/",
    "/var/log/",
    "/var/cache/",
    "/var/spool/",
    "/var/www/",
    "/run/",
    "/var/run/",
    "/srv/",
    "/opt/",
    "/home/",
)
# Outside any WORKDIR, a COPY destination below these belongs to the system (config, binaries).
SHARED_ROOTS = ("/etc/", "/usr/", "/var/", "/opt/", "/home/", "/srv/", "/mnt/", "/media/")


def normalise(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def is_system(path: str) -> bool:
    path = normalise(path)
    return path in SYSTEM_DIRS or (path + "/").startswith(SYSTEM_TREES) or not path.startswith("/")


def under(path: str, directory: str) -> bool:
    path, directory = normalise(path), normalise(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def is_app_location(path: str, app_dirs: list[str]) -> bool:
    """A COPY/ADD destination that belongs to the application."""
    if is_system(path):
        return False
    if any(under(path, d) for d in app_dirs):
        return True
    return not (normalise(path) + "/").startswith(SHARED_ROOTS)


def is_state_dir(path: str) -> bool:
    """A directory below one of the STATE_ROOTS (``/var/lib/app``), and not the system's."""
    path = normalise(path)
    return not is_system(path) and (path + "/").startswith(STATE_ROOTS)
