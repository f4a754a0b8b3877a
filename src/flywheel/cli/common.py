"""What every `flywheel` command shares: the global options, the acting state, output and progress.

The global options (`--db`, `--engine`, `--json`, `--role`, `--verbose`) are declared once, here, and
`with_global_options` adds them to the root and to every command of the tree, so they work before
and after the subcommand (`flywheel --json ingest f.csv` and `flywheel ingest f.csv --json` are the
same). A value given after the subcommand wins over one given before it.

This module stays light (no Rich, no warehouse) so `flywheel --help` starts fast.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer

if TYPE_CHECKING:
    from flywheel.config import Settings

GIVEN = "flywheel.given"
"""Key of the root context's `meta` where the global options seen so far are collected."""
BASE = "flywheel.base"
"""A `State` the caller passed as the root's `obj` (tests, embedding): the options apply over it."""

ROLE_HELP = ("Acting role: owner, privacy_officer, analyst, marketer, service, auditor. "
             "Env FLYWHEEL_ROLE; default analyst.")
GLOBAL_OPTIONS: dict[str, Any] = {
    "db": Annotated[Optional[Path], typer.Option(
        "--db", help="Warehouse file (DuckDB) or directory (Spark). Env FLYWHEEL_DB.", show_default=False)],
    "engine": Annotated[Optional[str], typer.Option(
        "--engine", help="duckdb or spark. Env FLYWHEEL_ENGINE.", show_default=False)],
    "json": Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout, nothing else.")],
    "role": Annotated[Optional[str], typer.Option("--role", help=ROLE_HELP, show_default=False)],
    "verbose": Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")],
}
PARAM_PREFIX = "_global_"


@dataclass
class State:
    """The acting settings of one command, built once its own options are parsed."""

    settings: "Settings"
    json: bool
    db_given: bool
    verbose: bool = False


def state(ctx: typer.Context) -> State:
    """The state of the running command (see `with_global_options`)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = _build_state(root.meta.get(GIVEN, {}), root.meta.get(BASE))
    return root.obj


def _build_state(given: dict[str, Any], base: State | None) -> State:
    from flywheel.config import load_settings
    from flywheel.privacy.roles import role_named

    verbose = bool(given.get("verbose")) or bool(base and base.verbose)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    settings = (base.settings if base else load_settings()).with_overrides(
        db_path=given.get("db"), engine=given.get("engine"), role=given.get("role"))
    role_named(settings.role)
    return State(settings, bool(given.get("json")) or bool(base and base.json),
                 given.get("db") is not None or bool(base and base.db_given), verbose)


def _remember(ctx: typer.Context, values: dict[str, Any]) -> None:
    root = ctx.find_root()
    given = root.meta.setdefault(GIVEN, {})
    fresh = {name: value for name, value in values.items() if value is not None and value is not False}
    if fresh:
        given.update(fresh)
        if isinstance(root.obj, State) and BASE not in root.meta:
            root.meta[BASE] = root.obj
        root.obj = None


def with_global_options(callback: Callable, *, leaf: bool) -> Callable:
    """`callback` with the global options appended to its parameters.

    Typer reads the signature, so the options appear in every command's `--help`; the wrapper takes
    them out of the call, remembers them on the root context, and (for a command, not a group)
    builds the `State` before the command body runs so a bad role or engine fails first.
    """
    signature = inspect.signature(callback, eval_str=True)
    params = list(signature.parameters.values())
    ctx_name = next((p.name for p in params if p.annotation is typer.Context), None)
    if ctx_name is None:
        params.insert(0, inspect.Parameter("_global_ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                           annotation=typer.Context))
    own = _own_options(params)
    extra = [inspect.Parameter(PARAM_PREFIX + name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                               default=False if name in ("json", "verbose") else None)
             for name, annotation in GLOBAL_OPTIONS.items() if f"--{name}" not in own]

    @functools.wraps(callback)
    def wrapper(**kwargs):
        ctx = kwargs[ctx_name] if ctx_name else kwargs.pop("_global_ctx")
        _remember(ctx, {name: kwargs.pop(PARAM_PREFIX + name, None) for name in GLOBAL_OPTIONS
                        if f"--{name}" not in own})
        if leaf:
            state(ctx)
        return callback(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=params + extra)
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    del wrapper.__wrapped__
    return wrapper


def _own_options(params: list[inspect.Parameter]) -> set[str]:
    """Option names a command declares itself: a global option of the same name is then only taken
    before the subcommand (`flywheel --role owner keys create --role analyst`)."""
    names = set()
    for p in params:
        for meta in getattr(p.annotation, "__metadata__", ()):
            decls = [getattr(meta, "default", None), *(getattr(meta, "param_decls", ()) or ())]
            names.update(d for d in decls if isinstance(d, str) and d.startswith("--"))
    return names


def install_global_options(app: typer.Typer) -> None:
    """Give every command of `app`'s tree (groups included) the global options, once."""
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_flywheel_globals", False):
            info.callback = with_global_options(info.callback, leaf=True)
            info.callback._flywheel_globals = True
    for group in app.registered_groups:
        install_global_options(group.typer_instance)


def emit(payload: Any) -> None:
    """One JSON document on stdout (the `--json` contract: nothing else goes there)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


class _LazyConsole:
    """A Rich console made on first use: importing Rich costs ~0.1 s that `--help` need not pay."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console = None

    def __getattr__(self, name: str):
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


def Table(*args, **kwargs):  # noqa: N802 - stands in for the class, imported on first use
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def progress(current: State):
    """Progress bars on stderr, hidden under `--json`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=current.json, transient=False)


def stage_bars(bar):
    """A pipeline progress callback drawing one bar per stage on `bar` (a `progress(...)`)."""
    tasks: dict[str, int] = {}

    def update(stage: str, description: str | None, done: int | None, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(description or stage, total=total)
        task = tasks[stage]
        if description is None:
            shown = next(t for t in bar.tasks if t.id == task)
            final = shown.total or shown.completed or 1
            bar.update(task, total=final, completed=final)
        elif done is None:
            bar.update(task, description=description)
        else:
            bar.update(task, description=description, total=total, completed=done)

    return update


def parse_instant(text: str | None, tz, option: str = "--now"):
    """An ISO time (merchant time zone when it has none) or a date (the end of that merchant day), as UTC."""
    import datetime as dt

    from flywheel.errors import InputError

    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if len(text) <= 10:
        value = value + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(dt.timezone.utc)


def account_arg(text: str) -> tuple[str, str]:
    """`SOURCE:ACCOUNT_KEY` → (source, account_key)."""
    source, sep, key = text.partition(":")
    if not sep or not source or not key:
        raise typer.BadParameter(f"{text!r}: write an account as SOURCE:ACCOUNT_KEY, e.g. taobao:tb_小明")
    return source, key


def open_warehouse(ctx: typer.Context):
    from flywheel.warehouse import Warehouse

    return Warehouse.open(state(ctx).settings)


@contextlib.contextmanager
def acting(ctx: typer.Context, command: str, warehouse: bool = True):
    """The gate of one command, on the warehouse unless told otherwise. The capability called with it
    checks the role, discloses and audits; closing the gate records the unmasked reads it made."""
    from flywheel.privacy import Gate

    settings = state(ctx).settings
    if not warehouse:
        with Gate.open(settings, None, command) as gate:
            yield gate
        return
    from flywheel.warehouse import Warehouse

    with Warehouse.open(settings) as wh, Gate.open(settings, wh, command) as gate:
        yield gate
