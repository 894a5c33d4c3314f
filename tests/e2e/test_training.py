"""End to end through lighttpd, a real Airflow 3 and a real MLflow: every
algorithm trains on its sample table to `complete`, its MLflow run carries the
expected metrics and its registered model gets a new version; a missing table
fails with a message naming it; a killed run ends `failed` through
reconciliation; best_quality scores at least as well as fast.

All jobs are created up front (Airflow runs them side by side) and then
followed together, so the tier's wall time is about that of the slowest job."""
import time
import uuid

import pytest

TIMEOUT_S = 1500
SUFFIX = uuid.uuid4().hex[:8]

# name -> (problem_type, algorithm, table, preset, metrics the MLflow run must have)
CASES = {
    "lgbm-binary": ("binary_classification", "lightgbm_classifier", "sample_binary", "fast",
                    {"test_auc", "test_log_loss", "test_accuracy"}),
    "vw-multiclass": ("multiclass_classification", "vw_classifier", "sample_multiclass", "fast",
                      {"test_auc", "test_log_loss", "test_accuracy"}),
    "lgbm-regression": ("regression", "lightgbm_regressor", "sample_regression", "fast",
                        {"test_rmse", "test_mae", "test_r2"}),
    "vw-regression": ("regression", "vw_regressor", "sample_regression", "fast",
                      {"test_rmse", "test_mae", "test_r2"}),
    "lgbm-ranking": ("ranking", "lightgbm_ranker", "sample_ranking", "fast",
                     {"test_ndcg_at_5", "test_ndcg_at_10"}),
    "iforest-anomaly": ("anomaly_detection", "isolation_forest", "sample_anomaly", "fast",
                        {"test_precision_at_contamination", "test_recall_at_contamination"}),
    "vw-bandit": ("contextual_bandit", "vw_contextual_bandit", "sample_bandit", "fast",
                  {"test_policy_cost_ips", "test_logging_policy_cost"}),
    "lgbm-regression-best": ("regression", "lightgbm_regressor", "sample_regression",
                             "best_quality", {"test_rmse"}),
}


def create(http, api, name, problem, algorithm, table, preset="fast", **extra):
    body = {"name": f"e2e {name} {SUFFIX}", "domain": "e2e", "source_table": table,
            "problem_type": problem, "algorithm": algorithm, "preset": preset}
    body.update(extra)
    r = http.post(api, json=body, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def follow(http, api, ids, want=("complete", "failed"), timeout=TIMEOUT_S):
    """GET every job until each is in a status of `want`."""
    done, deadline = {}, time.monotonic() + timeout
    while len(done) < len(ids) and time.monotonic() < deadline:
        for job_id in ids:
            if job_id in done:
                continue
            r = http.get(f"{api}/{job_id}", timeout=60)
            assert r.status_code == 200, r.text
            job = r.json()
            if job["status"] in want:
                done[job_id] = job
        time.sleep(3)
    missing = [i for i in ids if i not in done]
    assert not missing, f"jobs not finished within {timeout}s: {missing}"
    return done


@pytest.fixture(scope="module")
def trained(http, api):
    jobs = {name: create(http, api, name, *case[:4]) for name, case in CASES.items()}
    finished = follow(http, api, [j["job_id"] for j in jobs.values()])
    return {name: finished[j["job_id"]] for name, j in jobs.items()}


def latest_metrics(mlflow, run_id):
    run = mlflow.get("runs/get", run_id=run_id)["run"]
    return run, {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


@pytest.mark.parametrize("name", list(CASES))
def test_algorithm_trains_to_complete(name, trained, mlflow):
    job = trained[name]
    assert job["status"] == "complete", (job["status"], job["error_message"])
    assert job["mlflow_run_id"], job
    assert job["error_message"] is None
    run, metrics = latest_metrics(mlflow, job["mlflow_run_id"])
    assert run["info"]["status"] == "FINISHED"
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    assert tags.get("automl_job_id") == job["job_id"]
    want = CASES[name][4]
    assert want <= set(metrics), f"{name}: metrics {sorted(metrics)} lack {sorted(want - set(metrics))}"
    print(f"{name}: " + ", ".join(f"{k}={metrics[k]:.4f}" for k in sorted(want)))
    versions = mlflow.get("model-versions/search",
                          filter=f"name='{job['registered_model_name']}'")["model_versions"]
    assert any(v["run_id"] == job["mlflow_run_id"] for v in versions), versions


def test_metrics_are_sane(trained, mlflow):
    _, m = latest_metrics(mlflow, trained["lgbm-binary"]["mlflow_run_id"])
    assert m["test_auc"] > 0.95
    _, m = latest_metrics(mlflow, trained["lgbm-regression"]["mlflow_run_id"])
    assert m["test_r2"] > 0.2


def test_best_quality_at_least_as_good_as_fast(trained, mlflow):
    """Same data, same split: the larger search must not do worse on held-out
    data (RMSE, lower is better); the defaults are one of its candidates."""
    _, fast = latest_metrics(mlflow, trained["lgbm-regression"]["mlflow_run_id"])
    _, best = latest_metrics(mlflow, trained["lgbm-regression-best"]["mlflow_run_id"])
    print(f"held-out RMSE on sample_regression: fast={fast['test_rmse']:.4f} "
          f"best_quality={best['test_rmse']:.4f} "
          f"(search trials {fast.get('search_trials')} vs {best.get('search_trials')})")
    assert best["test_rmse"] <= fast["test_rmse"]


def test_missing_source_table_fails_naming_the_table(http, api):
    job = create(http, api, "missing-table", "regression", "lightgbm_regressor",
                 f"no_such_table_{SUFFIX}")
    job = follow(http, api, [job["job_id"]])[job["job_id"]]
    assert job["status"] == "failed"
    assert f"no_such_table_{SUFFIX}" in (job["error_message"] or ""), job["error_message"]


def test_retry_of_a_retired_dag_publishes_it_again(http, api, airflow):
    """A failed job's DAG file is retired by the dispatcher AUTOML_DAG_RETENTION_S
    after it ended (tests/e2e/run.sh sets 30 s); a retry puts the file back,
    Airflow parses it again and the second attempt gets its own single run."""
    import os
    job = create(http, api, "retired", "regression", "lightgbm_regressor",
                 f"no_such_table_retired_{SUFFIX}")
    job = follow(http, api, [job["job_id"]])[job["job_id"]]
    assert job["status"] == "failed", job
    path = os.path.join(os.environ["AUTOML_DAGS_DIR"], job["airflow_dag_id"] + ".py")
    deadline = time.monotonic() + 300
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(2)
    assert not os.path.exists(path), "the DAG file of a long-failed job was not retired"
    dag_id = job["airflow_dag_id"]
    dag = airflow.get(f"/dags/{dag_id}")
    old_runs = airflow.get(f"/dags/{dag_id}/dagRuns")["total_entries"]
    print(f"Airflow after the file went: is_stale={dag.get('is_stale')}, runs={old_runs}")
    r = http.post(f"{api}/{job['job_id']}/trigger", timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    assert os.path.exists(path), "the retry publishes the DAG file again"
    with open(path) as f:
        assert f.read() == job["rendered_dag"]
    job = follow(http, api, [job["job_id"]])[job["job_id"]]
    assert job["status"] == "failed" and job["trigger_attempts"] == 2, job
    assert f"no_such_table_retired_{SUFFIX}" in (job["error_message"] or ""), job["error_message"]
    runs = airflow.get(f"/dags/{job['airflow_dag_id']}/dagRuns")
    assert sorted(r["dag_run_id"] for r in runs["dag_runs"]) == sorted(
        [job["airflow_dag_run_id"].replace("-a2", "-a1"), job["airflow_dag_run_id"]]), runs


def test_killed_run_ends_failed(http, api, airflow):
    """Mark the Airflow run failed from outside while it trains (as an operator
    would): Airflow 3 kills the running task (SIGTERM), and the job ends failed
    with a reason, whichever comes first: the DAG's own failure callback (the
    killed task) or the reconciler (the run's state), never left running."""
    job = create(http, api, "killed", "binary_classification", "lightgbm_classifier",
                 "sample_binary", preset="best_quality")
    job = follow(http, api, [job["job_id"]], want=("running", "complete", "failed"))[job["job_id"]]
    assert job["status"] == "running", job
    dag_id, run_id = job["airflow_dag_id"], job["airflow_dag_run_id"]
    airflow.patch(f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
    job = follow(http, api, [job["job_id"]])[job["job_id"]]
    assert job["status"] == "failed"
    msg = job["error_message"] or ""
    assert run_id in msg or "SIGTERM" in msg, msg
