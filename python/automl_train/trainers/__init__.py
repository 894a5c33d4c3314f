"""One trainer per algorithm, named by the algorithm registry (registry.py).
A trainer takes the source table (DataFrame), the JobSpec and the preset's
Budget, and returns an Outcome: parameters and metrics to log, JSON
artifacts, and a function that logs (and registers) the model in the active
MLflow run."""

from __future__ import annotations

import importlib
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
    """The trainer the algorithm registry names for the algorithm; its module
    (and so its learner library) is imported on first use only."""
    from ..registry import ALGORITHMS

    entry = ALGORITHMS.get(algorithm)
    if entry is None:
        raise ValueError(f"no trainer for {algorithm!r}")
    module = importlib.import_module(f"{__name__}.{entry.trainer_module}")
    return getattr(module, entry.trainer_function)
