"""Isolation Forest for anomaly detection (scikit-learn pipeline: median
imputation + ordinal codes for text columns + IsolationForest).

With a label column (1 = anomaly) the contamination rate is the labelled
training rate, candidates are scored by average precision on the validation
split (or cross-validated, see prep.search_folds), and the test split gets precision/recall at the contamination rate.
Without one there is no validation signal: presets only grow the forest
(100 / 200 / 400 trees) and the test split gets anomaly-score statistics.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import metrics as M
from ..errors import TrainError
from ..prep import SEED, build_features, check_rows, search_folds, split_indices
from ..search import over_folds, random_search, trials_table
from ..tracking import pip_requirements, signature_for
from . import Outcome, n_threads

log = logging.getLogger(__name__)

DEFAULTS = {"n_estimators": 100, "max_samples": "auto", "max_features": 1.0, "bootstrap": False}
UNLABELLED_TREES = {"fast": 100, "balanced": 200, "best_quality": 400}


def _space() -> dict:
    from scipy.stats import randint, uniform

    return {"n_estimators": randint(50, 400), "max_samples": [64, 128, 256, 512, "auto"],
            "max_features": uniform(0.4, 0.6), "bootstrap": [False, True]}


def _pipeline(fs, params, contamination):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import IsolationForest
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    parts = []
    if fs.numeric:
        parts.append(("num", SimpleImputer(strategy="median", keep_empty_features=True), fs.numeric))
    if fs.categorical:
        parts.append(("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                            encoded_missing_value=-1), fs.categorical))
    pre = ColumnTransformer(parts, remainder="drop")
    forest = IsolationForest(contamination=contamination, random_state=SEED, n_jobs=n_threads(), **params)
    return Pipeline([("pre", pre), ("forest", forest)])


def _anomaly_score(model, X) -> np.ndarray:
    return -model.score_samples(X)   # higher = more anomalous


def train_iforest(df: pd.DataFrame, spec, budget) -> Outcome:
    from sklearn.metrics import average_precision_score

    label = spec.label_column
    has_label = label in df.columns
    y = None
    if has_label:
        yl = pd.to_numeric(df[label], errors="coerce")
        df = df[yl.notna()].reset_index(drop=True)
        y = yl[yl.notna()].to_numpy()
        if not set(np.unique(y)) <= {0, 1}:
            raise TrainError(f"anomaly label column {label!r} must hold 0 (normal) or 1 (anomaly)")
        y = y.astype(int)
        if y.sum() == 0:
            log.info("label column has no anomalies: treated as unlabelled")
            has_label, y = False, None
    check_rows(len(df), spec.source_table)
    X, fs = build_features(df, [label] if label in df.columns else [], spec.source_table)
    X = X.astype({c: object for c in fs.categorical})   # the logged pipeline takes plain strings
    tr, va, te = split_indices(len(df), stratify=y)
    trva = np.sort(np.concatenate([tr, va]))

    if has_label:
        contamination = float(np.clip(y[tr].mean(), 0.001, 0.5))

        def one(params, fit_rows, score_rows):
            m = _pipeline(fs, params, contamination).fit(X.iloc[fit_rows])
            return -average_precision_score(y[score_rows], _anomaly_score(m, X.iloc[score_rows])), None

        folds = search_folds(tr, va, stratify=y)
        best, trials = random_search(DEFAULTS, _space(), budget, over_folds(folds, one))
        chosen = best.params
    else:
        contamination = "auto"
        folds = []
        chosen = dict(DEFAULTS, n_estimators=UNLABELLED_TREES[spec.preset])
        trials = []
    final = _pipeline(fs, chosen, contamination).fit(X.iloc[trva])
    scores = _anomaly_score(final, X.iloc[te])
    flagged = final.predict(X.iloc[te]) == -1
    if has_label:
        mets = {f"test_{k}": v for k, v in M.anomaly(scores, y[te], contamination).items()}
        mets["valid_average_precision"] = -best.score
    else:
        mets = {f"test_{k}": v for k, v in M.anomaly(scores, None, None).items()}
    mets["test_flagged_fraction"] = float(flagged.mean())
    mets["search_trials"] = float(max(1, len(trials)))
    params = {"n_rows": len(df), "n_features": X.shape[1], "n_categorical": len(fs.categorical),
              "n_train": len(tr), "n_valid": len(va), "n_test": len(te), "labelled": has_label,
              "label_column": label if has_label else None, "contamination": contamination,
              "hp": chosen, "search_folds": len(folds)}
    sample = X.iloc[te[:5]]

    def log_model(registered_model_name):
        import mlflow.sklearn

        return mlflow.sklearn.log_model(
            final, name="model", registered_model_name=registered_model_name,
            signature=signature_for(sample, final.predict(sample)),
            serialization_format="cloudpickle",   # skops does not trust the forest's tree types
            pip_requirements=pip_requirements("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle"))

    arts = {"features.json": fs.to_dict()}
    if trials:
        arts["search_trials.json"] = trials_table(trials)
    return Outcome(params, mets, log_model, arts)
