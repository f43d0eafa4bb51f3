"""The command line: argparse, lazy dispatch to one module per sub-command, exit codes.

Only the chosen sub-command's module is imported, so ``fixuser --version`` and ``fixuser check``
never pay for GitPython, questionary or the container SDK.
"""

from __future__ import annotations

import argparse
import atexit
import codecs
import errno
import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from fixuser import __version__
from fixuser.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, FixuserError

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("fixuser.commands.check", "report which Dockerfiles run as root (CIS Docker 4.1)"),
    "fix": ("fixuser.commands.fix", "rewrite Dockerfiles to run as a non-root user"),
    "interactive": (
        "fixuser.commands.interactive",
        "pick, review and commit fixes in this repository",
    ),
    "batch": ("fixuser.commands.batch", "fix many repositories and open remediation branches"),
    "batch-report": ("fixuser.commands.batch_report", "merge the reports of sharded batch runs"),
    "verify": ("fixuser.commands.verify", "build before and after the fix and prove the UID"),
    "audit": ("fixuser.commands.audit", "CIS 4.1 audit: the UID of PID 1 in running containers"),
}

ISSUES = "https://github.com/fixuser/fixuser/issues"
# The system's way of saying the run cannot go on here (a full disk, a quota, an I/O error):
# one line, not a bug report.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fixuser",
        description="Make containers run as a non-root user (CIS Docker Benchmark 4.1).",
    )
    parser.add_argument("--version", action="version", version=f"fixuser {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if chosen is not None and name != chosen:
            continue  # the list of commands is only shown when none is chosen
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(command_parser)
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(argv)[0]


def entry() -> NoReturn:
    """The console script and ``python -m fixuser``: main(), then the exit.

    After check and fix the interpreter is left with os._exit once the atexit handlers have
    run and the streams are flushed: its teardown (freeing every module and object one by
    one, ~10 ms after a check over a fleet, 3% of the run) does nothing for them. The
    commands that may leave a thread, child process or temporary file behind (fix --commit
    and --verify, batch, verify, the interactive session) exit the usual way, and so does a
    run under a profiler or tracer (python -m cProfile, trace), which reports at the end.
    """
    escape_paths(sys.stdout)
    code, quick = dispatch(None)
    code = flush(code)
    if quick and sys.gettrace() is None and sys.getprofile() is None:
        atexit._run_exitfuncs()  # what registered itself still runs (coverage saves its data)
        os._exit(flush(code))
    raise SystemExit(code)


def flush(code: int) -> int:
    """Flush the standard streams; the exit code, EXIT_ERROR when the output was lost."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away: nothing more to say
        return code or EXIT_ERROR
    except OSError as e:  # a full disk under `> file`: the report is not all there
        silence_stdout()
        print(f"fixuser: cannot write the output: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    return code


def silence_stdout() -> None:
    """What is still buffered for stdout goes nowhere (the interpreter's last flush would
    fail the same way)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def escape_paths(stream: object) -> None:
    """A file name that is not UTF-8 (decoded with surrogateescape) goes out as its bytes,
    where stdout would otherwise raise UnicodeEncodeError (PYTHONIOENCODING=utf-8, a UTF-8
    locale); what the stream's encoding cannot hold at all is written as a backslash escape."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors=ESCAPE)


def escape_error(error: UnicodeError) -> tuple[str | bytes, int]:
    try:
        return SURROGATEESCAPE(error)
    except UnicodeError:
        return codecs.backslashreplace_errors(error)


SURROGATEESCAPE = codecs.lookup_error("surrogateescape")
ESCAPE = "fixuser-escape"
codecs.register_error(ESCAPE, escape_error)


def dispatch(argv: Sequence[str] | None) -> tuple[int, bool]:
    """The exit code, and whether the process may skip the interpreter's teardown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = chosen_command(argv)
    parser = build_parser(chosen)
    if chosen is None and not argv:
        # `fixuser` alone: the interactive session on a terminal, help otherwise.
        if sys.stdin.isatty() and sys.stdout.isatty():
            argv, chosen = ["interactive"], "interactive"
            parser = build_parser(chosen)
        else:
            parser.print_help()
            print(
                "\nNo terminal: run `fixuser check` to report or `fixuser fix` to rewrite.",
                file=sys.stderr,
            )
            return EXIT_ERROR, False
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR, False
    module = importlib.import_module(COMMANDS[args.command][0])
    quick = bool(getattr(module, "quick_exit", lambda _: False)(args))
    try:
        return int(module.run(args)), quick
    except FixuserError as e:
        # Expected failures are one line; anything else keeps its traceback (a real bug).
        from fixuser.escape import printable

        print(printable(f"fixuser: {e}"), file=sys.stderr)
        return e.exit_code, quick
    except KeyboardInterrupt:
        print("fixuser: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED, False
    except BrokenPipeError:
        # The reader went away (`fixuser check | head`): nothing more to say to it.
        silence_stdout()
        return EXIT_ERROR, False
    except OSError as e:
        if e.errno not in ENVIRONMENT_ERRNOS:
            return bug(), False
        if e.filename is None:  # the output, most likely: what is left of it goes nowhere
            silence_stdout()
        where = f"{e.filename}" if e.filename else "cannot write the output"
        print(f"fixuser: {where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR, False
    except Exception:
        return bug(), False


def bug() -> int:
    """An exception nothing expected: its traceback, and where to report it."""
    import traceback

    traceback.print_exc()
    print(
        f"fixuser {__version__}: this is a bug in fixuser: please report it, with the "
        f"traceback above and the command you ran, at {ISSUES}",
        file=sys.stderr,
    )
    return EXIT_BUG


if __name__ == "__main__":
    entry()
