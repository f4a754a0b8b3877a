"""The `flywheel` command line: parse, call a capability, print. No business rules here.

    app     the Typer command tree (tests drive it with typer.testing.CliRunner)
    main    the console-script entry point: errors become one line on stderr
    State   the acting settings of a command (`state(ctx)`)
"""

from flywheel.cli.tree import app, main
from flywheel.cli.common import State, state

__all__ = ["State", "app", "main", "state"]
