"""LightGBM classifier, regressor and ranker (scikit-learn API).

Search: early stopping on the validation split (or on each fold, see
prep.search_folds) picks the number of trees for each candidate; the chosen
candidate is refitted on train+validation with that many trees (the mean over
folds) and scored on the test split.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import metrics as M
from ..errors import TrainError
from ..prep import (SEED, build_features, check_rows, group_split_indices, regression_data,
                    require_columns, search_folds, split_indices)
from ..search import over_folds, random_search, trials_table
from ..tracking import pip_requirements, signature_for
from . import Outcome, n_threads

log = logging.getLogger(__name__)

MAX_TREES = 2000
EARLY_STOP = 50


def max_trees(learning_rate: float) -> int:
    """Tree cap for early stopping: ~60 / learning_rate, within 100..MAX_TREES."""
    return int(min(MAX_TREES, max(100, 60.0 / max(learning_rate, 1e-3))))
GROUP_COLUMN = "group_id"

DEFAULTS = {
    "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
    "subsample": 1.0, "subsample_freq": 0, "colsample_bytree": 1.0,
    "reg_alpha": 0.0, "reg_lambda": 0.0,
}


def _space() -> dict:
    from scipy.stats import loguniform, randint, uniform

    return {
        "learning_rate": loguniform(0.01, 0.3),
        "num_leaves": randint(4, 96),
        "min_child_samples": randint(3, 50),
        "subsample": uniform(0.5, 0.5),
        "subsample_freq": [0, 1],
        "colsample_bytree": uniform(0.4, 0.6),
        "reg_alpha": loguniform(1e-4, 5.0),
        "reg_lambda": loguniform(1e-4, 20.0),
    }


def _common() -> dict:
    return {"random_state": SEED, "n_jobs": n_threads(), "verbose": -1, "deterministic": True,
            "force_col_wise": True}


def _log_model_fn(model, X_sample):
    def log_model(registered_model_name):
        import mlflow.lightgbm

        sig = signature_for(X_sample, model.predict(X_sample))
        cls = type(model)
        return mlflow.lightgbm.log_model(
            model, name="model", registered_model_name=registered_model_name, signature=sig,
            skops_trusted_types=[f"{cls.__module__}.{cls.__qualname__}"],
            pip_requirements=pip_requirements("lightgbm", "scikit-learn", "pandas", "numpy", "skops"))
    return log_model


def _search_and_refit(make, X, y, folds, score_fn, budget, fit_extra=None):
    """Random search with early stopping on each fold's score rows, then a
    refit on train+valid with the mean best number of trees."""
    import lightgbm as lgb

    fit_extra = fit_extra or (lambda what: {})

    def one(params, fit_rows, score_rows):
        import warnings

        m = make(n_estimators=max_trees(params["learning_rate"]), **params, **_common())
        Xs = X.iloc[score_rows]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
            m.fit(X.iloc[fit_rows], y[fit_rows], **_eval_kwargs(m, Xs, y[score_rows]),
                  callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
                  **fit_extra(("fit", fit_rows, score_rows)))
        return score_fn(m, Xs, score_rows), int(m.best_iteration_ or m.n_estimators_)

    best, trials = random_search(DEFAULTS, _space(), budget, over_folds(folds, one))
    n_trees = max(1, int(round(float(np.mean(best.fitted)))))
    trva = np.sort(np.concatenate([f for f in folds[0]]))
    final = make(n_estimators=n_trees, **best.params, **_common())
    final.fit(X.iloc[trva], y[trva], **fit_extra(("refit", trva, None)))
    chosen = dict(best.params, n_estimators=n_trees)
    return final, chosen, best, trials


def _eval_kwargs(model, Xva, yva) -> dict:
    """Validation set for fit(). eval_set while LightGBM has it (4.7 deprecates
    it, but its eval_y path does not label-encode a classifier's string labels);
    eval_X/eval_y once it is gone."""
    import inspect

    if "eval_set" in inspect.signature(model.fit).parameters:
        return {"eval_set": [(Xva, yva)]}
    return {"eval_X": (Xva,), "eval_y": (yva,)}


def _base_params(spec, X, fs, n_rows, tr, va, te) -> dict:
    return {"n_rows": n_rows, "n_features": X.shape[1], "n_categorical": len(fs.categorical),
            "n_train": len(tr), "n_valid": len(va), "n_test": len(te),
            "label_column": spec.label_column}


def train_classifier(df: pd.DataFrame, spec, budget) -> Outcome:
    from lightgbm import LGBMClassifier

    label = spec.label_column
    require_columns(df, [label], spec.source_table, "label column")
    df = df[df[label].notna()].reset_index(drop=True)
    check_rows(len(df), spec.source_table)
    X, fs = build_features(df, [label], spec.source_table)
    y = df[label].to_numpy()
    classes = np.unique(y)
    if len(classes) < 2:
        raise TrainError(f"label column {label!r} has a single value; classification needs two or more")
    if spec.problem_type == "binary_classification" and len(classes) != 2:
        raise TrainError(f"binary_classification but label column {label!r} has {len(classes)} distinct values")
    tr, va, te = split_indices(len(df), stratify=y)

    def score(m, Xva, va_idx):
        from sklearn.metrics import log_loss

        proba = np.full((len(va_idx), len(classes)), 1e-15)   # a fold may miss a rare class
        proba[:, np.searchsorted(classes, m.classes_)] = m.predict_proba(Xva)
        return log_loss(y[va_idx], proba, labels=classes)

    folds = search_folds(tr, va, stratify=y)
    final, chosen, best, trials = _search_and_refit(LGBMClassifier, X, y, folds, score, budget)
    proba = final.predict_proba(X.iloc[te])
    mets = {f"test_{k}": v for k, v in M.classification(y[te], proba, final.classes_).items()}
    mets["valid_log_loss"] = best.score
    mets["search_trials"] = float(len(trials))
    params = _base_params(spec, X, fs, len(df), tr, va, te)
    params.update({"n_classes": len(classes), "classes": [str(c) for c in classes], "hp": chosen,
                   "search_folds": len(folds)})
    return Outcome(params, mets, _log_model_fn(final, X.iloc[te[:5]]),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})


def train_regressor(df: pd.DataFrame, spec, budget) -> Outcome:
    from lightgbm import LGBMRegressor

    label = spec.label_column
    d = regression_data(df, label, spec.source_table)
    df, X, fs, y, tr, va, te = d.df, d.X, d.fs, d.y, d.tr, d.va, d.te

    def score(m, Xva, va_idx):
        return float(np.sqrt(np.mean((m.predict(Xva) - y[va_idx]) ** 2)))

    folds = search_folds(tr, va)
    final, chosen, best, trials = _search_and_refit(LGBMRegressor, X, y, folds, score, budget)
    mets = {f"test_{k}": v for k, v in M.regression(y[te], final.predict(X.iloc[te])).items()}
    mets["valid_rmse"] = best.score
    mets["search_trials"] = float(len(trials))
    params = _base_params(spec, X, fs, len(df), tr, va, te)
    params.update({"hp": chosen, "search_folds": len(folds)})
    return Outcome(params, mets, _log_model_fn(final, X.iloc[te[:5]]),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})


def train_ranker(df: pd.DataFrame, spec, budget) -> Outcome:
    from lightgbm import LGBMRanker

    label = spec.label_column
    require_columns(df, [label], spec.source_table, "label column")
    require_columns(df, [GROUP_COLUMN], spec.source_table, "group column")
    rel = pd.to_numeric(df[label], errors="coerce")
    ok = rel.notna() & df[GROUP_COLUMN].notna()
    df = df[ok].reset_index(drop=True)
    rel = rel[ok].reset_index(drop=True)
    if (rel < 0).any() or (rel != rel.round()).any() or rel.max() > 30:
        raise TrainError(f"ranking label column {label!r} must hold integer relevance grades 0..30")
    df = df.assign(**{label: rel.astype(int)})
    df = df.sort_values(GROUP_COLUMN, kind="stable").reset_index(drop=True)
    check_rows(len(df), spec.source_table)
    X, fs = build_features(df, [label, GROUP_COLUMN], spec.source_table)
    y = df[label].to_numpy(dtype=int)
    groups = df[GROUP_COLUMN].astype(str).to_numpy()
    tr, va, te = group_split_indices(groups)

    def sizes(idx):
        g = groups[idx]
        # idx is sorted and df is sorted by group: consecutive runs are the queries
        change = np.flatnonzero(g[1:] != g[:-1]) + 1
        return np.diff(np.concatenate([[0], change, [len(g)]]))

    def fit_extra(what):
        kind, a, b = what
        if kind == "fit":
            return {"group": sizes(a), "eval_group": [sizes(b)], "eval_at": [10]}
        return {"group": sizes(a)}

    def score(m, Xva, va_idx):
        return -M.ndcg_at(y[va_idx], m.predict(Xva), groups[va_idx], 10)

    folds = search_folds(tr, va, groups=groups)
    final, chosen, best, trials = _search_and_refit(LGBMRanker, X, y, folds, score, budget, fit_extra)
    mets = {f"test_{k}": v for k, v in M.ranking(y[te], final.predict(X.iloc[te]), groups[te]).items()}
    mets["valid_ndcg_at_10"] = -best.score
    mets["search_trials"] = float(len(trials))
    params = _base_params(spec, X, fs, len(df), tr, va, te)
    params.update({"group_column": GROUP_COLUMN, "hp": chosen, "search_folds": len(folds)})
    return Outcome(params, mets, _log_model_fn(final, X.iloc[te[:5]]),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})
