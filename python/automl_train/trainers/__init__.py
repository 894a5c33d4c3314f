"""One trainer per algorithm. A trainer takes the source table (DataFrame),
the JobSpec and the preset's Budget, and returns an Outcome: parameters and
metrics to log, JSON artifacts, and a function that logs (and registers) the
model in the active MLflow run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Outcome:
    params: dict
    metrics: dict
    log_model: Callable[[str | None], Any]
    artifacts: dict = field(default_factory=dict)


def n_threads() -> int:
    """Threads per learner: env AUTOML_TRAIN_THREADS, default 1. On a small
    shared machine (Airflow, MLflow and PostgreSQL beside the training) more
    OpenMP threads than free cores make LightGBM many times slower, and the
    sample-sized tables gain nothing from threads."""
    raw = os.environ.get("AUTOML_TRAIN_THREADS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return 1


def get_trainer(algorithm: str) -> Callable:
    if algorithm == "lightgbm_classifier":
        from .lgbm import train_classifier
        return train_classifier
    if algorithm == "lightgbm_regressor":
        from .lgbm import train_regressor
        return train_regressor
    if algorithm == "lightgbm_ranker":
        from .lgbm import train_ranker
        return train_ranker
    if algorithm == "isolation_forest":
        from .iforest import train_iforest
        return train_iforest
    if algorithm == "vw_classifier":
        from .vw import train_classifier as vw_cls
        return vw_cls
    if algorithm == "vw_regressor":
        from .vw import train_regressor as vw_reg
        return vw_reg
    if algorithm == "vw_contextual_bandit":
        from .vw import train_bandit
        return train_bandit
    raise ValueError(f"no trainer for {algorithm!r}")
