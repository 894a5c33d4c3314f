"""test_locks.py - the job row held by another transaction. A trigger is one
UPDATE statement: it waits for the holder (no NOWAIT) and then answers by the
status it finds once the lock is released: 200 (queued, the run started) when
the holder changed nothing, 409 when the holder moved the job on meanwhile (as
a concurrent trigger would). A write-back that has to wait past the store's
statement timeout answers 504, and nothing changes."""
import threading
import time

import psycopg

from conftest import (TIMEOUT, Api, assert_error, create_ok, env, get_ok, run_of, sql,
                      wait_for, wait_started)


def hold_row(job_id):
    conn = psycopg.connect(env("AUTOML_TEST_DATABASE_URL"))
    conn.execute("SELECT 1 FROM training_jobs WHERE job_id = %s FOR UPDATE", (job_id,))
    return conn   # transaction open until conn.rollback()/commit()/close()


def blocked_by(conn):
    """The sessions waiting for a lock that conn's transaction holds."""
    return sql("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
               (conn.info.backend_pid,))


def trigger_in_background(api, token, job_id):
    """Starts a trigger in a thread; the result dict gets "r" (the answer) and
    "at" (time.monotonic() when it arrived)."""
    out = {}

    def go():
        r = Api(api.name, api.base).trigger(token, job_id)
        out["at"] = time.monotonic()
        out["r"] = r

    th = threading.Thread(target=go)
    th.start()
    return th, out


def trigger_behind(api, token, job, holder, finish):
    """A trigger that has to wait for `holder`'s row lock; finish(holder) ends the
    holder's transaction. Returns (answer, when it arrived, when the lock went)."""
    th, out = trigger_in_background(api, token, job["job_id"])
    try:
        wait_for(lambda: blocked_by(holder), timeout=TIMEOUT,
                 what="the trigger to wait for the row lock")
        assert th.is_alive() and "r" not in out, "the trigger answered while the row was held"
        released = time.monotonic()
        finish(holder)
    finally:
        holder.close()
        th.join(TIMEOUT)
    assert not th.is_alive(), "the trigger still waits after the lock was released"
    return out["r"], out["at"], released


def test_trigger_of_a_held_job_waits_then_queues(api, domain, token, double):
    job = create_ok(api, token, domain)
    holder = hold_row(job["job_id"])
    r, answered, released = trigger_behind(api, token, job, holder, lambda c: c.rollback())
    assert r.status_code == 200, r.text
    assert answered >= released
    t = r.json()
    assert t["status"] == "queued"
    assert t["trigger_attempts"] == 1
    assert t["dispatched_at"], "the trigger's own try started the run"
    assert run_of(double, t)["run_id"] == t["airflow_dag_run_id"]
    assert_error(api.trigger(token, job["job_id"]), 409)


def test_trigger_behind_a_holder_that_moved_the_job_on_is_409(api, domain, token, double):
    job = create_ok(api, token, domain)
    holder = hold_row(job["job_id"])
    run_id = "automl-%s-a1" % job["job_id"]

    def concurrent_trigger_commits(c):
        # what a concurrent trigger that took the row first leaves behind
        c.execute("UPDATE training_jobs SET status = 'queued', trigger_attempts = 1,"
                  " airflow_dag_run_id = %s WHERE job_id = %s", (run_id, job["job_id"]))
        c.execute("INSERT INTO dispatch_queue (job_id, attempt, run_id) VALUES (%s, 1, %s)",
                  (job["job_id"], run_id))
        c.commit()

    r, answered, released = trigger_behind(api, token, job, holder, concurrent_trigger_commits)
    body = assert_error(r, 409)
    assert "queued" in body["detail"], body
    assert answered >= released
    # the other trigger's attempt is the only one: the dispatcher starts its run
    wait_started(job)
    got = get_ok(api, token, job["job_id"])
    assert (got["status"], got["trigger_attempts"], got["airflow_dag_run_id"]) == \
        ("queued", 1, run_id), got
    assert [x["run_id"] for x in double.runs(job["airflow_dag_id"])] == [run_id]


def test_writeback_stuck_on_a_lock_is_504(lighttpd, domain, token):
    job = create_ok(lighttpd, token, domain, auto_trigger=True)
    wait_started(job)
    conn = hold_row(job["job_id"])
    try:
        r = lighttpd.put_status(job["job_id"], {"status": "running", "mlflow_run_id": "m1"})
    finally:
        conn.rollback()
        conn.close()
    assert_error(r, 504)
    got = get_ok(lighttpd, token, job["job_id"])
    assert got["status"] == "queued"
    assert got["mlflow_run_id"] is None
    r = lighttpd.put_status(job["job_id"], {"status": "running", "mlflow_run_id": "m1"})
    assert r.status_code == 200, r.text
