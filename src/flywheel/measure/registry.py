"""Experiments in the warehouse: created ones with hashed assignment, and every journey's holdout.

Assignment is deterministic: md5(salt:person_id) read as a fraction of 16⁸, mapped through the
cumulative weights — the same person gets the same variation in every process, on every engine,
with no table lookup. The analysis unit is the assignment unit (the person): a journey experiment
takes each person's first episode (treatment or holdout; the global control group is apart), a
created experiment each person's first recorded exposure. The metric is a GMV order (conversion)
or the amount paid (revenue) within the window after entry or exposure; the covariate for CUPED is
the same metric over the 90 days before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

import ibis
import pyarrow as pa

from flywheel.errors import InputError
from flywheel.measure.experiments import Variation, analyze
from flywheel.measure.touches import DAY, epoch
from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import account_persons

JOURNEY_PREFIX = "journey:"
METRICS = ("conversion", "revenue")
PRE_DAYS = 90
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class Experiment:
    name: str
    variations: tuple[str, ...]
    weights: tuple[float, ...]
    salt: str
    metric: str = "conversion"
    window_days: float = 7.0
    description: str = ""
    source: str = "created"

    def assign(self, person_id: str) -> str:
        """The variation of `person_id` (deterministic, engine-free)."""
        if self.source != "created":
            raise InputError(f"{self.name} is a journey's holdout: a person's group is decided when they enter "
                             "the journey (journey_episodes), not by this hash")
        point = int(hashlib.md5(f"{self.salt}:{person_id}".encode()).hexdigest()[:8], 16) / 16 ** 8
        total = 0.0
        for name, w in zip(self.variations, self.weights):
            total += w
            if point < total:
                return name
        return self.variations[-1]

    def as_dict(self) -> dict:
        return {"name": self.name, "variations": list(self.variations), "weights": list(self.weights),
                "salt": self.salt, "metric": self.metric, "window_days": self.window_days,
                "description": self.description, "source": self.source}


def create_experiment(wh, name: str, variations: list[str], weights: list[float] | None = None,
                      salt: str | None = None, metric: str = "conversion", window_days: float = 7.0,
                      description: str = "", actor: str | None = None) -> Experiment:
    """Store a new experiment; a name is never reused (its assignments would change)."""
    if not _NAME.match(name):
        raise InputError(f"experiment name {name!r}: lower-case letters, digits, _ and -, up to 64")
    if len(variations) < 2 or len(set(variations)) != len(variations) or not all(v.strip() for v in variations):
        raise InputError("--variations needs two or more distinct names, the control first (control,treatment)")
    weights = weights or [1.0] * len(variations)
    if len(weights) != len(variations) or min(weights) <= 0:
        raise InputError(f"--weights needs one positive weight per variation ({len(variations)})")
    if metric not in METRICS:
        raise InputError(f"--metric is {' or '.join(METRICS)}; got {metric!r}")
    if not window_days > 0:
        raise InputError("--window must be longer than nothing")
    if name in _stored(wh):
        raise InputError(f"experiment {name!r} exists; a new test needs a new name (assignments never change)")
    total = sum(weights)
    exp = Experiment(name, tuple(variations), tuple(w / total for w in weights), salt or f"experiment:{name}",
                     metric, float(window_days), description)
    wh.append("experiments", pa.Table.from_pylist([{
        "name": name, "description": description, "unit": "person", "variations": json.dumps(variations),
        "weights": json.dumps(list(exp.weights)), "salt": exp.salt, "metric": metric, "window_days": window_days,
        "created_at": dt.datetime.now(dt.timezone.utc), "created_by": actor}]))
    return exp


def _stored(wh) -> dict[str, Experiment]:
    rows = wh.fetch(wh.table("experiments")).to_pylist()
    return {r["name"]: Experiment(r["name"], tuple(json.loads(r["variations"])), tuple(json.loads(r["weights"])),
                                  r["salt"], r["metric"] or "conversion", r["window_days"] or 7.0,
                                  r["description"] or "") for r in rows}


def _journeys(wh) -> dict[str, tuple[Experiment, float]]:
    """Every journey with a holdout, as an experiment `journey:<name>` (treatment vs holdout)."""
    out = {}
    for r in wh.fetch(wh.table("journeys").select("name", "definition", "description")).to_pylist():
        d = json.loads(r["definition"])
        percent = float((d.get("holdout") or {}).get("percent") or 0)
        if percent <= 0:
            continue
        days = float((d.get("conversion") or {}).get("within_days") or 7)
        exp = Experiment(JOURNEY_PREFIX + r["name"], ("holdout", "treatment"), (percent / 100, 1 - percent / 100),
                         f"journey holdout:{r['name']}", "conversion", days, r["description"] or "", "journey")
        out[exp.name] = (exp, percent)
    return out


def list_experiments(wh) -> dict[str, Experiment]:
    """Created experiments and journeys' holdouts, by name."""
    return {**_stored(wh), **{k: v[0] for k, v in _journeys(wh).items()}}


def experiment(wh, name: str) -> Experiment:
    found = list_experiments(wh)
    if name not in found:
        raise InputError(f"no experiment {name!r}; known: {', '.join(sorted(found)) or 'none'} "
                         "(`flywheel experiment create`, or a journey with a holdout)")
    return found[name]


def record_exposures(wh, exp: Experiment, persons: list[str], at: dt.datetime) -> dict[str, str]:
    """Assign `persons` and record their first exposure at `at` (a later exposure keeps the first)."""
    assigned = {p: exp.assign(p) for p in persons}
    x = wh.table("experiment_exposures")
    known = set(wh.fetch(x.filter(x.experiment == exp.name).select("person_id")).column(0).to_pylist())
    fresh = [{"experiment": exp.name, "person_id": p, "variation": v, "exposed_at": at}
             for p, v in assigned.items() if p not in known]
    if fresh:
        wh.append("experiment_exposures", pa.Table.from_pylist(fresh))
    return assigned


def _units(wh, exp: Experiment) -> ibis.Table:
    """`person_id, variation, start` of every unit."""
    if exp.source == "journey":
        e = wh.table("journey_episodes")
        e = e.filter((e.journey == exp.name[len(JOURNEY_PREFIX):]) & e.grp.isin(list(exp.variations)))
        first = ibis.row_number().over(group_by=e.person_id, order_by=[e.episode])
        e = e.mutate(rank=first).filter(lambda t: t.rank == 0)
        return e.select("person_id", variation=e.grp, start=e.entered_at)
    x = wh.table("experiment_exposures")
    x = x.filter(x.experiment == exp.name)
    return x.select("person_id", "variation", start=x.exposed_at)


def summaries(wh, exp: Experiment, until: dt.datetime | None = None, cap: float | None = None) -> list[Variation]:
    """Per variation (control first): n, Σy, Σy² and the pre-period covariate sums for CUPED. With
    `cap` (a quantile such as 0.99) a revenue metric and its covariate are capped at that quantile
    over all units, so one whale order cannot decide the test."""
    u = _units(wh, exp)
    o = wh.table("orders")
    o = o.filter(o.status.isin(list(GMV_STATUSES)))
    o = o.join(account_persons(wh), ["source", "account_key"])
    o = o.select(o_person="person_id", t=epoch(ibis.coalesce(o.paid_at, o.created_at)),
                 cents=o.paid_cents.fill_null(0))
    u = u.mutate(s=epoch(u.start))
    j = u.left_join(o, u.person_id == o.o_person)
    window = int(exp.window_days * DAY)
    after = (j.t > j.s) & (j.t <= j.s + window)
    if until is not None:
        after = after & (j.t <= int(until.timestamp()))
    before = (j.t <= j.s) & (j.t > j.s - PRE_DAYS * DAY)
    if exp.metric == "conversion":
        y_expr, x_expr = after.fill_null(False).cast("int64").max(), before.fill_null(False).cast("int64").sum()
    else:
        y_expr = ibis.cases((after, j.cents), else_=0).sum()
        x_expr = ibis.cases((before, j.cents), else_=0).sum()
    per = j.group_by("person_id", "variation").agg(y=y_expr, x=x_expr)
    per = per.mutate(y=per.y.fill_null(0).cast("float64"), x=per.x.fill_null(0).cast("float64"))
    if exp.metric == "revenue":
        per = per.mutate(y=per.y / 100, x=per.x / 100)
        if cap is not None:
            if not 0.5 <= cap < 1:
                raise InputError(f"--cap is a quantile between 0.5 and 1 (0.99 caps the top 1%); got {cap}")
            limits = wh.fetch(per.aggregate(y=per.y.quantile(cap), x=per.x.quantile(cap))).to_pylist()[0]
            per = per.mutate(y=ibis.least(per.y, float(limits["y"] or 0)),
                             x=ibis.least(per.x, float(limits["x"] or 0)))
    elif cap is not None:
        raise InputError("--cap applies to a revenue metric (a conversion is 0 or 1)")
    agg = wh.fetch(per.group_by("variation").agg(
        n=per.count(), total=per.y.sum(), squares=(per.y * per.y).sum(), x_total=per.x.sum(),
        x_squares=(per.x * per.x).sum(), cross=(per.x * per.y).sum())).to_pylist()
    found = {r["variation"]: r for r in agg}
    out = []
    for name in exp.variations:
        r = found.get(name)
        if not r or r["n"] < 2:
            raise InputError(f"{exp.name}: variation {name!r} has {0 if not r else r['n']} units; "
                             "an analysis needs at least two in each")
        out.append(Variation(name, float(r["n"]), float(r["total"]), float(r["squares"]), float(r["x_total"]),
                             float(r["x_squares"]), float(r["cross"])))
    return out


def analyze_experiment(wh, name: str, method: str = "fixed", relative: bool = False, cuped: bool = True,
                       until: dt.datetime | None = None, cap: float | None = None, **options) -> dict:
    """`analyze` over the warehouse's units of experiment `name`, the planned split checked for SRM."""
    exp = experiment(wh, name)
    variations = summaries(wh, exp, until, cap)
    if not cuped:
        variations = [Variation(v.name, v.n, v.total, v.squares) for v in variations]
    result = analyze(variations, method, relative, weights=list(exp.weights), **options)
    return {"experiment": exp.as_dict(), "cap": cap, **result}
