"""Entry point of a training job: run_job(spec) loads the source table,
trains the job's algorithm within its preset's budget, logs everything to
MLflow and registers the model. Called by the rendered DAG's `train` task in
the training virtualenv; returns a small JSON-able dict (the task's XCom).
"""

from __future__ import annotations

import logging
import sys
import time

from .errors import TrainError
from .spec import JobSpec

log = logging.getLogger("automl_train")


def _setup_logging() -> None:
    root = logging.getLogger("automl_train")
    if not root.handlers:
        h = logging.StreamHandler(sys.stdout)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)
        root.setLevel(logging.INFO)
        root.propagate = False


def _tags(spec: JobSpec) -> dict:
    tags = {
        "automl_job_id": spec.job_id,
        "automl_dag_run_id": spec.airflow_dag_run_id or "",
        "automl_algorithm": spec.algorithm,
        "automl_preset": spec.preset,
        "automl_problem_type": spec.problem_type,
        "automl_source_table": spec.source_table,
        "automl_dag_id": spec.dag_id or "",
        "automl_domain": spec.domain or "",
        "automl_owner": spec.owner or "",
        "automl_feature_engineering_job_id": spec.feature_engineering_job_id or "",
    }
    return {k: v for k, v in tags.items() if v}


def run_job(spec: dict) -> dict:
    """Train, log and register. Returns {"mlflow_run_id", "registered_model_name",
    "model_version", "mlflow_experiment_id", "metrics"}. Raises TrainError with
    a short message for problems of the job's data or spec."""
    _setup_logging()
    from . import warehouse
    from .search import budget_for
    from .trainers import get_trainer
    from .tracking import ensure_experiment, finite, flat_params

    js = JobSpec.from_dict(spec)
    t0 = time.monotonic()
    log.info("job %s: %s/%s preset %s on %s", js.job_id, js.problem_type, js.algorithm,
             js.preset, js.source_table)
    conn = warehouse.resolve_conn(js.warehouse_conn_id)
    df = warehouse.load_table(conn, js.source_table)
    load_s = time.monotonic() - t0
    log.info("loaded %d rows x %d columns in %.2fs", len(df), df.shape[1], load_s)
    trainer = get_trainer(js.algorithm)
    budget = budget_for(js.preset)

    import mlflow

    if js.mlflow_tracking_uri:
        mlflow.set_tracking_uri(js.mlflow_tracking_uri)
    exp_id = ensure_experiment(js.mlflow_experiment_name)
    with mlflow.start_run(experiment_id=exp_id, run_name=js.name[:250], tags=_tags(js)) as run:
        t1 = time.monotonic()
        outcome = trainer(df, js, budget)
        train_s = time.monotonic() - t1
        params = {"algorithm": js.algorithm, "preset": js.preset, "problem_type": js.problem_type,
                  "source_table": js.source_table, "budget_trials": budget.trials,
                  "budget_seconds": budget.seconds}
        params.update(outcome.params)
        mlflow.log_params(flat_params(params))
        mets = dict(outcome.metrics, train_seconds=train_s, load_seconds=load_s)
        mets = finite(mets)
        mlflow.log_metrics(mets)
        for name, obj in outcome.artifacts.items():
            mlflow.log_dict(obj, name)
        info = outcome.log_model(js.registered_model_name)
        version = getattr(info, "registered_model_version", None)
        run_id = run.info.run_id
    log.info("job %s done in %.1fs (training %.1fs): run %s, model %s version %s, metrics %s",
             js.job_id, time.monotonic() - t0, train_s, run_id, js.registered_model_name, version, mets)
    return {
        "mlflow_run_id": run_id,
        "mlflow_experiment_id": str(exp_id),
        "registered_model_name": js.registered_model_name,
        "model_version": None if version is None else str(version),
        "metrics": mets,
    }


def main(argv=None) -> int:
    """python -m automl_train.run SPEC.json: run a job from a JSON file (debugging)."""
    import json

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m automl_train.run SPEC.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        print(json.dumps(run_job(spec), indent=2))
    except TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
