"""fixuser's one error type and its exit codes.

An expected failure (input fixuser cannot read, a setting it cannot use, a repository it refuses
to touch, an engine that is not there) is a ``FixuserError``: ``main`` prints its message as one
line and exits with its ``exit_code``. Anything else that reaches ``main`` is a bug: its
traceback, a line asking for a report, and ``EXIT_BUG``, never ``EXIT_FINDING``, which a CI gate
reads as "found root".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDING = 1  # check: a Dockerfile runs as root; fix --check: a file would change
EXIT_ERROR = 2  # refused, or input fixuser cannot use
EXIT_BUG = 3  # an exception nothing expected
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it


class FixuserError(Exception):
    """An expected failure: ``str(error)`` is one line, ``exit_code`` the code it exits with.

    No ``__init__`` of its own, so that a subclass may also be an ``OSError`` or a ``ValueError``
    (where code catches it by that base) and keep that base's arguments."""

    exit_code: int = EXIT_ERROR
