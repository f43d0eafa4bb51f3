"""Image knowledge: references (registries, tags, digests) -> family, default user, users."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixuser.knowledge.images import lookup, name_glob, name_matches, parse_reference, star_match


@pytest.mark.parametrize(
    ("ref", "name", "tag"),
    [
        ("debian", "debian", "latest"),
        ("docker.io/library/debian:bookworm-slim", "debian", "bookworm-slim"),
        ("public.ecr.aws/docker/library/node:20", "node", "20"),
        ("localhost:5000/team/app", "localhost:5000/team/app", "latest"),
        ("alpine:3.20@sha256:" + "a" * 64, "alpine", "3.20"),
        ("alpine@sha256:" + "b" * 64, "alpine", "latest"),
    ],
)
def test_parse_reference_normalises_hub_prefixes_tags_and_digests(
    ref: str, name: str, tag: str
) -> None:
    reference = parse_reference(ref)
    assert (reference.name, reference.tag) == (name, tag)


@pytest.mark.parametrize(
    ("ref", "family"),
    [
        ("debian:bookworm-slim", "debian"),
        ("ubuntu:22.04", "debian"),
        ("python:3.12-slim", "debian"),
        ("python:3.12-alpine", "alpine"),
        ("alpine:3.20", "alpine"),
        ("busybox:latest", "alpine"),
        ("registry.access.redhat.com/ubi9/ubi:9.4", "rhel"),
        ("registry.access.redhat.com/ubi9/ubi-minimal:9.4", "rhel-minimal"),
        ("registry.access.redhat.com/ubi9/ubi-micro:9.4", "rhel-minimal"),
        ("amazonlinux:2023", "rhel-minimal"),
        ("public.ecr.aws/amazonlinux/amazonlinux:2023", "rhel-minimal"),
        ("mcr.microsoft.com/azurelinux/base/core:3.0", "rhel-minimal"),
        ("mcr.microsoft.com/cbl-mariner/base/core:2.0", "rhel-minimal"),
        ("opensuse/leap:15.6", "suse"),
        ("archlinux:latest", "arch"),
        ("gcr.io/distroless/static-debian12", "distroless"),
        ("mcr.microsoft.com/azurelinux/distroless/base:3.0", "distroless"),
        ("cgr.dev/chainguard/python:latest-dev", "alpine"),
        ("mcr.microsoft.com/windows/servercore:ltsc2022", "windows"),
        ("scratch", "scratch"),
        ("registry.example.com/platform/base:2.3", "unknown"),
    ],
)
def test_lookup_names_the_family(ref: str, family: str) -> None:
    assert lookup(ref).family == family


def test_nested_azure_linux_repositories_are_known_not_guessed() -> None:
    # mcr.microsoft.com/azurelinux/base/core has two path components below the registry's
    # prefix: a single ``*`` would not match it and the family would rest on RUN evidence.
    info = lookup("mcr.microsoft.com/azurelinux/base/core:3.0")
    assert info.known
    assert "image table" in info.evidence


@pytest.mark.parametrize(
    ("ref", "user"),
    [
        ("gcr.io/distroless/static-debian12:nonroot", "65532:65532"),
        ("mcr.microsoft.com/cbl-mariner/distroless/base:2.0-nonroot", "65532:65532"),
        ("cgr.dev/chainguard/static:latest", "65532"),
        ("bitnami/node:20", "1001"),
        ("nginxinc/nginx-unprivileged:1.27", "101:101"),
    ],
)
def test_images_that_already_run_as_non_root_say_so(ref: str, user: str) -> None:
    assert lookup(ref).user == user


@pytest.mark.parametrize(
    "ref",
    [
        "gcr.io/distroless/static-debian12",
        "cgr.dev/chainguard/wolfi-base",
        "cgr.dev/chainguard/python:latest-dev",
        "bitnami/minideb:bookworm",
        "ubuntu:24.04",
        "node:20",
    ],
)
def test_images_that_run_as_root_by_default_say_root(ref: str) -> None:
    assert lookup(ref).user == "root"


def test_node_ships_node_1000() -> None:
    users = lookup("node:20-bookworm-slim").users
    assert [(u.name, u.uid, u.gid) for u in users] == [("node", 1000, 1000)]


def test_dotnet_8_ships_app_1654_but_dotnet_6_does_not() -> None:
    assert [u.uid for u in lookup("mcr.microsoft.com/dotnet/aspnet:8.0").users] == [1654]
    assert lookup("mcr.microsoft.com/dotnet/aspnet:6.0").users == ()


def test_ubuntu_24_04_reserves_uid_1000() -> None:
    assert [u.uid for u in lookup("ubuntu:24.04").reserved] == [1000]
    assert [u.uid for u in lookup("ubuntu:noble").reserved] == [1000]
    assert lookup("ubuntu:22.04").reserved == ()


@pytest.mark.parametrize(
    ("ref", "entrypoint"),
    [
        ("postgres:16", "drops-privileges"),
        ("redis:7-alpine", "drops-privileges"),
        ("nginx:1.27", "root-by-design"),
        ("httpd:2.4", "root-by-design"),
        ("php:8.3-fpm", "root-by-design"),
        ("php:8.3-cli", ""),
    ],
)
def test_official_images_entrypoint_behaviour(ref: str, entrypoint: str) -> None:
    assert lookup(ref).entrypoint == entrypoint


def test_distroless_has_no_shell_but_debug_tags_do() -> None:
    assert not lookup("gcr.io/distroless/base-debian12").shell
    assert lookup("gcr.io/distroless/base-debian12:debug").shell


# The table's globs are matched without a regex per glob; these hold them to the regex meaning.
GLOBS = st.text(alphabet="ab-/*", max_size=8)
NAMES = st.text(alphabet="ab-/", max_size=8)


@given(GLOBS, NAMES)
def test_name_globs_mean_what_the_regex_means(pattern: str, name: str) -> None:
    assert name_matches(pattern, name) == (name_glob(pattern).fullmatch(name) is not None)


@given(st.text(alphabet="ab-*", max_size=8), st.text(alphabet="ab-", max_size=8))
def test_tag_globs_mean_what_fnmatch_means(pattern: str, tag: str) -> None:
    assert star_match(pattern, tag) == fnmatch.fnmatchcase(tag, pattern)
