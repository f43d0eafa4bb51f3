"""docker-bake files, HCL and JSON: each target that builds, with what it inherits, and a broken
file read as far as it goes."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fixuser.project.bake import parse_bake_hcl
from testing.context import DOCKERFILE, line, repo, where


def test_bake_inheritance_templates_groups_and_variables(tmp_path: Path) -> None:
    files = {
        "docker-bake.hcl": """\
            variable "STAGE" {
              default = "release"
            }
            // a template other targets inherit from, never built by itself
            target "_common" {
              context = "src"
              args = {
                VERSION = "1.0" # a map is not a build setting
              }
            }
            target "app" {
              inherits = ["_common"]
              dockerfile = "app.Dockerfile"
              target = "${STAGE}"
            }
            /* a block comment
               target "commented" { context = "nope" } */
            target "base" { context = "base" }
            target "child" {
              inherits = ["base"]
              target = "child"
              labels = {
                "org.opencontainers.image.description" = <<EOT
            A heredoc with "quotes" and braces }
            EOT
              }
            }
            target "tagged" {
              context = "tagged"
              tags = ["${REGISTRY}/x"]
              target = "${UNKNOWN}"
            }
            group "default" {
              targets = ["app", "base", "child", "tagged"]
            }
        """,
        "docker-bake.json": """\
            {
              "target": {
                "json": {
                  "context": "json",
                  "target": "from-json"
                }
              }
            }
        """,
        **{f"{d}/Dockerfile": DOCKERFILE for d in ("base", "json", "tagged")},
        "src/app.Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    bake = "docker-bake.hcl"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("src/app.Dockerfile", "release", where(files, bake, 'target = "${STAGE}"')),
        ("base/Dockerfile", None, where(files, bake, 'target "base"')),
        ("base/Dockerfile", "child", where(files, bake, 'target = "child"')),
        ("json/Dockerfile", "from-json", where(files, "docker-bake.json", '"target": "from')),
    ]
    assert [n.line for n in context.notes] == [line(textwrap.dedent(files[bake]), "${UNKNOWN}")]


def test_bake_hcl_reads_targets_groups_and_variables_tolerantly() -> None:
    text = (
        'variable "TAG" { default = "v1" }\n'  # 1
        "# comment\n"  # 2
        'target "a" { context = "a" }\n'  # 3
        'target "b" {\n'  # 4
        '  inherits = ["a", "c"]\n'  # 5
        '  target = "${TAG}"\n'  # 6
        '  platforms = split(",", PLATFORMS)\n'  # 7
        '  description = <<-EOT\n    } "\n  EOT\n'  # 8-10
        '  dockerfile = "b.Dockerfile"\n'  # 11
        "}\n"  # 12
        'group "default" { targets = ["b"] }\n'  # 13
    )
    bake = parse_bake_hcl(text)
    assert bake.problems == ()
    assert set(bake.targets) == {"a", "b"}
    assert bake.targets["a"].attributes == {"context": ("a", 3)}
    assert bake.targets["b"].inherits == ("a", "c")
    assert bake.targets["b"].attributes["dockerfile"] == ("b.Dockerfile", 11)
    assert bake.targets["b"].attributes["platforms"] == (None, 7)
    assert bake.effective("b")["context"] == ("a", 3)
    assert bake.interpolate(bake.effective("b")["target"][0]) == "v1"
    assert bake.interpolate("${OTHER}") is None
    assert bake.groups == {"b"}


def test_bake_hcl_that_is_broken_is_a_problem_not_a_crash() -> None:
    bake = parse_bake_hcl('target "a" {\n  context = "unterminated\n}\ntarget "b" {')
    assert bake.problems == ((2, "an unterminated string, read up to there"),)
