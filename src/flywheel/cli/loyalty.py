"""`flywheel points …`, `flywheel loyalty …`, `flywheel referral …`: parse, pass the gate, call, print."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, parse_instant, state

points_app = typer.Typer(help="Points (积分): a double-entry ledger that customers earn and spend.", no_args_is_help=True)
loyalty_app = typer.Typer(help="Loyalty rules, growth value (成长值) and member levels.", no_args_is_help=True)
referral_app = typer.Typer(help="Referral fission (裂变) and assist campaigns (助力).", no_args_is_help=True)

AT = Annotated[Optional[str], typer.Option("--at", help="Business time (ISO; merchant time zone if none). Default: now.")]
KEY = Annotated[Optional[str], typer.Option("--key", help="Idempotency key: a retry with the same key and request "
                                            "returns the first result. Default: derived from --order for order "
                                            "earns, else a fresh one.")]
REASON = Annotated[Optional[str], typer.Option("--reason", help="Why (kept in the ledger and the audit entry).")]


def _at(ctx: typer.Context, text: str | None) -> dt.datetime:
    if text is not None and len(text) <= 10:
        from flywheel.errors import InputError

        raise InputError(f"--at: {text!r}: give a time (e.g. {text}T12:00), not only a date")
    return parse_instant(text, state(ctx).settings.tz, "--at") or dt.datetime.now(dt.timezone.utc)


@contextlib.contextmanager
def writing(ctx: typer.Context, command: str):
    """The gate of a write: writers queue on a lock file (fair, no polling) and then on the warehouse."""
    import fcntl

    from flywheel.loyalty.journal import journal_path
    from flywheel.privacy import Gate
    from flywheel.warehouse import open_when_free

    settings = state(ctx).settings
    lock_file = journal_path(settings).with_suffix(".lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open_when_free(settings, wait=120.0) as wh, Gate.open(settings, wh, command) as gate:
            yield gate


def _print_write(ctx: typer.Context, result: dict) -> None:
    if state(ctx).json:
        emit(result)
    elif result["status"] == "refused":
        out.print(f"refused: {result['reason']} — {result.get('message') or ''}")
    else:
        out.print(f"{result['status']}: transaction {result['transaction_id']} · available {result['available']} · "
                  f"pending {result['pending']} · debt {result['debt']}")
    if result["status"] == "refused":
        raise typer.Exit(1)


@points_app.command("earn")
def earn_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                 points: Annotated[Optional[int], typer.Option("--points", help="Points to issue.")] = None,
                 order: Annotated[Optional[str], typer.Option("--order", help="Order id the points are for.")] = None,
                 paid: Annotated[Optional[str], typer.Option("--paid", help="Amount paid for the order (CNY, e.g. "
                                                             "109.00); points follow the earning rules.")] = None,
                 expires: Annotated[Optional[str], typer.Option("--expires", help="Expiry (ISO). Default: the rules'.")] = None,
                 pending_days: Annotated[Optional[int], typer.Option("--pending-days", help="Return window before the "
                                                                     "points become spendable. Default: the rules'.")] = None,
                 at: AT = None, key: KEY = None, reason: REASON = None) -> None:
    """Issue points to a person: a lot with its own expiry."""
    from flywheel.errors import InputError
    from flywheel.loyalty.points import cents, write

    if points is None and (order is None or paid is None):
        raise InputError("points earn: give --points N, or --order ID with --paid AMOUNT")
    if points is not None and points <= 0:
        raise InputError(f"--points: {points} must be > 0")
    when = _at(ctx, at)
    expiry = parse_instant(expires, state(ctx).settings.tz, "--expires") if expires else None
    with writing(ctx, "points earn") as gate:
        result = write(gate, "earn", person, at=when, key=key, points=points, order=order,
                       paid_cents=cents(paid, "--paid") if paid else None, expires_at=expiry,
                       pending_days=pending_days, reason=reason)
    _print_write(ctx, result)


@points_app.command("redeem")
def redeem_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   points: Annotated[int, typer.Option("--points", help="Points to spend.")],
                   order: Annotated[Optional[str], typer.Option("--order", help="Order the points pay for (its refund "
                                                                "returns them).")] = None,
                   at: AT = None, key: KEY = None, reason: REASON = None) -> None:
    """Spend a person's points, the earliest-expiring first; refused if not enough are available."""
    from flywheel.errors import InputError
    from flywheel.loyalty.points import write

    if points <= 0:
        raise InputError(f"--points: {points} must be > 0")
    with writing(ctx, "points redeem") as gate:
        result = write(gate, "redeem", person, at=_at(ctx, at), key=key, points=points, order=order, reason=reason)
    _print_write(ctx, result)


@points_app.command("refund")
def refund_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   order: Annotated[str, typer.Option("--order", help="Order id.")],
                   amount: Annotated[str, typer.Option("--amount", help="This refund's amount (CNY); the ledger "
                                                       "keeps the order's cumulative refunded total.")],
                   paid: Annotated[Optional[str], typer.Option("--paid", help="The order's cash paid, for an order "
                                                               "that only spent points here.")] = None,
                   at: AT = None, key: KEY = None, reason: REASON = None) -> None:
    """Claw back the points a refunded order earned (debt for what was already spent) and return the points it spent."""
    from flywheel.loyalty.points import cents, write

    with writing(ctx, "points refund") as gate:
        result = write(gate, "refund", person, at=_at(ctx, at), key=key,
                       order=order, amount_cents=cents(amount, "--amount"),
                       paid_cents=cents(paid, "--paid") if paid else None, reason=reason)
    _print_write(ctx, result)


def _sweep(ctx: typer.Context, job: str, at: str | None) -> None:
    from flywheel.loyalty.points import sweep

    with writing(ctx, f"points {job}") as gate:
        outcome = sweep(gate, job, _at(ctx, at))
    if state(ctx).json:
        emit(outcome)
    else:
        out.print(f"{job}: {outcome['transactions']:,} transactions, {outcome['points']:,} points")


@points_app.command("expire")
def expire_command(ctx: typer.Context, at: AT = None) -> None:
    """Expire every lot past its expiry (one transaction per lot; a rerun adds nothing)."""
    _sweep(ctx, "expire", at)


@points_app.command("resolve")
def resolve_command(ctx: typer.Context, at: AT = None) -> None:
    """End the return windows that are over: pending points become available (repaying debt first)."""
    _sweep(ctx, "resolve", at)


@points_app.command("balance")
def balance_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """A person's available, pending and debt points, with their open lots (masked by role)."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.points import balance

    with acting(ctx, "points balance") as gate:
        shown = balance(gate, person)
    if state(ctx).json:
        emit(shown)
        return
    out.print(f"{shown['person_id'] or '[withheld]'}: available {shown['available']} · pending {shown['pending']} · "
              f"debt {shown['debt']}")
    t = Table()
    for c in ("lot", "order", "remaining", "pending", "expires"):
        t.add_column(c)
    for lot in shown["lots"]:
        t.add_row(str(lot["lot"]), lot["order_id"] or "", str(lot["remaining"]), str(lot["pending"]),
                  (lot["expires_at"] or "never")[:16])
    out.print(t)


@points_app.command("history")
def history_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """Every ledger transaction of a person, oldest first (masked by role)."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.points import balance

    with acting(ctx, "points history") as gate:
        shown = balance(gate, person, history=True)
    if state(ctx).json:
        emit(shown)
        return
    t = Table(title=f"points of {shown['person_id'] or '[withheld]'}")
    for c in ("#", "kind", "at", "points", "available", "pending", "debt", "order", "key"):
        t.add_column(c)
    for r in shown["transactions"]:
        t.add_row(str(r["transaction_id"]), r["kind"], (r["at"] or "")[:16], str(r["points"]), f"{r['available_change']:+}",
                  f"{r['pending_change']:+}", f"{r['debt_change']:+}", r["order_id"] or "", r["key"] or "")
    out.print(t)


@points_app.command("verify")
def verify_command(ctx: typer.Context) -> None:
    """Replay the journal and check every invariant; exit 1 when one fails."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.points import verify_ledger

    with acting(ctx, "points verify", warehouse=False) as gate:
        report = verify_ledger(gate)
    if state(ctx).json:
        emit(report)
    else:
        out.print(f"{'ok' if report['ok'] else 'FAILED'}: {report['transactions']:,} transactions, "
                  f"{report['entries']:,} entries, {report['persons']:,} persons, {report['lots']:,} lots; "
                  f"{len(report['checked'])} checks")
        for name, rows in report["failures"].items():
            out.print(f"  {name}: {rows[:3]}")
    if not report["ok"]:
        raise typer.Exit(1)


@loyalty_app.command("apply")
def apply_command(ctx: typer.Context,
                  rules: Annotated[Optional[Path], typer.Argument(help="Loyalty rules YAML (docs/loyalty.md).")] = None,
                  example: Annotated[bool, typer.Option("--example", help="The complete example rules Flywheel "
                                                        "ships (loyalty/examples/rules.yaml).")] = False) -> None:
    """Check and store the loyalty rules: earning, growth value and levels, tasks, referral, assist campaigns."""
    from flywheel.errors import InputError
    from flywheel.loyalty.program import apply_rules, example_rules_file

    if (rules is None) == (not example):
        raise InputError("give a rules file, or --example (not both)")
    with writing(ctx, "loyalty apply") as gate:
        outcome = apply_rules(gate, rules or example_rules_file())
    if state(ctx).json:
        emit(outcome)
    else:
        out.print(f"rules {outcome['status']} (version {outcome['version']}, {outcome['sha256'][:12]})")


@loyalty_app.command("run")
def run_command(ctx: typer.Context, now: Annotated[Optional[str], typer.Option(
        "--now", help="The clock (ISO; merchant time zone if none). Default: now.")] = None) -> None:
    """Apply the stored rules to the ingested orders and refunds (idempotent), settle windows and
    expiries, and publish every member's points and level to the warehouse."""
    from flywheel.loyalty.run import run

    clock = parse_instant(now, state(ctx).settings.tz, "--now") or dt.datetime.now(dt.timezone.utc)
    with writing(ctx, "loyalty run") as gate:
        outcome = run(gate, clock)
    if state(ctx).json:
        emit(outcome)
        return
    out.print(f"{outcome['orders']:,} orders: {outcome['transactions']:,} new ledger transactions "
              f"({outcome['refused']:,} refused); resolved {outcome['resolved']['points']:,} pending points, expired "
              f"{outcome['expired']['points']:,}; {outcome['seconds']['total']:.1f} s")
    out.print("members per level: " + ", ".join(f"{k} {v:,}" for k, v in outcome["members"].items()))


@loyalty_app.command("level")
def level_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")], at: AT = None) -> None:
    """A person's level, growth value, level period and next review (masked by role)."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.program import person_level

    with acting(ctx, "loyalty level") as gate:
        shown = person_level(gate, person, _at(ctx, at))
    if state(ctx).json:
        emit(shown)
        return
    out.print(f"{shown['person_id'] or '[withheld]'}: {shown['level']} · growth value {shown['growth_value']} · "
              f"since {(shown['since'] or '')[:10]} · review {(shown['review_at'] or '')[:10]}")


@loyalty_app.command("stats")
def stats_command(ctx: typer.Context, at: AT = None) -> None:
    """Members per level, points liability in CNY, breakage, points expiring soon (aggregates: any role)."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.program import loyalty_stats

    with acting(ctx, "loyalty stats", warehouse=False) as gate:
        stats = loyalty_stats(gate, _at(ctx, at))
    if state(ctx).json:
        emit(stats)
        return
    out.print("members per level: " + ", ".join(f"{k} {v:,}" for k, v in stats["members_per_level"].items()))
    p = stats["points"]
    out.print(f"points outstanding {p['outstanding']:,} (liability {stats['liability_cny']} CNY) · issued {p['issued']:,} · "
              f"redeemed {p['redeemed']:,} · expired {p['expired']:,} · clawed back {p['clawed_back']:,} · "
              f"breakage {stats['breakage']:.1%} · expiring in 30 days {p['expiring_30d']:,}")


@loyalty_app.command("task")
def task_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                 task: Annotated[str, typer.Option("--task", help="review, share_order, check_in or complete_profile.")],
                 media: Annotated[Optional[str], typer.Option("--media", help="photo or video (a review with media earns more).")] = None,
                 at: AT = None, key: KEY = None) -> None:
    """Reward a task (points and growth value) under its per-person daily cap."""
    from flywheel.loyalty.program import record_task

    with writing(ctx, "loyalty task") as gate:
        outcome = record_task(gate, person, task, _at(ctx, at), key, media)
    if state(ctx).json:
        emit(outcome)
    else:
        out.print(f"{task}: {outcome['status']}" + (f" (+{outcome['points']} points, +{outcome['growth']} growth)"
                                                    if outcome["status"] == "accepted" else ""))
    if outcome["status"] not in ("accepted", "exists"):
        raise typer.Exit(1)


@referral_app.command("assist")
def assist_command(ctx: typer.Context, helper: Annotated[str, typer.Argument(help="Person who helps.")],
                   initiator: Annotated[str, typer.Argument(help="Person who asked for help.")],
                   campaign: Annotated[str, typer.Option("--campaign", help="Assist campaign of the rules file.")],
                   channel: Annotated[str, typer.Option("--channel", help="Where the assist came from: mini_program, "
                                                        "wecom, app, web or wechat_link.")] = "mini_program",
                   at: AT = None) -> None:
    """Count one assist (助力): one per helper per initiator, a daily cap per helper, prizes at thresholds."""
    from flywheel.loyalty.program import record_assist

    with writing(ctx, "referral assist") as gate:
        outcome = record_assist(gate, helper, initiator, campaign, _at(ctx, at), channel)
    if state(ctx).json:
        emit(outcome)
    else:
        out.print(f"{outcome['status']}" + (f": {outcome['assists']} assists, unlocked {outcome['unlocked'] or 'nothing yet'}"
                                            if outcome["status"] == "accepted" else ""))


@referral_app.command("run")
def referral_run_command(ctx: typer.Context, now: Annotated[Optional[str], typer.Option(
        "--now", help="The clock (ISO; merchant time zone if none). Default: now.")] = None) -> None:
    """Decide every accepted invite (bound, or refused with its fraud or rule reason), and issue the
    two-sided coupons whose review period has passed (idempotent)."""
    from flywheel.loyalty.program import referral_run

    clock = parse_instant(now, state(ctx).settings.tz, "--now") or dt.datetime.now(dt.timezone.utc)
    with writing(ctx, "referral run") as gate:
        outcome = referral_run(gate, clock)
    if state(ctx).json:
        emit(outcome)
        return
    out.print(f"{outcome['acceptances']:,} accepted invites: {outcome['bound']:,} bound; refused "
              + (", ".join(f"{k} {v:,}" for k, v in outcome["refused"].items()) or "none")
              + f"; {outcome['coupons_issued']:,} coupons issued")


@referral_app.command("stats")
def referral_stats_command(ctx: typer.Context, top: Annotated[int, typer.Option(help="Trees and KOCs shown.")] = 10) -> None:
    """K per generation, depth, referred share, trees with structural virality, visits per share, KOCs."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.referral import stats

    with acting(ctx, "referral stats") as gate:
        shown = stats(gate, top)
    if state(ctx).json:
        emit(shown)
        return
    t = Table(title=f"referral generations (depth {shown['depth']}, referred share {shown['referred_share']:.1%}, "
                    f"{shown['visits_per_share']:.2f} visits per share)")
    for c in ("generation", "members", "invites", "conversions", "K"):
        t.add_column(c, justify="right")
    for g in shown["generations"]:
        t.add_row(str(g["generation"]), f"{g['members']:,}", f"{g['invites']:,}", f"{g['conversions']:,}", f"{g['k']:.3f}")
    out.print(t)


@referral_app.command("code")
def code_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """A person's invite code (stable and unguessable; share links carry it as their share id)."""
    from flywheel.cli.common import acting
    from flywheel.loyalty.program import person_invite_code

    with acting(ctx, "referral code") as gate:
        shown = person_invite_code(gate, person)
    if state(ctx).json:
        emit(shown)
    else:
        out.print(shown["code"])
