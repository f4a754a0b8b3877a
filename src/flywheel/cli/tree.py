"""The `flywheel` command tree and its entry point.

Every command module is imported here, so each must stay light at import time: heavy libraries
(Ibis, pandas, FastAPI, Splink, Spark) are imported inside the command that uses them.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from flywheel import __version__
from flywheel.cli import (
    attribution,
    audit,
    budget,
    channels,
    console,
    core,
    delivery,
    experiment,
    identity,
    journey,
    loyalty,
    privacy,
    segment,
    server,
    value,
)
from flywheel.cli import clv as clv_commands
from flywheel.cli.common import install_global_options, with_global_options
from flywheel.cli.failures import one_line

app = typer.Typer(help="Flywheel: turn multi-channel e-commerce data into customer assets.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        print(f"flywheel {__version__}")
        raise typer.Exit()


def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    """Global options may also be given after the subcommand."""


app.callback()(with_global_options(_root, leaf=False))
app.command()(core.generate)
app.command()(core.ingest)
app.command()(core.demo)
app.command()(core.run)
app.command()(core.report)
app.command()(server.serve)
app.add_typer(server.sources_app, name="sources")
app.add_typer(server.events_app, name="events")
app.add_typer(identity.identity_app, name="identity")
app.add_typer(clv_commands.clv_app, name="clv")
app.add_typer(value.value_app, name="value")
app.add_typer(privacy.privacy_app, name="privacy")
app.add_typer(privacy.consent_app, name="consent")
app.add_typer(privacy.person_app, name="person")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(segment.segment_app, name="segment")
app.add_typer(journey.journey_app, name="journey")
app.add_typer(delivery.delivery_app, name="delivery")
app.add_typer(loyalty.points_app, name="points")
app.add_typer(loyalty.loyalty_app, name="loyalty")
app.add_typer(loyalty.referral_app, name="referral")
app.add_typer(attribution.attribution_app, name="attribution")
app.add_typer(channels.channels_app, name="channels")
app.add_typer(experiment.experiment_app, name="experiment")
app.add_typer(budget.budget_app, name="budget")
app.add_typer(console.keys_app, name="keys")
app.add_typer(console.insight_app, name="insight")
install_global_options(app)


def main() -> None:
    """Run the CLI: a user's mistake is one line on stderr and exit code 1, never a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("flywheel: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence; `one_line` decides what is whose fault
        message, code = one_line(exc)
        if "--verbose" in sys.argv[1:] or "-v" in sys.argv[1:]:
            traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.write(f"flywheel: {message}\n")
        sys.exit(code)
