"""Sample tables for trying the service and for tests: scikit-learn's bundled
datasets and generated ones, all with fixed seeds (nothing is downloaded).

  sample_binary      breast cancer (569 rows, 30 numeric features, label 0/1)
  sample_multiclass  wine (178 rows, 13 numeric features, label class_0..class_2)
  sample_regression  diabetes (442 rows, 10 features incl. text `sex`, numeric label)
  sample_ranking     generated: 300 queries (`group_id`), 8 numeric + 1 text feature,
                     label = relevance grade 0..4
  sample_anomaly     generated: 2000 rows, 6 features, label 1 = anomaly (5%)
  sample_bandit      generated: 6000 logged decisions: 5 context features, `action`
                     1..4, `cost` in [0, 1], `probability` of the logging policy
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

SEED = 20240601
NAMES = ("sample_binary", "sample_multiclass", "sample_regression", "sample_ranking",
         "sample_anomaly", "sample_bandit")


def _snake(name: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip()).strip("_").lower()
    return s or "col"


def _bunch_frame(bunch) -> pd.DataFrame:
    cols = [_snake(c) for c in bunch.feature_names]
    return pd.DataFrame(np.asarray(bunch.data, dtype=float), columns=cols)


def binary() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    df = _bunch_frame(b)
    df["label"] = b.target.astype(int)
    return df


def multiclass() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    b = load_wine()
    df = _bunch_frame(b)
    df["label"] = [str(b.target_names[t]) for t in b.target]
    return df


def regression() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    b = load_diabetes(scaled=False)
    df = _bunch_frame(b)
    df["sex"] = np.where(df["sex"] > 1.5, "M", "F")
    df["label"] = b.target.astype(float)
    return df


def ranking(n_queries: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 1)
    rows = []
    for q in range(n_queries):
        n = int(rng.integers(8, 26))
        x = rng.normal(size=(n, 8))
        x[:, 5] += rng.normal()          # query-level shift: must not matter
        doc_type = rng.choice(["article", "video", "forum"], size=n, p=[0.5, 0.3, 0.2])
        s = (1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] + 0.5 * np.abs(x[:, 4])
             + np.where(doc_type == "article", 0.6, 0.0) + rng.normal(scale=0.5, size=n))
        rank = np.argsort(np.argsort(-s))   # 0 = best
        frac = rank / n
        grade = np.select([frac < 0.1, frac < 0.25, frac < 0.45, frac < 0.7], [4, 3, 2, 1], 0)
        for i in range(n):
            rows.append([q + 1, *x[i].tolist(), str(doc_type[i]), int(grade[i])])
    cols = ["group_id"] + [f"f{i}" for i in range(8)] + ["doc_type", "label"]
    return pd.DataFrame(rows, columns=cols)


def anomaly(n: int = 2000, rate: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 2)
    n_anom = int(round(n * rate))
    cov = 0.6 * np.ones((6, 6)) + 0.4 * np.eye(6)
    normal = rng.multivariate_normal(np.zeros(6), cov, size=n - n_anom)
    anom = rng.uniform(-5, 5, size=(n_anom, 6))
    x = np.vstack([normal, anom])
    y = np.r_[np.zeros(n - n_anom, dtype=int), np.ones(n_anom, dtype=int)]
    perm = rng.permutation(n)
    df = pd.DataFrame(x[perm], columns=[f"x{i}" for i in range(6)])
    df["label"] = y[perm]
    return df


N_ACTIONS = 4


def bandit_expected_cost(x: np.ndarray) -> np.ndarray:
    """True expected cost (n, 4) of each action given contexts x (n, 5)."""
    c = np.column_stack([
        0.5 + 0.35 * np.tanh(x[:, 0]),
        0.5 - 0.35 * np.tanh(x[:, 0]),
        0.5 + 0.35 * np.tanh(x[:, 1]),
        0.55 - 0.25 * np.tanh(x[:, 1]) + 0.1 * np.tanh(x[:, 2]),
    ])
    return np.clip(c, 0.0, 1.0)


def bandit_logging_policy(x: np.ndarray) -> np.ndarray:
    """Propensities (n, 4) of the logging policy: a weak softmax policy mixed
    with uniform exploration (every action has probability >= 0.05)."""
    w = np.array([[0.3, -0.3, 0.0, 0.0, 0.1], [0.0, 0.2, 0.2, 0.0, 0.0],
                  [0.0, 0.0, -0.2, 0.3, 0.0], [0.1, 0.0, 0.0, 0.0, -0.2]])
    z = x @ w.T
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return 0.8 * p + 0.2 / N_ACTIONS


def bandit(n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 3)
    x = rng.normal(size=(n, 5))
    p = bandit_logging_policy(x)
    u = rng.random(n)
    a = (u[:, None] > np.cumsum(p, axis=1)).sum(axis=1)   # 0-based
    a = np.minimum(a, N_ACTIONS - 1)
    exp_cost = bandit_expected_cost(x)[np.arange(n), a]
    cost = np.clip(exp_cost + rng.normal(scale=0.1, size=n), 0.0, 1.0)
    df = pd.DataFrame(x, columns=[f"ctx{i}" for i in range(5)])
    df["action"] = a + 1
    df["cost"] = np.round(cost, 6)
    df["probability"] = np.round(p[np.arange(n), a], 6)
    return df


BUILDERS = {
    "sample_binary": binary, "sample_multiclass": multiclass, "sample_regression": regression,
    "sample_ranking": ranking, "sample_anomaly": anomaly, "sample_bandit": bandit,
}


def _sql_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "bigint"
    if pd.api.types.is_float_dtype(s):
        return "double precision"
    return "text"


def _py(v):
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    return v


def write_table(conn, name: str, df: pd.DataFrame, schema: str = "public") -> None:
    """Replace schema.name with df's contents (drop + create + insert, one transaction)."""
    from psycopg2 import sql
    from psycopg2.extras import execute_values

    ident = sql.Identifier(schema, name)
    coldefs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_sql_type(df[c]))) for c in df.columns)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in df.columns)
    rows = [tuple(_py(v) for v in r) for r in df.itertuples(index=False, name=None)]
    with conn:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
            cur.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, coldefs))
            execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s").format(ident, cols).as_string(cur),
                           rows, page_size=1000)


def load(conn_kwargs: dict, only: list[str] | None = None, schema: str = "public") -> dict:
    """Create the sample tables; returns {table: row count}."""
    import psycopg2

    names = list(only) if only else list(NAMES)
    for n in names:
        if n not in BUILDERS:
            raise ValueError(f"unknown sample table {n!r} (known: {', '.join(NAMES)})")
    conn = psycopg2.connect(**conn_kwargs)
    try:
        out = {}
        for n in names:
            df = BUILDERS[n]()
            write_table(conn, n, df, schema)
            out[n] = len(df)
        return out
    finally:
        conn.close()
