#!/usr/bin/env bash
# Build the local base images the engine tests need, without any image registry.
#
# Usage: tests/images/build.sh [debian|busybox|distroless|python ...]   (default: all four)
#
# Each image's rootfs is made from Debian packages (debootstrap, Debian's busybox source, a
# static C program), cached as a tarball under $FIXUSER_CI_CACHE keyed by a hash of its recipe,
# imported with `podman import` and tagged under the real names that unmodified Dockerfiles use,
# so `--pull=never` builds resolve them. The names are listed in tests/images/IMAGES.txt.
#
# Idempotent: an image whose tags all carry the current recipe's label is left alone; a changed
# recipe (this file, hello.c) rebuilds only the images whose recipe changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${FIXUSER_CI_CACHE:-/var/cache/fixuser-ci}
MIRROR=${FIXUSER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
ENGINE=${FIXUSER_IMAGE_ENGINE:-podman}
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
LABEL_KEY=fixuser.recipe

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

# --- the images: recipe, config and names ----------------------------------------------------

names_debian=(
    docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm
    docker.io/library/debian:12 docker.io/library/debian:12-slim docker.io/library/debian:latest
    docker.io/library/ubuntu:22.04 docker.io/library/python:3.12-slim
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

recipe_hash() {
    # Everything that shapes the image: its recipe functions, its config, its inputs.
    local image=$1 changes="changes_$1[@]"
    {
        declare -f "rootfs_$image"
        [ "$image" = busybox ] && declare -f busybox_binary
        [ "$image" = distroless ] && cat "$HERE/hello.c"
        printf '%s\n' "$SUITE" "$MIRROR" "${!changes}"
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
    local image=$1 names="names_$1[@]" changes="changes_$1[@]"
    local hash tarball started
    hash=$(recipe_hash "$image")
    if image_current "$hash" "${!names}"; then
        log "$image: up to date (recipe $hash)"
        return
    fi
    started=$SECONDS
    tarball=$CACHE/rootfs/$image-$hash.tar
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
    local args=() change name first=localhost/fixuser-base/$image:$hash
    for change in "${!changes}" "LABEL $LABEL_KEY=$hash"; do
        args+=(--change "$change")
    done
    "$ENGINE" import --quiet "${args[@]}" "$tarball" "$first" >/dev/null
    for name in "${!names}"; do
        "$ENGINE" tag "$first" "$name"
    done
    log "$image: imported and tagged ${!names} in $((SECONDS - started)) s"
}

main() {
    local images=("$@")
    [ ${#images[@]} -gt 0 ] || images=(debian busybox distroless python)
    local image
    for image in "${images[@]}"; do
        case $image in
        debian | busybox | distroless | python) build_image "$image" ;;
        *)
            log "unknown image $image (debian, busybox, distroless, python)"
            return 2
            ;;
        esac
    done
}

main "$@"
