"""Preset budgets and the random hyper-parameter search shared by all learners.

fast         : the learner's defaults, one fit;
balanced     : defaults + random candidates, up to 15 trials / 15 s;
best_quality : defaults + random candidates, up to 50 trials / 40 s.
Every candidate is fitted on the training split and scored on the validation
split (lower is better) -- or, for small tables, cross-validated over
train+validation (prep.search_folds); the defaults are always trial 0, so a
larger budget never selects something worse on validation than fast would.
The time budgets can be scaled with env AUTOML_SEARCH_TIME_SCALE (e.g. 0.2 in tests).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from .prep import SEED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    trials: int
    seconds: float


_BUDGETS = {
    "fast": Budget(1, 10.0),
    "balanced": Budget(15, 15.0),
    "best_quality": Budget(50, 40.0),
}


def budget_for(preset: str) -> Budget:
    b = _BUDGETS[preset]
    try:
        scale = float(os.environ.get("AUTOML_SEARCH_TIME_SCALE", "1"))
    except ValueError:
        scale = 1.0
    if scale <= 0:
        scale = 1.0
    return Budget(b.trials, b.seconds * scale)


@dataclass
class Trial:
    params: dict
    score: float
    fitted: Any
    seconds: float


def candidates(defaults: dict, space: dict, n: int) -> list[dict]:
    """defaults first, then n-1 random draws from space merged over defaults."""
    from sklearn.model_selection import ParameterSampler

    out = [dict(defaults)]
    if n > 1 and space:
        for p in ParameterSampler(space, n_iter=n - 1, random_state=SEED):
            c = dict(defaults)
            c.update({k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()})
            out.append(c)
    return out


def random_search(defaults: dict, space: dict, budget: Budget,
                  fit_score: Callable[[dict], tuple[float, Any]]) -> tuple[Trial, list[Trial]]:
    """Run fit_score over candidates within the budget; return (best, all).

    fit_score(params) -> (validation score, lower is better; fitted object).
    A candidate that raises is logged and skipped (trial 0 must succeed)."""
    t0 = time.monotonic()
    trials: list[Trial] = []
    for i, params in enumerate(candidates(defaults, space, budget.trials)):
        if i > 0 and time.monotonic() - t0 > budget.seconds:
            log.info("search stopped by its time budget after %d trials", i)
            break
        ts = time.monotonic()
        try:
            score, fitted = fit_score(params)
        except Exception as e:  # noqa: BLE001 - a bad candidate must not end the search
            if i == 0:
                raise
            log.warning("trial %d failed (%s); skipped", i, e)
            continue
        trials.append(Trial(params, float(score), fitted, time.monotonic() - ts))
        log.info("trial %d score %.6g (%.2fs) %s", i, score, trials[-1].seconds, params)
    ok = [t for t in trials if t.score == t.score]   # drop NaN scores
    best = min(ok, key=lambda t: t.score) if ok else trials[0]
    return best, trials


def over_folds(folds, one: Callable[[dict, Any, Any], tuple[float, Any]]):
    """fit_score for random_search: one(params, fit_rows, score_rows) on every
    fold; the score is the mean, the fitted object the list of per-fold ones."""
    def fit_score(params):
        scores, fitted = [], []
        for fit_rows, score_rows in folds:
            s, f = one(params, fit_rows, score_rows)
            scores.append(float(s))
            fitted.append(f)
        return sum(scores) / len(scores), fitted
    return fit_score


def trials_table(trials: list[Trial]) -> list[dict]:
    return [{"trial": i, "score": t.score, "seconds": round(t.seconds, 3), "params": t.params}
            for i, t in enumerate(trials)]
