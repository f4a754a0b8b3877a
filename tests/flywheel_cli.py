"""Running `flywheel …` in the test's process, as a user's shell would: exit code, stdout, stderr."""

from __future__ import annotations

import sys

from flywheel.cli import main
from flywheel.config import load_settings


def cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["flywheel", *args])
    load_settings.cache_clear()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
