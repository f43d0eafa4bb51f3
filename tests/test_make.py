"""Makefiles and justfiles: the build commands of their recipes, after each tool's own
variables are expanded."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fixuser.model import Target
from fixuser.project.make import make_expand
from testing.context import DOCKERFILE, line, repo, where


def test_makefile_variables_continuations_and_its_own_directory(tmp_path: Path) -> None:
    files = {
        "images/Makefile": """\
            ENGINE := docker
            FILE = $(DIR)/Dockerfile
            DIR = api
            STAGE ?= prod
            STAGE ?= ignored
            .PHONY: build
            build:
            \t@$(ENGINE) build \\
            \t\t--target $(STAGE) \\
            \t\t-f $(FILE) .
            test:
            \tcd $(DIR) && $(ENGINE) build --target test .
            \t$(ENGINE) build --target beside .
            shell:
            \t$(ENGINE) build -f $(shell find . -name Dockerfile) .
        """,
        "justfile": """\
            stage := "dev"
            build:
                docker build --target {{stage}} -f images/api/Dockerfile images/api
            release version:
                docker build --target {{version}} .
        """,
        "images/api/Dockerfile": DOCKERFILE,
        "images/Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    mk = "images/Makefile"
    # each recipe line is a shell of its own: the cd above it is gone
    assert context.targets("images/Dockerfile") == [Target("beside", where(files, mk, "beside"))]
    assert context.targets("images/api/Dockerfile") == [
        Target("prod", where(files, mk, "build \\")),
        Target("test", where(files, mk, "cd $(DIR)")),
        Target("dev", where(files, "justfile", "{{stage}}")),
    ]
    assert [n.line for n in context.notes] == [
        line(textwrap.dedent(files[mk]), "$(shell"),
        line(textwrap.dedent(files["justfile"]), "{{version}}"),
    ]


def test_make_expands_its_own_variables_and_leaves_the_rest() -> None:
    variables = {"A": "$(B)/x", "B": "b", "DOCKER": "docker"}
    assert make_expand("$(DOCKER) build -f $(A) ${B} $$HOME $(shell pwd)", variables) == (
        "docker build -f b/x b $HOME $(shell pwd)"
    )


def test_a_build_that_exports_files_ships_no_stage(tmp_path: Path) -> None:
    # `--output type=local` (or tar, or a bare destination) writes the stage's files out: no
    # container runs from it, so it is not a stage that ships. An image build still is.
    files = {
        "Makefile": """\
            dist:
            \tdocker buildx build --target export --output type=local,dest=dist .
            \tdocker build --target bundle -o out .
            \tdocker build --target archive --output type=tar,dest=out.tar .
            image:
            \tdocker buildx build --target prod --output type=image,name=app .
        """,
        "Dockerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    assert context.targets("Dockerfile") == [Target("prod", where(files, "Makefile", "type=image"))]
