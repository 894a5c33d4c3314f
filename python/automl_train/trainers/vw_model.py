"""Vowpal Wabbit text examples and the MLflow pyfunc wrapper of a VW model.

Examples: "<label> |f <name>:<value> ... <column>=<category> ...". Names and
category values are sanitised (white space, '|' and ':' become '_'); numeric
features are standardised with the training split's mean and deviation;
missing values are left out. The wrapper is logged with the automl_train
package as code, so loading the model needs vowpalwabbit, pandas and numpy only.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

_BAD = re.compile(r"[\s|:]")


def sanitize(s) -> str:
    out = _BAD.sub("_", str(s))
    return out or "_"


class Featurizer:
    """Turns feature frames (prep.apply_features output) into VW text."""

    def __init__(self, fs: dict, means: dict, stds: dict):
        self.fs = fs                      # prep.FeatureSet.to_dict()
        self.means = means
        self.stds = stds
        self._num_names = [sanitize(c) for c in fs["numeric"]]
        self._cat_names = [sanitize(c) for c in fs["categorical"]]

    @classmethod
    def fit(cls, X: pd.DataFrame, fs) -> "Featurizer":
        means, stds = {}, {}
        for c in fs.numeric:
            col = X[c].to_numpy(dtype=float)
            m = float(np.nanmean(col)) if np.isfinite(col).any() else 0.0
            s = float(np.nanstd(col)) if np.isfinite(col).any() else 1.0
            means[c], stds[c] = m, (s if s > 1e-12 else 1.0)
        return cls(fs.to_dict(), means, stds)

    def to_dict(self) -> dict:
        return {"fs": self.fs, "means": self.means, "stds": self.stds}

    @classmethod
    def from_dict(cls, d: dict) -> "Featurizer":
        return cls(d["fs"], d["means"], d["stds"])

    def features(self, X: pd.DataFrame) -> list[str]:
        """One "|f ..." feature string per row."""
        n = len(X)
        toks: list[list[str]] = [[] for _ in range(n)]
        for c, name in zip(self.fs["numeric"], self._num_names, strict=True):
            vals = (pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float) - self.means[c]) / self.stds[c]
            for i, v in enumerate(vals):
                if math.isfinite(v) and v != 0.0:
                    toks[i].append(f"{name}:{v:.6g}")
        for c, name in zip(self.fs["categorical"], self._cat_names, strict=True):
            for i, v in enumerate(X[c].tolist()):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue
                toks[i].append(f"{name}={sanitize(v)}")
        return ["|f " + " ".join(t) for t in toks]


def _frame(model_input) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    return pd.DataFrame(model_input)


try:
    from mlflow.pyfunc import PythonModel as _PythonModel
except ImportError:  # mlflow absent: the class is still usable for tests of predict
    _PythonModel = object


class VWModel(_PythonModel):
    """kind: "binary" | "multiclass" | "regression" | "bandit".
    predict() returns: binary/multiclass -> DataFrame with "prediction" and
    one "probability_<class>" column per class; regression -> predicted
    values; bandit -> the chosen action (1..K) per row."""

    def __init__(self, kind: str, featurizer: dict, classes=None, y_mean: float = 0.0,
                 y_std: float = 1.0):
        self.kind = kind
        self.featurizer = featurizer
        self.classes = None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes]
        self.y_mean = float(y_mean)
        self.y_std = float(y_std)
        self._ws = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_ws"] = None
        return d

    def load_context(self, context):
        self.load_file(context.artifacts["vw_model"])

    def load_file(self, path: str):
        import vowpalwabbit

        kw = {"quiet": True, "i": path}
        if self.kind == "multiclass":
            kw["probabilities"] = True
        self._ws = vowpalwabbit.Workspace(**kw)
        return self

    def raw(self, X: pd.DataFrame) -> list:
        from ..prep import FeatureSet, apply_features

        fz = Featurizer.from_dict(self.featurizer)
        feats = apply_features(X, FeatureSet.from_dict(fz.fs))
        return [self._ws.predict(line) for line in fz.features(feats)]

    def predict(self, context, model_input, params=None):
        X = _frame(model_input)
        raw = self.raw(X)
        if self.kind == "regression":
            return np.asarray(raw, dtype=float) * self.y_std + self.y_mean
        if self.kind == "bandit":
            return np.asarray(raw, dtype=int)
        proba = probabilities(self.kind, raw)
        out = pd.DataFrame({"prediction": np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]})
        for i, c in enumerate(self.classes):
            out[f"probability_{c}"] = proba[:, i]
        return out


def probabilities(kind: str, raw: list) -> np.ndarray:
    """(n, K) class probabilities from VW predictions."""
    if kind == "binary":
        p1 = np.clip(np.asarray(raw, dtype=float), 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])
    p = np.clip(np.asarray(raw, dtype=float), 1e-15, None)
    return p / p.sum(axis=1, keepdims=True)
