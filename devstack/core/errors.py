"""Errors a user can act on.

Every failure devstack expects (bad input, a missing tool, a busy port) is a `DevstackError` carrying the cause
and the fix; the CLI edge prints it as one line and exits with its code, never a traceback.
"""

from __future__ import annotations


class DevstackError(Exception):
    """A failure with a cause the user can read and a fix they can apply."""

    exit_code = 1

    def __init__(self, cause: str, fix: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def one_line(self) -> str:
        return f"{self.cause} Fix: {self.fix}" if self.fix else self.cause


class UsageError(DevstackError):
    """Bad input: a flag, a profile, an override file, a size. Exit code 2, like argparse."""

    exit_code = 2


class ConfigError(UsageError):
    """A profile or override file that does not validate; names the file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str, fix: str) -> None:
        where = path if line is None else f"{path}:{line}"
        what = f"{where}: {field}: {problem}" if field else f"{where}: {problem}"
        super().__init__(what, fix)
        self.path = path
        self.line = line
        self.field = field


class BudgetTooSmall(UsageError):
    """Even the floors of the selected services do not fit in the budget."""


class BudgetTooLarge(UsageError):
    """A budget above what the Docker engine can give: its containers would be OOM-killed (unless --force)."""


class EnvironmentProblem(DevstackError):
    """Something outside devstack stops it: Docker down, Compose missing, a port taken. Exit code 3."""

    exit_code = 3
