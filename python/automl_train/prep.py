"""Feature preparation and train/validation/test splits.

Numeric columns become float64; text columns become pandas categoricals
(LightGBM uses them natively, the other learners get codes or one-hot VW
features). Text columns that look like identifiers (mostly unique values)
and all-null columns are dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import TrainError

log = logging.getLogger(__name__)

SEED = 42
TEST_FRACTION = 0.2
VALID_FRACTION = 0.2   # of what remains after the test split
MIN_ROWS = 30
CV_BELOW = 2000   # train+validation rows below which the search cross-validates
CV_FOLDS = 3


@dataclass
class FeatureSet:
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict:
        return {"numeric": self.numeric, "categorical": self.categorical,
                "categories": self.categories, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSet":
        return cls(list(d["numeric"]), list(d["categorical"]),
                   {k: list(v) for k, v in d["categories"].items()}, list(d.get("dropped", [])))


def require_columns(df: pd.DataFrame, cols: list[str], table: str, what: str = "column") -> None:
    for c in cols:
        if c not in df.columns:
            have = ", ".join(map(str, df.columns[:20]))
            raise TrainError(f"{what} {c!r} not found in source table {table!r} (columns: {have})")


def build_features(df: pd.DataFrame, exclude: list[str], table: str) -> tuple[pd.DataFrame, FeatureSet]:
    fs = FeatureSet()
    for col in df.columns:
        if col in exclude:
            continue
        s = df[col]
        if s.isna().all():
            fs.dropped.append(col)
            continue
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            fs.numeric.append(col)
            continue
        nonnull = s.dropna().astype(str)
        n_unique = nonnull.nunique()
        if n_unique > 50 and n_unique > 0.5 * len(nonnull):
            log.info("dropping identifier-like text column %s (%d distinct values)", col, n_unique)
            fs.dropped.append(col)
            continue
        fs.categorical.append(col)
        fs.categories[col] = sorted(nonnull.unique().tolist())
    if not fs.columns:
        raise TrainError(f"source table {table!r} has no usable feature columns "
                         f"besides {', '.join(exclude) or 'the label'}")
    return apply_features(df, fs), fs


def apply_features(df: pd.DataFrame, fs: FeatureSet) -> pd.DataFrame:
    """The feature frame for fs: float64 numerics, fixed-category categoricals."""
    out = pd.DataFrame(index=df.index)
    for c in fs.numeric:
        out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64") if c in df else np.nan
    for c in fs.categorical:
        vals = df[c].map(lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)) \
            if c in df else pd.Series([None] * len(df), index=df.index)
        out[c] = pd.Categorical(vals, categories=fs.categories[c])
    return out


def numeric_matrix(X: pd.DataFrame, fs: FeatureSet, medians: dict | None = None) -> tuple[np.ndarray, dict]:
    """Dense float matrix: numerics with NaN -> median, categoricals -> codes (-1 missing)."""
    if medians is None:
        medians = {c: float(X[c].median()) if X[c].notna().any() else 0.0 for c in fs.numeric}
    cols = []
    for c in fs.numeric:
        cols.append(X[c].fillna(medians[c]).to_numpy(dtype=float))
    for c in fs.categorical:
        cols.append(X[c].cat.codes.to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.empty((len(X), 0)), medians


def check_rows(n: int, table: str) -> None:
    if n < MIN_ROWS:
        raise TrainError(f"source table {table!r} has too few usable rows ({n}) to train and evaluate "
                         f"(at least {MIN_ROWS} needed)")


def split_indices(n: int, stratify=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions for train, validation and test (fixed seed)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)

    def _split(ix, frac, strat):
        try:
            return train_test_split(ix, test_size=frac, random_state=SEED, stratify=strat)
        except ValueError:
            return train_test_split(ix, test_size=frac, random_state=SEED)

    rest, test = _split(idx, TEST_FRACTION, None if stratify is None else stratify)
    train, valid = _split(rest, VALID_FRACTION, None if stratify is None else stratify[rest])
    return np.sort(train), np.sort(valid), np.sort(test)


def group_split_indices(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like split_indices but keeps every group (query) in one split."""
    uniq = np.unique(groups)
    if len(uniq) < 5:
        raise TrainError(f"ranking needs at least 5 distinct group_id values, found {len(uniq)}")
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(uniq)
    n_test = max(1, int(round(len(uniq) * TEST_FRACTION)))
    n_valid = max(1, int(round((len(uniq) - n_test) * VALID_FRACTION)))
    test_g = set(perm[:n_test].tolist())
    valid_g = set(perm[n_test:n_test + n_valid].tolist())
    where = np.arange(len(groups))
    in_test = np.array([g in test_g for g in groups])
    in_valid = np.array([g in valid_g for g in groups])
    return where[~in_test & ~in_valid], where[in_valid], where[in_test]


def search_folds(tr: np.ndarray, va: np.ndarray, stratify=None, groups=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, score rows) pairs for scoring search candidates: the
    train/validation split itself, or -- when train+validation is small, where
    one validation split is too noisy to choose by -- CV_FOLDS folds over
    train+validation (stratified, or by group for ranking)."""
    trva = np.sort(np.concatenate([tr, va]))
    if len(trva) >= CV_BELOW:
        return [(tr, va)]
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    if groups is not None:
        g = np.asarray(groups)[trva]
        if len(np.unique(g)) < CV_FOLDS:
            return [(tr, va)]
        splits = GroupKFold(n_splits=CV_FOLDS).split(trva, groups=g)
    elif stratify is not None:
        ys = np.asarray(stratify)[trva]
        _, counts = np.unique(ys, return_counts=True)
        if counts.min() < CV_FOLDS:
            splits = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED).split(trva)
        else:
            splits = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED).split(trva, ys)
    else:
        splits = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED).split(trva)
    return [(trva[a], trva[b]) for a, b in splits]


@dataclass
class RegressionData:
    """A regression table ready to train on: features, numeric label, splits."""
    df: pd.DataFrame
    X: pd.DataFrame
    fs: FeatureSet
    y: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    te: np.ndarray


def regression_data(df: pd.DataFrame, label: str, table: str) -> RegressionData:
    """Rows with a label, the feature set and the train/validation/test split of
    a regression table; a label column with text in it is the job's error."""
    require_columns(df, [label], table, "label column")
    yraw = pd.to_numeric(df[label], errors="coerce")
    if yraw.notna().sum() < df[label].notna().sum():
        raise TrainError(f"regression label column {label!r} has non-numeric values")
    df = df[yraw.notna()].reset_index(drop=True)
    check_rows(len(df), table)
    X, fs = build_features(df, [label], table)
    y = pd.to_numeric(df[label]).to_numpy(dtype=float)
    tr, va, te = split_indices(len(df))
    return RegressionData(df, X, fs, y, tr, va, te)

