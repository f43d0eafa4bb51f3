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


# What the issue 22 trial showed, each read in the image's own Dockerfile.
@pytest.mark.parametrize(
    ("ref", "family", "user", "users", "entrypoint"),
    [
        ("grafana/k6:1.0.0", "alpine", "12345", ["k6:12345:12345"], ""),
        ("docker.io/grafana/k6:2.2.0-with-browser", "alpine", "12345", ["k6:12345:12345"], ""),
        ("grafana/grafana:11.2.0", "alpine", "472", ["grafana:472:0"], ""),
        ("grafana/grafana-oss:11.2.0-ubuntu", "debian", "472", ["grafana:472:0"], ""),
        ("sonarqube:10-community", "debian", "sonarqube", ["sonarqube:1000:0"], ""),
        ("hashicorp/consul:1.20", "alpine", "root", [], "drops-privileges"),
        ("consul:1.15", "alpine", "root", [], "drops-privileges"),
        ("hashicorp/vault:1.17", "alpine", "root", [], "drops-privileges"),
        ("vault:1.13.3", "alpine", "root", [], "drops-privileges"),
        ("hashicorp/consul:1.20-ubi", "rhel-minimal", "100", [], ""),
        ("cypress/included:13.6.0", "debian", "root", ["node:1000:1000"], ""),
        ("cypress/base:20.11.0", "debian", "root", ["node:1000:1000"], ""),
        ("prom/prometheus:v2.53.0", "alpine", "nobody", ["nobody:65534:65534"], ""),
        ("quay.io/prometheus/alertmanager", "alpine", "nobody", ["nobody:65534:65534"], ""),
        ("quay.io/prometheus/busybox:glibc", "alpine", "root", [], ""),
        ("quay.io/prometheus/busybox-linux-amd64:glibc", "alpine", "root", [], ""),
    ],
)
def test_images_the_trial_met_have_their_real_default_user(
    ref: str, family: str, user: str, users: list[str], entrypoint: str
) -> None:
    info = lookup(ref)
    assert info.known
    assert (info.family, info.user, info.entrypoint) == (family, user, entrypoint)
    assert [f"{u.name}:{u.uid}:{u.gid}" for u in info.users] == users


def test_no_image_but_the_prometheus_ones_defaults_to_nobody() -> None:
    """Every ``nobody`` default was checked against the image's Dockerfile: only the
    prometheus images switch to it; sonarqube, grafana, consul and vault do not."""
    from fixuser.knowledge.images import table

    nobody = {name for e in table() if e.data.get("user") == "nobody" for name in e.names}
    assert all(name.startswith(("prom/", "quay.io/prometheus/")) for name in nobody)
