"""Held-out metrics for every problem type. All return plain {name: float}."""

from __future__ import annotations

import math

import numpy as np


def _f(x) -> float:
    return float(x)


def classification(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict:
    """AUC (macro one-vs-rest for multiclass), log loss, accuracy.

    proba: (n, K) probabilities in the order of classes."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    proba = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    out = {"accuracy": _f(accuracy_score(y_true, pred)),
           "log_loss": _f(log_loss(y_true, proba, labels=list(classes)))}
    present = np.unique(y_true)
    try:
        if len(classes) == 2:
            out["auc"] = _f(roc_auc_score(y_true == classes[1], proba[:, 1]))
        elif len(present) == len(classes):
            out["auc"] = _f(roc_auc_score(y_true, proba, multi_class="ovr", average="macro",
                                          labels=list(classes)))
        else:
            # some classes absent from the test split: macro over the present ones
            aucs = [roc_auc_score(y_true == c, proba[:, i]) for i, c in enumerate(classes) if c in present]
            out["auc"] = _f(np.mean(aucs))
    except ValueError:
        out["auc"] = float("nan")
    return out


def regression(y_true: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {"rmse": _f(math.sqrt(mean_squared_error(y_true, pred))),
            "mae": _f(mean_absolute_error(y_true, pred)),
            "r2": _f(r2_score(y_true, pred))}


def _dcg(rel: np.ndarray, k: int) -> float:
    rel = rel[:k]
    return float(np.sum((2.0 ** rel - 1.0) / np.log2(np.arange(2, len(rel) + 2))))


def ndcg_at(y_true: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int) -> float:
    """Mean NDCG@k over queries (gain 2^rel - 1, log2 discount). Queries
    whose documents all have relevance 0 are left out of the mean."""
    vals = []
    for g in np.unique(groups):
        m = groups == g
        rel = np.asarray(y_true[m], dtype=float)
        ideal = _dcg(np.sort(rel)[::-1], k)
        if ideal <= 0:
            continue
        order = np.argsort(-np.asarray(scores[m], dtype=float), kind="stable")
        vals.append(_dcg(rel[order], k) / ideal)
    return float(np.mean(vals)) if vals else float("nan")


def ranking(y_true, scores, groups) -> dict:
    return {"ndcg_at_5": ndcg_at(y_true, scores, groups, 5),
            "ndcg_at_10": ndcg_at(y_true, scores, groups, 10),
            "n_queries": float(len(np.unique(groups)))}


def anomaly(scores: np.ndarray, y_true: np.ndarray | None, contamination: float | None) -> dict:
    """scores: higher = more anomalous. With labels: precision and recall
    when flagging the top `contamination` fraction, plus ROC AUC and
    average precision. Always: score statistics."""
    scores = np.asarray(scores, dtype=float)
    out = {"score_mean": _f(scores.mean()), "score_std": _f(scores.std()),
           "score_min": _f(scores.min()), "score_max": _f(scores.max()),
           "score_p95": _f(np.percentile(scores, 95))}
    if contamination is not None:
        n_flag = max(1, int(round(contamination * len(scores))))
        out["contamination"] = _f(contamination)
        out["flagged"] = float(n_flag)
    if y_true is not None and contamination is not None:
        from sklearn.metrics import average_precision_score, roc_auc_score

        y = np.asarray(y_true).astype(int)
        order = np.argsort(-scores, kind="stable")
        flagged = np.zeros(len(scores), dtype=bool)
        flagged[order[:n_flag]] = True
        tp = int(np.sum(flagged & (y == 1)))
        pos = int(np.sum(y == 1))
        out["precision_at_contamination"] = _f(tp / n_flag)
        out["recall_at_contamination"] = _f(tp / pos) if pos else float("nan")
        if 0 < pos < len(y):
            out["roc_auc"] = _f(roc_auc_score(y, scores))
            out["average_precision"] = _f(average_precision_score(y, scores))
    return out


def bandit(chosen: np.ndarray, actions: np.ndarray, costs: np.ndarray, probs: np.ndarray,
           cost_hat: np.ndarray | None = None) -> dict:
    """Off-policy estimates of the average cost of a deterministic policy.

    chosen: the learned policy's action per row; actions/costs/probs: the
    logged action, its cost and the logging propensity. cost_hat: optional
    (n, K) predicted cost per action (columns = actions 1..K) for the doubly
    robust estimate. Lower is better."""
    chosen = np.asarray(chosen).astype(int)
    actions = np.asarray(actions).astype(int)
    costs = np.asarray(costs, dtype=float)
    probs = np.asarray(probs, dtype=float)
    match = (chosen == actions).astype(float)
    w = match / probs
    out = {"logging_policy_cost": _f(costs.mean()),
           "policy_cost_ips": _f(np.mean(w * costs)),
           "policy_cost_snips": _f(np.sum(w * costs) / np.sum(w)) if np.sum(w) > 0 else float("nan"),
           "policy_match_rate": _f(match.mean())}
    if cost_hat is not None:
        rows = np.arange(len(chosen))
        dm = cost_hat[rows, chosen - 1]
        logged_hat = cost_hat[rows, actions - 1]
        out["policy_cost_dm"] = _f(dm.mean())
        out["policy_cost_dr"] = _f(np.mean(dm + w * (costs - logged_hat)))
    out["improvement_ips"] = _f(out["logging_policy_cost"] - out["policy_cost_ips"])
    return out
