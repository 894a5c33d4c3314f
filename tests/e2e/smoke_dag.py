"""Smoke check of the stack that scripts/stack runs: an Airflow 3 DAG whose
training task runs in the training virtualenv (ExternalPythonOperator), uses
LightGBM, scikit-learn, Vowpal Wabbit and MLflow, and logs a run to MLflow.

Two uses of one file:
  * as a DAG file in the DAG folder (Airflow imports it; the DAG id is the file
    name without .py, the training python comes from AUTOML_TRAIN_PYTHON);
  * as a program: `eval "$(scripts/stack env)"; python3 tests/e2e/smoke_dag.py`
    copies itself into AUTOML_DAGS_DIR under a fresh name, waits until Airflow
    knows the DAG, triggers it over the REST API, waits for success, checks the
    MLflow run over MLflow's REST API, prints timings and removes the DAG again.
    Exit status 0 only when every check passed.  Standard library only.
"""

import os
import pathlib


def train_smoke():
    """Runs in the training virtualenv: every import stays inside."""
    import os

    import lightgbm
    import mlflow
    import numpy as np
    import psycopg
    import sklearn
    import vowpalwabbit
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    from vowpalwabbit import pyvw  # noqa: F401  (the classic import path must work)

    X, y = make_classification(n_samples=400, n_features=8, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    clf = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(Xtr, ytr)
    accuracy = float(clf.score(Xte, yte))

    vw = vowpalwabbit.Workspace("--quiet --loss_function logistic")
    for features, label in zip(Xtr[:100], ytr[:100], strict=True):
        vw.learn(f"{1 if label else -1} | " + " ".join(f"f{i}:{v:.4f}" for i, v in enumerate(features)))
    vw_pred = float(vw.predict("| " + " ".join(f"f{i}:{v:.4f}" for i, v in enumerate(Xte[0]))))
    vw.finish()

    with psycopg.connect(os.environ["AUTOML_WAREHOUSE_URL"]) as conn:
        warehouse_ok = conn.execute("SELECT 1").fetchone()[0] == 1

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("automl-smoke")
    with mlflow.start_run(run_name="smoke") as run:
        mlflow.log_param("n_estimators", 20)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.log_metric("vw_prediction", vw_pred)
        mlflow.log_text("smoke artifact\n", "smoke.txt")
    return {
        "mlflow_run_id": run.info.run_id,
        "accuracy": accuracy,
        "versions": {
            "lightgbm": lightgbm.__version__,
            "sklearn": sklearn.__version__,
            "mlflow": mlflow.__version__,
            "numpy": np.__version__,
        },
        "psk_present": bool(os.environ.get("AUTOML_STATUS_PSK")),
        "warehouse_ok": warehouse_ok,
    }


if __name__ != "__main__":
    import pendulum
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.providers.standard.operators.python import ExternalPythonOperator
    from airflow.sdk import dag, task

    @dag(
        dag_id=pathlib.Path(__file__).stem,
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
        tags=["automl-smoke"],
    )
    def automl_smoke():
        @task
        def check_warehouse_connection():
            return PostgresHook(postgres_conn_id="automl_warehouse").get_first("SELECT 1")[0]

        train = ExternalPythonOperator(
            task_id="train",
            python=os.environ.get("AUTOML_TRAIN_PYTHON", "python3"),
            python_callable=train_smoke,
            expect_airflow=False,
        )
        check_warehouse_connection() >> train

    automl_smoke()


def main():
    import json
    import shutil
    import sys
    import time
    import urllib.error
    import urllib.request

    env = os.environ
    airflow = env["AUTOML_AIRFLOW_URL"].rstrip("/")
    mlflow = env["AUTOML_MLFLOW_TRACKING_URI"].rstrip("/")
    dags_dir = pathlib.Path(env["AUTOML_DAGS_DIR"])
    keep = "--keep" in sys.argv

    def call(method, url, body=None, token=None, ok=(200,)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        if status not in ok:
            raise SystemExit(f"FAIL {method} {url}: {status} {text[:500]}")
        return status, (json.loads(text) if text else None)

    _, tok = call("POST", airflow + "/auth/token",
                  {"username": env["AUTOML_AIRFLOW_USER"], "password": env["AUTOML_AIRFLOW_PASSWORD"]},
                  ok=(200, 201))
    token = tok["access_token"]

    dag_id = f"automl_smoke_{int(time.time())}"
    target = dags_dir / f"{dag_id}.py"
    tmp = dags_dir / f".{dag_id}.tmp"
    shutil.copyfile(__file__, tmp)
    os.replace(tmp, target)
    t_drop = time.monotonic()
    print(f"dropped {target}")

    deadline = t_drop + 180
    while True:
        status, dag_json = call("GET", f"{airflow}/api/v2/dags/{dag_id}", token=token, ok=(200, 404))
        if status == 200:
            break
        if time.monotonic() > deadline:
            _, errs = call("GET", f"{airflow}/api/v2/importErrors", token=token)
            raise SystemExit(f"FAIL DAG not known after 180 s; import errors: {json.dumps(errs)[:1000]}")
        time.sleep(0.5)
    t_parsed = time.monotonic() - t_drop
    print(f"DAG {dag_id} answered 200 after {t_parsed:.1f} s; is_paused={dag_json['is_paused']}")
    if dag_json["is_paused"]:
        raise SystemExit("FAIL DAG is paused although is_paused_upon_creation=False")

    run_id = f"smoke-{dag_id}"
    body = {"dag_run_id": run_id, "logical_date": None, "conf": {}}
    t_trig = time.monotonic()
    _, run = call("POST", f"{airflow}/api/v2/dags/{dag_id}/dagRuns", body, token=token)
    print(f"triggered {run_id}: state {run['state']}")
    status, _ = call("POST", f"{airflow}/api/v2/dags/{dag_id}/dagRuns", body, token=token, ok=(409,))
    print("second trigger with the same dag_run_id: 409 as expected")

    deadline = t_trig + 600
    while True:
        _, run = call("GET", f"{airflow}/api/v2/dags/{dag_id}/dagRuns/{run_id}", token=token)
        if run["state"] in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL run still {run['state']} after 600 s")
        time.sleep(1)
    t_run = time.monotonic() - t_trig
    _, tis = call("GET", f"{airflow}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", token=token)
    for ti in tis["task_instances"]:
        print(f"  task {ti['task_id']}: {ti['state']} ({ti.get('duration')} s)")
    if run["state"] != "success":
        raise SystemExit(f"FAIL run ended {run['state']}")
    print(f"run success {t_run:.1f} s after the trigger (start {run['start_date']}, end {run['end_date']})")

    _, x = call("GET", f"{airflow}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/train"
                "/xcomEntries/return_value", token=token)
    value = x["value"]
    if isinstance(value, str):
        value = json.loads(value)
    print(f"return_value: {json.dumps(value)}")
    if not (value["psk_present"] and value["warehouse_ok"]):
        raise SystemExit("FAIL AUTOML_STATUS_PSK or the warehouse database was not reachable from the task")
    _, x = call("GET", f"{airflow}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/"
                "check_warehouse_connection/xcomEntries/return_value", token=token)
    if str(x["value"]) != "1":
        raise SystemExit(f"FAIL connection automl_warehouse answered {x['value']!r}")

    _, r = call("GET", f"{mlflow}/api/2.0/mlflow/runs/get?run_id={value['mlflow_run_id']}")
    metrics = {m["key"]: m["value"] for m in r["run"]["data"]["metrics"]}
    print(f"MLflow run {value['mlflow_run_id']}: status {r['run']['info']['status']}, metrics {metrics}")
    if r["run"]["info"]["status"] != "FINISHED" or "accuracy" not in metrics:
        raise SystemExit("FAIL MLflow run not FINISHED or without accuracy")
    _, arts = call("GET", f"{mlflow}/api/2.0/mlflow/artifacts/list?run_id={value['mlflow_run_id']}")
    if "smoke.txt" not in [f["path"] for f in arts.get("files", [])]:
        raise SystemExit(f"FAIL artifact smoke.txt missing: {arts}")

    if not keep:
        target.unlink()
        call("DELETE", f"{airflow}/api/v2/dags/{dag_id}", token=token, ok=(200, 204, 404))
    print(f"SMOKE OK: parse {t_parsed:.1f} s, run {t_run:.1f} s")


if __name__ == "__main__":
    main()
