"""test_ctl.py - automl-ctl against the same database, Airflow double and
configuration as the servers: migrate is idempotent, sync moves queued and
running jobs by their Airflow runs (checked in the database itself, not by a
GET that would reconcile on its own, with the tier's dispatcher paused so that
it does not reconcile them first), adopts a queued job whose run Airflow has
and leaves one whose run is not started yet alone; render-dag prints a DAG and
stores nothing."""
import ast
import json
import os
import subprocess
import uuid

import psycopg

from conftest import (JOBS, TIMEOUT, airflow_api, create_ok, env, job_body, paused_dispatcher,
                      run_of, sql, wait_started)


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


def dispatched(job_id):
    return sql("SELECT dispatched_at IS NOT NULL FROM training_jobs WHERE job_id = %s",
               (job_id,))[0][0]


def triggered(api, token, domain):
    """A job whose run the trigger's own try started."""
    job = create_ok(api, token, domain)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert r.json()["dispatched_at"], r.json()
    return r.json()


def test_sync_moves_jobs_without_a_get(lighttpd, domain, token, double, dispatcher):
    with paused_dispatcher(dispatcher):
        a, b, c = (triggered(lighttpd, token, domain) for _ in range(3))
        # queued, run not started (the dispatcher is paused): Airflow has no run
        d = create_ok(lighttpd, token, domain, auto_trigger=True)
        # queued, not recorded as started, but Airflow has the run (an answer lost)
        e = create_ok(lighttpd, token, domain, auto_trigger=True)
        r = airflow_api("POST", "/api/v2/dags/%s/dagRuns" % e["airflow_dag_id"],
                        {"dag_run_id": e["airflow_dag_run_id"], "logical_date": None,
                         "conf": {"automl_job_id": e["job_id"], "attempt": 1}})
        assert r.status_code == 200, r.text
        double.set_run_state(a["airflow_dag_id"], run_of(double, a)["run_id"], "success")
        double.set_run_state(b["airflow_dag_id"], run_of(double, b)["run_id"], "running")
        double.set_run_state(c["airflow_dag_id"], run_of(double, c)["run_id"], "failed")
        assert [db_status(j["job_id"]) for j in (a, b, c, d, e)] == ["queued"] * 5
        assert [dispatched(j["job_id"]) for j in (d, e)] == [False, False]
        p = ctl("sync")
        assert p.returncode == 0, p.stderr
        assert "%s queued -> complete" % a["job_id"] in p.stdout, p.stdout
        assert "%s queued -> running" % b["job_id"] in p.stdout, p.stdout
        assert "%s queued -> failed" % c["job_id"] in p.stdout, p.stdout
        assert [db_status(j["job_id"]) for j in (a, b, c)] == ["complete", "running", "failed"]
        # d: Airflow's 404 means "not started yet", never "failed"; e: adopted
        for j in (d, e):
            assert j["job_id"] not in p.stdout, p.stdout
        assert [db_status(j["job_id"]) for j in (d, e)] == ["queued", "queued"]
        assert [dispatched(j["job_id"]) for j in (d, e)] == [False, True]
        assert double.runs(d["airflow_dag_id"]) == []
        # once more: nothing of these moves again
        p = ctl("sync")
        assert p.returncode == 0, p.stderr
        for j in (a, b, c, d, e):
            assert j["job_id"] not in p.stdout
    # the dispatcher back: it starts d's run, and e keeps its one run
    wait_started(d)
    wait_started(e)
    assert [len(double.runs(j["airflow_dag_id"])) for j in (d, e)] == [1, 1]


def test_sync_with_airflow_down_changes_nothing(lighttpd, domain, token, double, dispatcher):
    with paused_dispatcher(dispatcher):
        a = triggered(lighttpd, token, domain)
        d = create_ok(lighttpd, token, domain, auto_trigger=True)   # not started yet
        double.set_run_state(a["airflow_dag_id"], run_of(double, a)["run_id"], "success")
        double.fault(path_regex="/dagRuns/", method="GET", mode="status", status=503, count=-1)
        p = ctl("sync")
        assert p.returncode == 0, p.stderr
        for j in (a, d):
            assert j["job_id"] not in p.stdout, p.stdout
        assert [db_status(j["job_id"]) for j in (a, d)] == ["queued", "queued"]
        assert dispatched(d["job_id"]) is False
        double.clear_faults()
    wait_started(d)


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
