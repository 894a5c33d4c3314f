"""Shared fixtures: a private PostgreSQL warehouse holding the sample tables
(tests/lib/pg.sh of the repository, or AUTOML_TEST_WAREHOUSE_URL when set) and
an MLflow tracking store in a temporary directory (SQLite backend)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

PYDIR = Path(__file__).resolve().parents[1]
REPO = PYDIR.parent
sys.path.insert(0, str(PYDIR))

from automl_train import samples, warehouse  # noqa: E402


@pytest.fixture(scope="session")
def warehouse_url():
    url = os.environ.get("AUTOML_TEST_WAREHOUSE_URL")
    tmp = None
    if not url:
        pg = REPO / "tests" / "lib" / "pg.sh"
        assert pg.exists(), f"{pg} is missing and AUTOML_TEST_WAREHOUSE_URL is not set"
        tmp = tempfile.mkdtemp(prefix="automl-pyt-")
        r = subprocess.run(["bash", str(pg), "start", tmp], capture_output=True, text=True)
        assert r.returncode == 0, f"pg.sh start failed: {r.stderr}"
        url = r.stdout.strip().splitlines()[-1]
    counts = samples.load(warehouse.parse_conn(url))
    assert set(counts) == set(samples.NAMES)
    yield url
    if tmp:
        subprocess.run(["bash", str(REPO / "tests" / "lib" / "pg.sh"), "stop", tmp],
                       capture_output=True, text=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_dir():
    d = tempfile.mkdtemp(prefix="automl-mlflow-")
    old = os.getcwd()
    os.chdir(d)   # the SQLite backend puts artifacts under ./mlruns
    yield d
    os.chdir(old)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_uri(mlflow_dir):
    return "sqlite:///" + os.path.join(mlflow_dir, "mlflow.db")


@pytest.fixture
def env_warehouse(warehouse_url, monkeypatch):
    """The training process sees the warehouse the way a DAG hands it over."""
    monkeypatch.setenv(warehouse.URI_ENV, warehouse_url)
    return warehouse_url


@pytest.fixture
def make_spec(mlflow_uri):
    def make(algorithm, problem_type, table, preset="fast", label="label", **kw):
        job_id = str(uuid.uuid4())
        spec = {
            "job_id": job_id, "name": f"test {algorithm} {preset}", "domain": "tests", "owner": "pytest",
            "source_table": table, "label_column": label, "problem_type": problem_type,
            "algorithm": algorithm, "preset": preset,
            "mlflow_experiment_name": f"automl-tests-{algorithm}",
            "registered_model_name": f"automl-tests-{algorithm}-{job_id[:8]}",
            "mlflow_tracking_uri": mlflow_uri, "dag_id": f"automl_{job_id.replace('-', '_')}",
            "airflow_dag_run_id": "manual__test", "feature_engineering_job_id": None,
            "warehouse_conn_id": "automl_warehouse",
        }
        spec.update(kw)
        return spec
    return make
