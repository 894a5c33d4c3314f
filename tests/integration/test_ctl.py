"""test_ctl.py - automl-ctl against the same database, Airflow double and
configuration as the servers: migrate is idempotent, sync moves queued and
running jobs by their Airflow runs (checked in the database itself, not by a
GET that would reconcile on its own), render-dag prints a DAG and stores
nothing."""
import ast
import json
import os
import subprocess
import uuid

import psycopg

from conftest import JOBS, TIMEOUT, create_ok, env, job_body, run_of


def ctl(*args, stdin=None):
    e = dict(os.environ, AUTOML_CONFIG=env("AUTOML_TEST_CONFIG"))
    return subprocess.run([env("AUTOML_TEST_CTL_BIN"), *args], input=stdin, env=e,
                          capture_output=True, text=True, timeout=TIMEOUT)


def db_status(job_id):
    with psycopg.connect(env("AUTOML_TEST_DATABASE_URL")) as conn:
        row = conn.execute("SELECT status FROM training_jobs WHERE job_id = %s",
                           (job_id,)).fetchone()
    return row[0] if row else None


def test_migrate_idempotent():
    for _ in range(2):
        p = ctl("migrate")
        assert p.returncode == 0, p.stderr
    words = p.stdout.split()
    # "schema version N -> N": nothing left to do the second time
    assert words[-1] == words[-3], p.stdout


def test_sync_moves_jobs_without_a_get(lighttpd, domain, token, double):
    a = create_ok(lighttpd, token, domain, auto_trigger=True)
    b = create_ok(lighttpd, token, domain, auto_trigger=True)
    c = create_ok(lighttpd, token, domain, auto_trigger=True)
    double.set_run_state(a["airflow_dag_id"], run_of(double, a)["run_id"], "success")
    double.set_run_state(b["airflow_dag_id"], run_of(double, b)["run_id"], "running")
    double.set_run_state(c["airflow_dag_id"], run_of(double, c)["run_id"], "failed")
    assert [db_status(j["job_id"]) for j in (a, b, c)] == ["queued"] * 3
    p = ctl("sync")
    assert p.returncode == 0, p.stderr
    assert "%s queued -> complete" % a["job_id"] in p.stdout, p.stdout
    assert "%s queued -> running" % b["job_id"] in p.stdout, p.stdout
    assert "%s queued -> failed" % c["job_id"] in p.stdout, p.stdout
    assert [db_status(j["job_id"]) for j in (a, b, c)] == ["complete", "running", "failed"]
    # once more: nothing of these moves again
    p = ctl("sync")
    assert p.returncode == 0, p.stderr
    for j in (a, b, c):
        assert j["job_id"] not in p.stdout


def test_sync_with_airflow_down_changes_nothing(lighttpd, domain, token, double):
    a = create_ok(lighttpd, token, domain, auto_trigger=True)
    double.set_run_state(a["airflow_dag_id"], run_of(double, a)["run_id"], "success")
    double.fault(path_regex="/dagRuns/", method="GET", mode="status", status=503, count=-1)
    p = ctl("sync")
    assert a["job_id"] not in p.stdout
    assert db_status(a["job_id"]) == "queued"


def test_render_dag_stores_nothing(lighttpd, domain, token):
    dags = set(os.listdir(env("AUTOML_TEST_DAGS_DIR")))
    jid = str(uuid.uuid4())
    p = ctl("render-dag", "--owner", "ops", "--job-id", jid,
            stdin=json.dumps(job_body(domain, name="rendered only")))
    assert p.returncode == 0, p.stderr
    tree = ast.parse(p.stdout)
    consts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert jid in consts and "rendered only" in consts
    assert set(os.listdir(env("AUTOML_TEST_DAGS_DIR"))) == dags, "render-dag published a file"
    r = lighttpd.request("GET", JOBS, token=token, params={"domain": domain})
    assert r.json()["items"] == []
    assert db_status(jid) is None


def test_render_dag_invalid_spec(domain):
    p = ctl("render-dag", stdin=json.dumps({"name": "", "domain": domain}))
    assert p.returncode != 0
    assert "name" in p.stderr
    assert p.stdout == ""
