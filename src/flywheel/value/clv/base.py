"""Shared machinery of the buy-till-you-die models: checks, compression, maximum likelihood.

Every model states its parameter names, a per-row log-likelihood and its exact gradient; this module
does the rest the same way for all of them, so `fit` behaves identically across BG/NBD, MBG/NBD,
Pareto/NBD and Gamma-Gamma (scikit-learn shape: `__init__` stores, `fit` validates and learns, returns `self`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import numpy as np
from scipy import optimize

from flywheel.errors import FlywheelError, InputError

try:  # installed with scikit-learn
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - without it BLAS keeps its own thread count
    threadpool_limits = None

log = logging.getLogger(__name__)


# Above this many distinct rows, a fit with an exact gradient first runs on a sample of customers.
WARM_START_ROWS = 50_000


class NotFittedError(FlywheelError, AttributeError):
    """A prediction was asked of a model whose `fit` has not run."""


class ParameterError(InputError):
    """A constructor argument breaks its rule."""


class DataError(InputError):
    """frequency / recency / T / monetary values that no customer can have."""


# Constructor rules as data: name -> (test, wording of the rule).
PARAMETER_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "penalizer": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0,
                  "≥ 0"),
}


def single_thread_blas():
    """Context in which BLAS runs on one thread: the models' matrix products are 4 x rows, too small
    to pay for waking BLAS threads (which costs milliseconds per call on a busy machine)."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def as_column(name: str, values, *, integer: bool = False) -> np.ndarray:
    """One finite, non-negative float column; `integer` also demands whole numbers."""
    try:
        column = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric") from exc
    if not np.all(np.isfinite(column)):
        raise DataError(f"{name} must be finite (no NaN or infinity)")
    if np.any(column < 0):
        raise DataError(f"{name} must be ≥ 0")
    if integer and np.any(column != np.round(column)):
        raise DataError(f"{name} must be whole numbers")
    return column


def same_length(**columns: np.ndarray) -> int:
    """The shared length of the columns, or a DataError naming the mismatch."""
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DataError("inputs must have the same length: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
    return next(iter(lengths.values()))


def compress(weights: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group identical rows and sum their weights: a million customers become a few thousand rows.

    Each column is coded by its distinct values, the codes combined into one integer key, and the
    weights summed per key (several times faster than np.unique(axis=0) on a million rows).
    """
    values, key, size = [], np.zeros(len(weights), dtype=np.int64), 1
    for column in columns:
        distinct, code = np.unique(column, return_inverse=True)
        values.append(distinct)
        key = key * len(distinct) + code.reshape(-1)
        size *= len(distinct)
    if size >= 2**62:  # the combined key could overflow: fall back to sorting whole rows
        unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
        counts = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(unique))
        keep = counts > 0
        return counts[keep], [unique[keep, i] for i in range(unique.shape[1])]
    keys, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(keys))
    keep = counts > 0
    keys = keys[keep]
    rows = []
    for distinct in reversed(values):
        rows.append(distinct[keys % len(distinct)])
        keys = keys // len(distinct)
    return counts[keep], rows[::-1]


def distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Code of each row's distinct combination of values, and those combinations as columns.

    `[col[code] for col in distinct]` rebuilds the input; predictions are computed once per
    distinct row and gathered with `code`.
    """
    key, values = np.zeros(len(columns[0]), dtype=np.int64), []
    size = 1
    for column in columns:
        distinct, code = np.unique(column, return_inverse=True)
        values.append(distinct)
        key = key * len(distinct) + code.reshape(-1)
        size *= len(distinct)
    if size >= 2**62:  # the combined key could overflow: sort whole rows instead
        unique, code = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
        return code.reshape(-1), [unique[:, i] for i in range(unique.shape[1])]
    keys, code = np.unique(key, return_inverse=True)
    rows = []
    for distinct in reversed(values):
        rows.append(distinct[keys % len(distinct)])
        keys = keys // len(distinct)
    return code.reshape(-1), rows[::-1]


def _hessian_from_gradient(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Forward differences of an exact gradient: k + 1 evaluations instead of 4k² for a k-parameter model."""
    k = len(x)
    h = 1e-6 * np.maximum(np.abs(x), 1e-2)
    hess = np.empty((k, k))
    at_x = gradient(x)
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        hess[:, i] = (gradient(x + e) - at_x) / h[i]
    return (hess + hess.T) / 2


class BTYDModel:
    """Base of the models: subclasses set `param_names` and implement `_row_log_likelihood` and
    `_likelihood_with_gradient`."""

    param_names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    # --- hooks -------------------------------------------------------------------------------
    def _row_log_likelihood(self, params: np.ndarray, *columns: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _start(self, *columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.ones(len(self.param_names))

    def _likelihood_with_gradient(self, *columns: np.ndarray) -> Callable:
        """A function (params, weights=None) -> (per-row LL, exact gradient), built once per fit.

        The gradient is per row, shape (k, rows), or with `weights` its weighted sum over rows,
        shape (k,) (which a model may compute without building the per-row array). The function may
        precompute whatever depends on the data only.
        """
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------
    def _check_parameters(self) -> None:
        for name, (test, rule) in PARAMETER_RULES.items():
            value = getattr(self, name)
            if not test(value):
                raise ParameterError(f"The '{name}' parameter of {type(self).__name__} must be {rule}. Got {value!r}.")

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(...) first.")

    def _param_array(self) -> np.ndarray:
        self._check_fitted()
        return np.array([self.params_[n] for n in self.param_names])

    def _weights(self, weights, n: int) -> np.ndarray:
        if weights is None:
            return np.ones(n)
        w = as_column("weights", weights)
        if len(w) != n:
            raise DataError(f"weights must have the same length as the data: weights={len(w)}, data={n}")
        if not w.sum() > 0:
            raise DataError("weights must not all be zero")
        return w

    def _maximise(self, columns: list[np.ndarray], weights: np.ndarray) -> None:
        """Maximum likelihood over log-parameters, with BLAS on one thread.

        The optimiser's and the gradient's BLAS calls are tiny (4 parameters); a multi-threaded BLAS
        spends more on waking its threads than on the work, 5x the whole fit on a busy 2-core machine.
        """
        with single_thread_blas():
            self._maximise_single_thread(columns, weights)

    def _maximise_single_thread(self, columns: list[np.ndarray], weights: np.ndarray) -> None:
        """Maximum likelihood over log-parameters, then the full LL and standard errors."""
        counts, rows = compress(weights, *columns)
        total = counts.sum()
        x0 = np.log(self._start(*rows, weights=counts))
        exact = self._likelihood_with_gradient(*rows)
        inverse_hessian = None
        if len(counts) > WARM_START_ROWS:
            x0, inverse_hessian = self._warm_start(rows, counts, x0)
        best = self._maximise_exact(exact, counts, x0, inverse_hessian)
        converged = bool(best.success)
        if not np.isfinite(best.fun) or best.fun >= 1e99:
            raise DataError(f"{type(self).__name__} found no finite likelihood for these data")
        params = np.exp(best.x)
        self.params_ = {n: float(v) for n, v in zip(self.param_names, params)}
        self.log_likelihood_ = float(counts @ self._row_log_likelihood(params, *rows))
        self.n_customers_ = int(round(total))
        self.n_unique_rows_ = len(counts)
        self.converged_ = converged

        try:
            hessian = _hessian_from_gradient(lambda p: -exact(p, counts)[1], params)
            covariance = np.linalg.inv(hessian)
            errors = np.sqrt(np.where(np.diag(covariance) >= 0, np.diag(covariance), np.nan))
        except np.linalg.LinAlgError:
            errors = np.full(len(params), np.nan)
        self.standard_errors_ = {n: float(v) for n, v in zip(self.param_names, errors)}
        log.info("%s fitted on %d customers (%d unique rows): %s", type(self).__name__,
                 self.n_customers_, self.n_unique_rows_, self.params_)

    def _warm_start(self, rows: list[np.ndarray], counts: np.ndarray, x0: np.ndarray):
        """Log-parameters fitted on a random sample of customers, and the sample's inverse Hessian there.

        The full fit then starts near the maximum with the curvature already known (BFGS), so it needs
        a few iterations over all rows; only the path changes, the estimate is the full-data maximum.
        """
        rng = np.random.default_rng(0)
        sample = rng.multinomial(WARM_START_ROWS, counts / counts.sum()).astype(float)
        keep = sample > 0
        sampled = [row[keep] for row in rows]
        exact = self._likelihood_with_gradient(*sampled)
        result = self._maximise_exact(exact, sample[keep], x0)
        if not (np.isfinite(result.fun) and result.fun < 1e99):
            return x0, None
        objective = self._mean_objective(exact, sample[keep])
        try:
            inverse = np.linalg.inv(_hessian_from_gradient(lambda z: objective(z)[1], result.x))
            inverse = (inverse + inverse.T) / 2
        except np.linalg.LinAlgError:
            return result.x, None
        if not (np.all(np.isfinite(inverse)) and np.all(np.linalg.eigvalsh(inverse) > 0)):
            return result.x, None
        return result.x, inverse

    def _mean_objective(self, exact: Callable, counts: np.ndarray) -> Callable:
        """Minus the mean LL (plus penalty) over log-parameters, with its gradient (d/dlog p = p d/dp)."""
        total = counts.sum()
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            with np.errstate(all="ignore"):
                ll, grad = exact(params, counts)
                value = -(counts @ ll) / total + penalizer * np.sum(params**2)
                gradient = (-grad / total + 2 * penalizer * params) * params
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
                return 1e100, np.zeros_like(log_params)
            return float(value), gradient

        return objective

    def _maximise_exact(self, exact: Callable, counts: np.ndarray, x0: np.ndarray, inverse_hessian=None):
        """L-BFGS-B over log-parameters with the model's own gradient; BFGS when the curvature is known."""
        objective = self._mean_objective(exact, counts)
        if inverse_hessian is not None:
            try:
                result = optimize.minimize(objective, x0, jac=True, method="BFGS",
                                           options={"maxiter": 200, "gtol": 1e-8, "hess_inv0": inverse_hessian})
            except (ValueError, np.linalg.LinAlgError):  # curvature scipy does not accept: plain start
                result = None
            if result is not None and (result.success or np.max(np.abs(result.jac)) < 1e-7):
                return result  # a line search that stalls this close to the maximum has found it
            if result is not None and result.fun < 1e99:
                x0 = result.x
        return optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                                 options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(penalizer={self.penalizer!r})"
