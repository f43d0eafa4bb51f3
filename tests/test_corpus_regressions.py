"""Cases the corpus triage found, each reduced to the lines that made fixuser go wrong."""

from __future__ import annotations

import re

from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.settings import Settings


def fixed(src: str) -> str:
    return fix(src.encode(), Settings()).output.decode()


def chowned(out: str) -> set[str]:
    """The paths of every ``chown`` in the output, but the created user's own home."""
    paths = {p for line in re.findall(r"chown \S+ ([^\\\n]+)", out) for p in line.split()}
    return paths - {"/home/app"}


def test_does_not_chown_an_install_tree_a_run_step_makes() -> None:
    out = fixed(
        "FROM alpine:3.20\nENV JAVA_HOME=/opt/java/openjdk\n"
        'RUN mkdir -p "$JAVA_HOME" && tar -xf j.tgz -C "$JAVA_HOME"\n'
    )
    assert "/opt/java" not in out.split("USER")[-1] and chowned(out) == set()


def test_does_not_turn_a_home_relative_path_into_a_root_directory() -> None:
    out = fixed("FROM debian:bookworm\nRUN mkdir ~/.ssh\n")
    assert "/~" not in out and chowned(out) == set()


def test_does_not_recreate_a_scratch_directory_the_build_removes() -> None:
    out = fixed("FROM debian:12\nRUN mkdir -p /build/x && make -C /build/x && rm -rf /build/x\n")
    assert chowned(out) == set()


def test_still_owns_a_directory_made_inside_the_workdir() -> None:
    out = fixed("FROM debian:12\nWORKDIR /srv/app\nRUN mkdir -p data\n")
    assert "chown 10001:10001 /srv/app /srv/app/data" in out


def test_a_file_copied_into_the_root_directory_keeps_root_ownership() -> None:
    out = fixed('FROM debian:bullseye\nCOPY a.sh /entrypoint.sh\nENTRYPOINT ["/entrypoint.sh"]\n')
    assert "COPY a.sh /entrypoint.sh" in out


def test_windows_image_outside_the_table_gets_container_user_and_no_posix_block() -> None:
    out = fixed("FROM stefanscherer/node-windows:10\nVOLUME C:/code\n")
    assert "USER ContainerUser" in out and "RUN" not in out and "/C:" not in out


def test_a_windows_path_is_evidence_of_a_windows_image() -> None:
    analysis = check(b"FROM mycorp/base\nWORKDIR C:\\\\app\n", Settings())
    assert analysis.family == "windows"


def test_dockremap_is_not_an_application_user_to_switch_to() -> None:
    out = fixed(
        "FROM alpine:3.20\nRUN addgroup -S dockremap && adduser -S -G dockremap dockremap\n"
    )
    assert "USER dockremap" not in out and "USER 10001:10001" in out


def test_dind_needs_root_and_names_the_rootless_variant() -> None:
    analysis = check(b"FROM docker:29-dind\n", Settings())
    assert analysis.verdict is Verdict.NEEDS_ROOT
    assert "dind-rootless" in analysis.reason


def test_docker_cli_image_is_alpine() -> None:
    assert check(b"FROM docker:29-cli\n", Settings()).family == "alpine"


def test_server_started_by_a_wrapper_script_is_root_by_design() -> None:
    analysis = check(
        b"FROM centos:7\nRUN yum -y install httpd\nCOPY run-httpd.sh /run-httpd.sh\n"
        b'CMD ["/run-httpd.sh"]\n',
        Settings(),
    )
    assert analysis.verdict is Verdict.ROOT_BY_DESIGN and "httpd" in analysis.reason


def test_entrypoint_script_that_starts_nginx_is_root_by_design() -> None:
    files = {"start.sh": b"#!/bin/sh\nexec nginx -g 'daemon off;'\n"}
    analysis = check(
        b'FROM debian:12\nCOPY start.sh /usr/local/bin/start.sh\nCMD ["start.sh"]\n',
        Settings(),
        context=files.get,
    )
    assert analysis.verdict is Verdict.ROOT_BY_DESIGN


def test_a_client_package_is_not_a_server() -> None:
    analysis = check(
        b'FROM debian:12\nRUN apt-get install -y bind9-dnsutils openssh-client\nCMD ["/run.sh"]\n',
        Settings(),
    )
    assert analysis.verdict is Verdict.ROOT


def test_a_variable_in_the_tag_still_finds_the_image_by_name() -> None:
    analysis = check(
        b"ARG IMAGE_ARCH\nFROM public.ecr.aws/lambda/python:3.12-$IMAGE_ARCH\n", Settings()
    )
    assert analysis.verdict is Verdict.ROOT and analysis.family == "rhel-minimal"


def test_a_variable_in_the_name_is_unknown() -> None:
    analysis = check(b"ARG BASE\nFROM ${BASE}\n", Settings())
    assert analysis.verdict is Verdict.UNKNOWN


def test_arch_prefixed_official_image_is_known() -> None:
    assert check(b"FROM amd64/almalinux:9\n", Settings()).family == "rhel"


def test_relative_volume_with_a_colon_is_not_made_a_directory() -> None:
    out = fixed("FROM debian:12\nWORKDIR /app\nVOLUME ./app/main.py:/main.py\nRUN true\n")
    assert "main.py:" not in out.split("VOLUME")[0]


def test_onbuild_run_triggers_still_run_as_root_in_child_builds() -> None:
    out = fixed(
        "FROM python:3.12\nRUN pip install -U pip\nONBUILD COPY r.txt /app/\n"
        "ONBUILD RUN pip install -r /app/r.txt\n"
    )
    lines = out.splitlines()
    root = lines.index("ONBUILD USER root")
    assert lines[root + 1] == "ONBUILD COPY r.txt /app/"
    assert lines[-1] == "ONBUILD USER 10001:10001"
    assert lines.index("USER 10001:10001") < root
