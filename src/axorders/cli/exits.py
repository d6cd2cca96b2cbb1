"""Exit statuses, and the two errors a command ends with (each one line on stderr)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT = 10.0


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2, nothing sent."""


class Failure(Exception):
    """The venue said no, or the order is not there: one line, exit status 1."""
