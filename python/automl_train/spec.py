"""The job spec that a rendered DAG hands to run_job, validated.

The DAG builds the dict from its rendered literals plus the Airflow run id;
unknown keys are ignored so DAGs and this package can evolve separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import registry
from .errors import TrainError

# From the algorithm registry (share/algorithms.tsv): the problem types, and
# for each algorithm the problem types it fits.
PROBLEM_TYPES = registry.PROBLEM_TYPES
ALGORITHMS = {name: a.problem_types for name, a in registry.ALGORITHMS.items()}
PRESETS = ("fast", "balanced", "best_quality")


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    name: str
    source_table: str
    problem_type: str
    algorithm: str
    preset: str
    label_column: str
    mlflow_tracking_uri: str | None
    mlflow_experiment_name: str
    registered_model_name: str | None
    domain: str | None = None
    owner: str | None = None
    dag_id: str | None = None
    airflow_dag_run_id: str | None = None
    feature_engineering_job_id: str | None = None
    warehouse_conn_id: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "JobSpec":
        if not isinstance(d, dict):
            raise TrainError("job spec must be a dict")

        def req(key: str) -> str:
            v = d.get(key)
            if not isinstance(v, str) or not v:
                raise TrainError(f"job spec field {key!r} is missing or empty")
            return v

        def opt(key: str) -> str | None:
            v = d.get(key)
            if v is None or v == "":
                return None
            if not isinstance(v, str):
                raise TrainError(f"job spec field {key!r} must be a string")
            return v

        algorithm = req("algorithm")
        problem_type = req("problem_type")
        preset = opt("preset") or "balanced"
        if algorithm not in ALGORITHMS:
            raise TrainError(f"unknown algorithm {algorithm!r}")
        if problem_type not in PROBLEM_TYPES:
            raise TrainError(f"unknown problem_type {problem_type!r}")
        if problem_type not in ALGORITHMS[algorithm]:
            raise TrainError(f"algorithm {algorithm!r} does not fit problem_type {problem_type!r}")
        if preset not in PRESETS:
            raise TrainError(f"unknown preset {preset!r}")
        job_id = req("job_id")
        return cls(
            job_id=job_id,
            name=opt("name") or job_id,
            source_table=req("source_table"),
            problem_type=problem_type,
            algorithm=algorithm,
            preset=preset,
            label_column=opt("label_column") or "label",
            mlflow_tracking_uri=opt("mlflow_tracking_uri"),
            mlflow_experiment_name=opt("mlflow_experiment_name") or f"automl-{job_id}",
            registered_model_name=opt("registered_model_name"),
            domain=opt("domain"),
            owner=opt("owner"),
            dag_id=opt("dag_id"),
            airflow_dag_run_id=opt("airflow_dag_run_id"),
            feature_engineering_job_id=opt("feature_engineering_job_id"),
            warehouse_conn_id=opt("warehouse_conn_id"),
        )
