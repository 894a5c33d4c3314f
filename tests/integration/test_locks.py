"""test_locks.py - the job row held by another transaction (as a concurrent
trigger would hold it): a trigger answers 409 at once instead of waiting, a
write-back that has to wait past the store's statement timeout answers 504,
and in both cases nothing changes."""
import time

import psycopg

from conftest import assert_error, create_ok, env, get_ok


def hold_row(job_id):
    conn = psycopg.connect(env("AUTOML_TEST_DATABASE_URL"))
    conn.execute("SELECT 1 FROM training_jobs WHERE job_id = %s FOR UPDATE", (job_id,))
    return conn   # transaction open until conn.rollback()/close()


def test_trigger_of_a_held_job_is_409_at_once(api, domain, token, double):
    job = create_ok(api, token, domain)
    conn = hold_row(job["job_id"])
    try:
        t0 = time.time()
        r = api.trigger(token, job["job_id"])
        took = time.time() - t0
    finally:
        conn.rollback()
        conn.close()
    assert_error(r, 409)
    assert took < 5, "the trigger waited for the lock (%.1fs)" % took
    assert double.runs(job["airflow_dag_id"]) == []
    assert get_ok(api, token, job["job_id"])["status"] == "ready"
    # released: the trigger works
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text


def test_writeback_stuck_on_a_lock_is_504(lighttpd, domain, token):
    job = create_ok(lighttpd, token, domain, auto_trigger=True)
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
