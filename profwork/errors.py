"""The error hierarchy: every failure a user can cause carries its remedy and exit code.

`cli.main` catches `ProfworkError` once and prints one line; nothing else prints or exits.
"""

from __future__ import annotations

CTRL_C_EXIT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class ProfworkError(Exception):
    """A failure the user can fix, with the fix."""

    exit_code: int = 2

    def __init__(self, message: str, remedy: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} ({self.remedy})" if self.remedy else self.message


class TargetError(ProfworkError):
    """The target spec or its parameters are wrong."""


class TargetSetupError(TargetError):
    """The target's setup failed: nothing was profiled (one error, not an empty run)."""

    exit_code = 1


class InputError(ProfworkError):
    """A profile file or run directory given to report/convert cannot be read."""


class MethodError(ProfworkError):
    """A profiler cannot run as asked (an option it refuses, a missing tool)."""


class OutputError(ProfworkError):
    """Standard output cannot be written: a full disk (one line, exit 1) or a closed pipe
    (`profwork report X | head -1`: nothing more to say, exit 141 as for SIGPIPE)."""

    exit_code = 1

    def __init__(self, message: str, remedy: str | None = None, *, closed: bool = False):
        super().__init__(message, remedy, 141 if closed else None)
        self.closed = closed
