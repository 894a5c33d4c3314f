"""Vowpal Wabbit classifier, regressor and contextual bandit (Python API,
vowpalwabbit.Workspace, text examples built by vw_model.Featurizer).

Online learning over the shuffled training split for `passes` passes; the
search tunes learning rate, power_t, l2, passes, quadratic interactions and
a small hidden layer (--nn); the bandit tunes the cb_type (ips/dr/mtr) too and
is scored by the doubly robust estimate of its policy's cost on validation.
Small tables are cross-validated instead (prep.search_folds).
"""

from __future__ import annotations

import logging
import os
import tempfile

import numpy as np
import pandas as pd

from .. import metrics as M
from ..errors import TrainError
from ..prep import (SEED, build_features, check_rows, numeric_matrix, regression_data,
                    require_columns, search_folds, split_indices)
from ..search import over_folds, random_search, trials_table
from ..tracking import pip_requirements
from . import Outcome, n_threads
from .vw_model import Featurizer, VWModel, probabilities

log = logging.getLogger(__name__)

BITS = 18
DEFAULTS = {"learning_rate": 0.5, "power_t": 0.5, "l2": 0.0, "passes": 5, "quadratic": False, "nn": 0}
CB_DEFAULTS = {"cb_type": "dr", "learning_rate": 0.5, "power_t": 0.5, "passes": 1, "quadratic": False}
BANDIT_COLUMNS = ("action", "cost", "reward", "probability")


def _space() -> dict:
    from scipy.stats import loguniform, randint, uniform

    return {"learning_rate": loguniform(0.05, 2.0), "power_t": uniform(0.0, 0.5),
            "l2": [0.0, 1e-7, 1e-6, 1e-5], "passes": randint(1, 11), "quadratic": [False, True],
            "nn": [0, 0, 8, 16]}


def _cb_space() -> dict:
    from scipy.stats import loguniform, randint, uniform

    return {"cb_type": ["ips", "dr", "mtr"], "learning_rate": loguniform(0.05, 2.0),
            "power_t": uniform(0.0, 0.5), "passes": randint(1, 6), "quadratic": [False, True]}


def _args(p: dict, head: str) -> str:
    a = f"--quiet --random_seed {SEED} -b {BITS} {head} -l {p['learning_rate']:.6g} --power_t {p['power_t']:.6g}"
    if p.get("l2"):
        a += f" --l2 {p['l2']:.6g}"
    if p.get("quadratic"):
        a += " -q ff"
    if p.get("nn"):
        a += f" --nn {int(p['nn'])}"
    return a


def _learn(args: str, examples: list[str], passes: int):
    import vowpalwabbit

    ws = vowpalwabbit.Workspace(args)
    rng = np.random.default_rng(SEED)
    for _ in range(max(1, int(passes))):
        for i in rng.permutation(len(examples)):
            ws.learn(examples[i])
    return ws


def _pyfunc_logger(ws, model: VWModel):
    """log_model for an Outcome: saves the workspace's model to a temporary
    file, logs it with the pyfunc wrapper (and registers it), cleans up."""
    def log_model(registered_model_name):
        import shutil

        import mlflow.pyfunc

        import automl_train

        tmpdir = tempfile.mkdtemp(prefix="automl-vw-")
        try:
            path = os.path.join(tmpdir, "model.vw")
            ws.save(path)
            ws.finish()
            return mlflow.pyfunc.log_model(
                name="model", python_model=model, artifacts={"vw_model": path},
                code_paths=[os.path.dirname(automl_train.__file__)],
                registered_model_name=registered_model_name,
                pip_requirements=pip_requirements("vowpalwabbit", "pandas", "numpy"))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return log_model


def _base(spec, X, fs, n, tr, va, te) -> dict:
    return {"n_rows": n, "n_features": X.shape[1], "n_categorical": len(fs.categorical),
            "n_train": len(tr), "n_valid": len(va), "n_test": len(te)}


def train_classifier(df: pd.DataFrame, spec, budget) -> Outcome:
    from sklearn.metrics import log_loss

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
    kind = "binary" if len(classes) == 2 else "multiclass"
    code = {c: i for i, c in enumerate(classes.tolist())}
    yi = np.array([code[v] for v in y.tolist()])
    tr, va, te = split_indices(len(df), stratify=y)
    fz = Featurizer.fit(X.iloc[tr], fs)
    feats = fz.features(X)
    if kind == "binary":
        head = "--loss_function logistic --link logistic"
        labels = ["1" if v == 1 else "-1" for v in yi]
    else:
        head = f"--oaa {len(classes)} --loss_function logistic --probabilities"
        labels = [str(v + 1) for v in yi]
    ex = [f"{lab} {f}" for lab, f in zip(labels, feats, strict=True)]

    def one(p, fit_rows, score_rows):
        ws = _learn(_args(p, head), [ex[i] for i in fit_rows], p["passes"])
        try:
            proba = probabilities(kind, [ws.predict(feats[i]) for i in score_rows])
        finally:
            ws.finish()
        return log_loss(yi[score_rows], proba, labels=list(range(len(classes)))), None

    folds = search_folds(tr, va, stratify=y)
    best, trials = random_search(DEFAULTS, _space(), budget, over_folds(folds, one))
    trva = np.sort(np.concatenate([tr, va]))
    ws = _learn(_args(best.params, head), [ex[i] for i in trva], best.params["passes"])
    proba = probabilities(kind, [ws.predict(feats[i]) for i in te])
    mets = {f"test_{k}": v for k, v in M.classification(yi[te], proba, np.arange(len(classes))).items()}
    mets["valid_log_loss"] = best.score
    mets["search_trials"] = float(len(trials))
    params = _base(spec, X, fs, len(df), tr, va, te)
    params.update({"label_column": label, "n_classes": len(classes), "classes": [str(c) for c in classes],
                   "vw_args": _args(best.params, head), "hp": best.params, "search_folds": len(folds)})
    model = VWModel(kind, fz.to_dict(), classes=classes.tolist())
    return Outcome(params, mets, _pyfunc_logger(ws, model),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})


def train_regressor(df: pd.DataFrame, spec, budget) -> Outcome:
    label = spec.label_column
    d = regression_data(df, label, spec.source_table)
    df, X, fs, y, tr, va, te = d.df, d.X, d.fs, d.y, d.tr, d.va, d.te
    y_mean, y_std = float(y[tr].mean()), float(y[tr].std()) or 1.0
    fz = Featurizer.fit(X.iloc[tr], fs)
    feats = fz.features(X)
    head = "--loss_function squared"
    ex = [f"{(v - y_mean) / y_std:.6g} {f}" for v, f in zip(y, feats, strict=True)]

    def predict(ws, idx):
        return np.array([ws.predict(feats[i]) for i in idx], dtype=float) * y_std + y_mean

    def one(p, fit_rows, score_rows):
        ws = _learn(_args(p, head), [ex[i] for i in fit_rows], p["passes"])
        try:
            pred = predict(ws, score_rows)
        finally:
            ws.finish()
        return float(np.sqrt(np.mean((pred - y[score_rows]) ** 2))), None

    folds = search_folds(tr, va)
    best, trials = random_search(DEFAULTS, _space(), budget, over_folds(folds, one))
    trva = np.sort(np.concatenate([tr, va]))
    ws = _learn(_args(best.params, head), [ex[i] for i in trva], best.params["passes"])
    mets = {f"test_{k}": v for k, v in M.regression(y[te], predict(ws, te)).items()}
    mets["valid_rmse"] = best.score
    mets["search_trials"] = float(len(trials))
    params = _base(spec, X, fs, len(df), tr, va, te)
    params.update({"label_column": label, "vw_args": _args(best.params, head), "hp": best.params,
                   "label_mean": y_mean, "label_std": y_std, "search_folds": len(folds)})
    model = VWModel("regression", fz.to_dict(), y_mean=y_mean, y_std=y_std)
    return Outcome(params, mets, _pyfunc_logger(ws, model),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})


def _cost_model(Xm: np.ndarray, actions: np.ndarray, costs: np.ndarray, idx: np.ndarray, k: int):
    """Predicted cost of every action for every row, (n, k), from a LightGBM
    regressor fitted on the rows idx (context + one-hot logged action)."""
    from lightgbm import LGBMRegressor

    def design(rows, act):
        onehot = np.zeros((len(rows), k))
        onehot[np.arange(len(rows)), act - 1] = 1.0
        return np.hstack([Xm[rows], onehot])

    m = LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                      random_state=SEED, n_jobs=n_threads(), verbose=-1, deterministic=True,
                      force_col_wise=True)
    m.fit(design(idx, actions[idx]), costs[idx])
    allrows = np.arange(len(actions))
    return np.column_stack([m.predict(design(allrows, np.full(len(actions), a))) for a in range(1, k + 1)])


def train_bandit(df: pd.DataFrame, spec, budget) -> Outcome:
    table = spec.source_table
    require_columns(df, ["action", "probability"], table)
    if "cost" in df.columns:
        costs = pd.to_numeric(df["cost"], errors="coerce")
    elif "reward" in df.columns:
        costs = -pd.to_numeric(df["reward"], errors="coerce")
    else:
        raise TrainError(f"source table {table!r} needs a 'cost' or a 'reward' column for contextual_bandit")
    actions = pd.to_numeric(df["action"], errors="coerce")
    probs = pd.to_numeric(df["probability"], errors="coerce")
    ok = costs.notna() & actions.notna() & probs.notna()
    df, costs, actions, probs = (df[ok].reset_index(drop=True), costs[ok].to_numpy(dtype=float),
                                 actions[ok].to_numpy(), probs[ok].to_numpy(dtype=float))
    check_rows(len(df), table)
    if (actions != np.round(actions)).any() or actions.min() < 1:
        raise TrainError("column 'action' must hold integer actions 1..K")
    actions = actions.astype(int)
    if (probs <= 0).any() or (probs > 1).any():
        raise TrainError("column 'probability' must hold logging propensities in (0, 1]")
    k = int(actions.max())
    if k < 2:
        raise TrainError("contextual_bandit needs at least two actions")
    exclude = [c for c in BANDIT_COLUMNS if c in df.columns]
    if spec.label_column in df.columns and spec.label_column not in exclude:
        exclude.append(spec.label_column)   # an outcome column must not be context
    X, fs = build_features(df, exclude, table)
    tr, va, te = split_indices(len(df))
    trva = np.sort(np.concatenate([tr, va]))
    fz = Featurizer.fit(X.iloc[tr], fs)
    feats = fz.features(X)
    ex = [f"{a}:{c:.6g}:{p:.6g} {f}" for a, c, p, f in zip(actions, costs, probs, feats, strict=True)]
    Xm, _ = numeric_matrix(X, fs)
    folds = search_folds(tr, va)
    # reward models for the DR estimates: one per fold (fitted on its fit rows)
    # for the search, one on train+validation for the test split
    cost_hats = [_cost_model(Xm, actions, costs, f, k) for f, _ in folds]
    cost_hat_trva = _cost_model(Xm, actions, costs, trva, k)

    def head(p):
        return f"--cb {k} --cb_type {p['cb_type']}"

    def one(p, fit_rows, score_rows):
        ws = _learn(_args(p, head(p)), [ex[i] for i in fit_rows], p["passes"])
        try:
            chosen = np.array([ws.predict(feats[i]) for i in score_rows], dtype=int)
        finally:
            ws.finish()
        fold = next(i for i, (f, _) in enumerate(folds) if f is fit_rows)
        m = M.bandit(chosen, actions[score_rows], costs[score_rows], probs[score_rows],
                     cost_hats[fold][score_rows])
        return m["policy_cost_dr"], None

    best, trials = random_search(CB_DEFAULTS, _cb_space(), budget, over_folds(folds, one))
    ws = _learn(_args(best.params, head(best.params)), [ex[i] for i in trva], best.params["passes"])
    chosen = np.array([ws.predict(feats[i]) for i in te], dtype=int)
    mets = {f"test_{k_}": v for k_, v in
            M.bandit(chosen, actions[te], costs[te], probs[te], cost_hat_trva[te]).items()}
    mets["valid_policy_cost_dr"] = best.score
    mets["search_trials"] = float(len(trials))
    params = _base(spec, X, fs, len(df), tr, va, te)
    params.update({"n_actions": k, "cost_from": "cost" if "cost" in df.columns else "-reward",
                   "vw_args": _args(best.params, head(best.params)), "hp": best.params,
                   "search_folds": len(folds)})
    model = VWModel("bandit", fz.to_dict())
    return Outcome(params, mets, _pyfunc_logger(ws, model),
                   {"features.json": fs.to_dict(), "search_trials.json": trials_table(trials)})
