"""Experiment statistics from per-variation sufficient statistics (n, Σy, Σy², and for CUPED Σx, Σx², Σxy).

The first variation is the control. Every treatment is compared with it:

- *fixed*: Welch's t interval for the absolute effect (Welch–Satterthwaite degrees of freedom) and,
  with `relative`, the delta-method interval for mean_t / mean_c − 1;
- *sequential*: an always-valid asymptotic confidence sequence (the normal-mixture boundary,
  tuned to be tightest at N* total units), safe to look at after every batch of data;
- *bayesian*: normal–normal, flat prior unless a proper one is given; `chance_to_win` = P(effect > 0).

CUPED (when covariate sums are given) removes the part of the metric a pre-period covariate
predicts, with one θ pooled over all variations, before any of the above. The sample-ratio check
(χ² against the planned split) warns below p = 0.001: an unbalanced split means the assignment or
the logging is broken and no effect estimate can be trusted.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats

from flywheel.errors import InputError
from flywheel.measure.paths import open_csv

SRM_WARN = 0.001
METHODS = ("fixed", "sequential", "bayesian")
REQUIRED = ("variation", "n", "sum", "sum_squares")
CUPED = ("covariate_sum", "covariate_sum_squares", "cross_sum")
RATIO = ("denominator_sum", "denominator_sum_squares", "sum_denominator_product")
"""A ratio metric (Σ revenue / Σ sessions over the units): the denominator's sums and Σ y·d."""


@dataclass
class Variation:
    name: str
    n: float
    total: float
    squares: float
    x_total: float | None = None
    x_squares: float | None = None
    cross: float | None = None
    mean: float = field(init=False)
    var: float = field(init=False)

    def __post_init__(self):
        self.mean = self.total / self.n
        self.var = max((self.squares - self.total * self.mean) / (self.n - 1), 0.0)

    @property
    def has_covariate(self) -> bool:
        return self.x_total is not None

    def as_dict(self) -> dict:
        return {"variation": self.name, "n": self.n, "mean": self.mean, "variance": self.var}


def read_summary(path: Path) -> list[Variation]:
    """One row per variation; a bad row stops the analysis (an experiment with a variation left out
    would compare the wrong things), naming the line, the column and the reason."""
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"{path}: no column {missing[0]!r}; a summary has {', '.join(REQUIRED)} "
                             f"(and {', '.join(CUPED)} for CUPED)")
        cuped = all(c in header for c in CUPED)
        ratio = all(c in header for c in RATIO)
        if cuped and ratio:
            raise InputError(f"{path}: CUPED and ratio-metric columns together are not supported; give one set")
        found = []
        for row in reader:
            line = reader.line_num

            def number(col: str) -> float:
                try:
                    value = float((row.get(col) or "").strip())
                except ValueError:
                    raise InputError(f"{path}:{line}: {col}: not a number: {row.get(col)!r}") from None
                if not math.isfinite(value):
                    raise InputError(f"{path}:{line}: {col}: not a finite number: {row.get(col)!r}")
                return value

            name = (row.get("variation") or "").strip()
            if not name:
                raise InputError(f"{path}:{line}: variation: empty")
            n = number("n")
            if n < 2 or n != int(n):
                raise InputError(f"{path}:{line}: n: a whole number of units, 2 or more; got {row.get('n')!r}")
            total, squares = number("sum"), number("sum_squares")
            if squares * n < total * total * (1 - 1e-9) - 1e-9:
                raise InputError(f"{path}:{line}: sum_squares: smaller than sum²/n, impossible for real data")
            extra = [number(c) for c in CUPED] if cuped else [None, None, None]
            v = Variation(name, n, total, squares, *extra)
            if ratio:
                d, dd, yd = (number(c) for c in RATIO)
                if d <= 0:
                    raise InputError(f"{path}:{line}: denominator_sum: must be positive for a ratio metric")
                v = ratio_variation(name, n, total, squares, d, dd, yd)
            found.append(v)
    if len(found) < 2:
        raise InputError(f"{path}: a control and at least one treatment are needed; found {len(found)} row(s)")
    if len({v.name for v in found}) != len(found):
        raise InputError(f"{path}: a variation is named twice")
    return found


def ratio_variation(name: str, n: float, y: float, yy: float, d: float, dd: float, yd: float) -> Variation:
    """A ratio metric Σy / Σd as a variation whose `var / n` is the ratio's delta-method variance:
    var(R) ≈ (var_y − 2R·cov_yd + R²·var_d) / (n·d̄²), with the per-unit variances and covariance."""
    v = Variation(name, n, y, yy)
    r, d_mean = y / d, d / n
    var_d = (dd - d * d / n) / (n - 1)
    cov = (yd - y * d / n) / (n - 1)
    v.mean = r
    v.var = max((v.var - 2 * r * cov + r * r * var_d) / d_mean ** 2, 0.0)
    return v


def srm_p_value(ns: list[float], weights: list[float] | None = None) -> float:
    """χ² goodness of fit of the observed units per variation to the planned split (equal by default)."""
    weights = weights or [1.0] * len(ns)
    total, wsum = sum(ns), sum(weights)
    expected = [total * w / wsum for w in weights]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(ns, expected))
    return float(stats.chi2.sf(chi2, len(ns) - 1))


def cuped(variations: list[Variation]) -> tuple[list[Variation], float]:
    """Variations with the covariate's predictable part removed; θ = pooled cov(y, x) / var(x).

    Means become ȳ − θ(x̄ − x̄_all), variances var(y) + θ² var(x) − 2θ cov(y, x): unbiased for the
    effect (x is measured before assignment) and smaller by the share of variance x explains."""
    n = sum(v.n for v in variations)
    x_all = sum(v.x_total for v in variations) / n
    cov = sum(v.cross - v.x_total * v.total / v.n for v in variations) / (n - len(variations))
    var_x = sum(v.x_squares - v.x_total ** 2 / v.n for v in variations) / (n - len(variations))
    theta = cov / var_x if var_x > 0 else 0.0
    adjusted = []
    for v in variations:
        vx = (v.x_squares - v.x_total ** 2 / v.n) / (v.n - 1)
        cxy = (v.cross - v.x_total * v.total / v.n) / (v.n - 1)
        a = Variation(v.name, v.n, v.total, v.squares)
        a.mean = v.mean - theta * (v.x_total / v.n - x_all)
        a.var = max(v.var + theta ** 2 * vx - 2 * theta * cxy, 0.0)
        adjusted.append(a)
    return adjusted, theta


def _effect(c: Variation, t: Variation, relative: bool) -> tuple[float, float, float]:
    """Estimate, its standard error and Welch degrees of freedom (absolute, or relative by the delta method)."""
    a, b = t.var / t.n, c.var / c.n
    df = (a + b) ** 2 / (a ** 2 / (t.n - 1) + b ** 2 / (c.n - 1)) if a + b > 0 else float("inf")
    if not relative:
        return t.mean - c.mean, math.sqrt(a + b), df
    if c.mean == 0:
        raise InputError(f"the control's mean is 0: a relative effect of {t.name} is undefined; drop --relative")
    se = math.sqrt(a / c.mean ** 2 + t.mean ** 2 * b / c.mean ** 4)
    return t.mean / c.mean - 1, se, df


def confidence_sequence_half_width(se: float, n_total: float, tuning: float, alpha: float) -> float:
    """Half-width of the asymptotic confidence sequence at `n_total` units (normal-mixture boundary;
    Waudby-Smith et al. 2021, Howard et al. 2021): the per-unit scale is se·√n, the mixture is
    tuned so the boundary is tightest near `tuning` units, and it holds at every n at once."""
    sigma = se * math.sqrt(n_total)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    t = n_total
    return sigma * math.sqrt(2 * (t * rho2 + 1) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1) / alpha))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate)."""
    return [float(p) for p in stats.false_discovery_control(p_values, method="bh")]


def analyze(variations: list[Variation], method: str = "fixed", relative: bool = False, alpha: float = 0.05,
            tuning: float = 5000.0, prior_mean: float | None = None, prior_sd: float | None = None,
            weights: list[float] | None = None) -> dict:
    """Every treatment against the control (the first variation); the JSON of `experiment analyze`."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1; got {alpha}")
    if tuning <= 0:
        raise InputError(f"--sequential-tuning must be a positive number of units; got {tuning}")
    if (prior_mean is None) != (prior_sd is None) or (prior_sd is not None and prior_sd <= 0):
        raise InputError("a proper prior needs both a mean and a positive standard deviation")
    if weights is not None and (len(weights) != len(variations) or min(weights) <= 0):
        raise InputError(f"--weights needs one positive weight per variation ({len(variations)})")
    srm = srm_p_value([v.n for v in variations], weights)
    used, theta = (cuped(variations) if all(v.has_covariate for v in variations) else (variations, None))
    control = used[0]
    results = []
    z = stats.norm.ppf(1 - alpha / 2)
    for t in used[1:]:
        effect, se, df = _effect(control, t, relative)
        row = {"variation": t.name, "effect": effect, "se": se}
        if method == "bayesian":
            precision = 1 / se ** 2 if se > 0 else float("inf")
            if prior_sd is not None:
                post_var = 1 / (precision + 1 / prior_sd ** 2)
                post_mean = post_var * (effect * precision + prior_mean / prior_sd ** 2)
            else:
                post_var, post_mean = se ** 2, effect
            sd = math.sqrt(post_var)
            row.update(effect=post_mean, ci=[post_mean - z * sd, post_mean + z * sd], p_value=None,
                       chance_to_win=float(stats.norm.cdf(post_mean / sd)) if sd > 0 else float(post_mean > 0))
        elif method == "sequential":
            half = confidence_sequence_half_width(se, control.n + t.n, tuning, alpha)
            row.update(ci=[effect - half, effect + half], p_value=None, chance_to_win=None)
        else:
            q = stats.t.ppf(1 - alpha / 2, df)
            p = float(2 * stats.t.sf(abs(effect) / se, df)) if se > 0 else float(effect == 0)
            row.update(ci=[effect - q * se, effect + q * se], p_value=p, chance_to_win=None, df=df)
        results.append(row)
    ps = [r["p_value"] for r in results]
    if method == "fixed" and len(ps) > 1:
        for r, h, b in zip(results, holm(ps), benjamini_hochberg(ps)):
            r.update(p_value_holm=h, p_value_bh=b)
    return {
        "method": method, "relative": relative, "alpha": alpha,
        "variations": [v.as_dict() for v in variations],
        "srm_p_value": srm, "srm_warning": srm < SRM_WARN,
        "cuped_theta": theta,
        "results": results,
    }


def mde(variance: float, n_per_variation: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest absolute effect a two-variation test of this size detects with `power`."""
    return (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * math.sqrt(2 * variance / n_per_variation)
