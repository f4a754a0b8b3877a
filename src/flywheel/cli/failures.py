"""One line for every failure that reaches the terminal, and whose fault it is.

A `FlywheelError` or an operating-system error (a path that cannot be created, a full disk) is the
user's to fix: its message, exit code 1. Anything else is a bug in Flywheel: one line that says so,
exit code 70 (EX_SOFTWARE), and the traceback only with `--verbose`.
"""

from __future__ import annotations

from flywheel.errors import FlywheelError

BUG = 70


def one_line(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, FlywheelError):
        return _single(str(exc)), 1
    if isinstance(exc, OSError):
        return _single(os_error(exc)), 1
    return (_single(f"unexpected error, a bug in Flywheel ({type(exc).__name__}: {exc}); "
                    "run again with --verbose for the traceback and report it"), BUG)


def os_error(exc: OSError) -> str:
    """`[Errno 13] Permission denied: '/x'` → `/x: permission denied`."""
    reason = (exc.strerror or str(exc)).rstrip(".")
    where = exc.filename if exc.filename is not None else None
    reason = reason[:1].lower() + reason[1:]
    return f"{where}: {reason}" if where else reason


def _single(text: str) -> str:
    return " ".join(text.split())
