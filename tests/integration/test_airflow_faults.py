"""test_airflow_faults.py - Airflow failing under a trigger (the double's
fault injection): 502 for an error answer, 503 for unavailable / dropped /
not parsed yet, 504 for a hang past AUTOML_AIRFLOW_TIMEOUT_MS. Each time the
job is left as it was (still ready, no Airflow run) with error_message set,
and a later trigger works. Also: an expired Airflow token is fetched again
transparently, and Airflow's 409 for our own run id counts as success."""
import re
import time

import pytest

from conftest import CFG, assert_error, create_ok, get_ok, wait_for

TIMEOUT_S = int(CFG["AUTOML_AIRFLOW_TIMEOUT_MS"]) / 1000.0
PARSE_WAIT_S = int(CFG["AUTOML_AIRFLOW_PARSE_WAIT_MS"]) / 1000.0


def dag_path(job, runs=False):
    p = "/api/v2/dags/%s" % re.escape(job["airflow_dag_id"])
    return p + ("/dagRuns$" if runs else "$")


def assert_left_ready(api, token, double, job, status_code, r):
    body = assert_error(r, status_code)
    assert body["detail"], body
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "ready", got
    assert got["error_message"], "error_message says what happened"
    assert double.runs(job["airflow_dag_id"]) == []
    return got


def recover(api, token, double, job):
    double.clear_faults()
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    assert t["error_message"] is None, "a successful trigger clears the old error"
    assert len(double.runs(job["airflow_dag_id"])) == 1


@pytest.mark.parametrize("status,expect", [(503, 503), (500, 503), (502, 503), (400, 502),
                                           (422, 502), (403, 502)])
def test_trigger_error_status(api, domain, token, double, status, expect):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job, runs=True), method="POST", mode="status",
                 status=status, count=-1)
    r = api.trigger(token, job["job_id"])
    assert_left_ready(api, token, double, job, expect, r)
    recover(api, token, double, job)


def test_unpause_error_503(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job), method="PATCH", mode="status", status=503, count=-1)
    assert_left_ready(api, token, double, job, 503, api.trigger(token, job["job_id"]))
    recover(api, token, double, job)


def test_connection_dropped_503(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job, runs=True), method="POST", mode="drop", count=-1)
    assert_left_ready(api, token, double, job, 503, api.trigger(token, job["job_id"]))
    recover(api, token, double, job)


def test_airflow_unreachable_503(api, domain, token, double):
    job = create_ok(api, token, domain)
    # every request of this DAG dropped, from the first one on
    double.fault(path_regex=dag_path(job).rstrip("$"), mode="drop", count=-1)
    assert_left_ready(api, token, double, job, 503, api.trigger(token, job["job_id"]))
    recover(api, token, double, job)


def test_hang_on_unpause_504(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job), method="PATCH", mode="hang",
                 seconds=TIMEOUT_S + 1.5, count=-1)
    t0 = time.time()
    r = api.trigger(token, job["job_id"])
    took = time.time() - t0
    assert_left_ready(api, token, double, job, 504, r)
    assert took >= TIMEOUT_S * 0.9, took
    recover(api, token, double, job)


def test_hang_on_trigger_504_then_retry_adopts_run_409(api, domain, token, double):
    """The slow Airflow creates the run after we gave up: the next trigger gets
    409 for our own deterministic run id and takes it as success."""
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job, runs=True), method="POST", mode="hang",
                 seconds=TIMEOUT_S + 1.0, count=1)
    r = api.trigger(token, job["job_id"])
    assert_error(r, 504)
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "ready"
    assert got["error_message"]
    runs = wait_for(lambda: double.runs(job["airflow_dag_id"]), timeout=10,
                    what="the slow run to appear")
    assert len(runs) == 1
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 1, runs
    assert runs[0]["attempts"] == 2, "the retry asked for the same run id (409)"
    if "airflow_dag_run_id" in t:
        assert t["airflow_dag_run_id"] == runs[0]["run_id"]


def test_dag_not_parsed_503_after_parse_wait(api, domain, token, double):
    double.config(parse_delay=3600)
    job = create_ok(api, token, domain)
    t0 = time.time()
    r = api.trigger(token, job["job_id"])
    took = time.time() - t0
    got = assert_left_ready(api, token, double, job, 503, r)
    assert took >= PARSE_WAIT_S * 0.9, "gave up before the parse wait: %.2fs" % took
    assert "pars" in got["error_message"].lower(), got["error_message"]
    double.config(parse_delay=0)
    double.register_dag(job["airflow_dag_id"], delay=0)
    recover(api, token, double, job)


def test_dag_parsed_within_wait_succeeds(api, domain, token, double):
    double.config(parse_delay=PARSE_WAIT_S / 3)
    job = create_ok(api, token, domain)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    assert len(double.runs(job["airflow_dag_id"])) == 1


def test_expired_airflow_token_refetched_transparently(api, domain, token, double):
    job = create_ok(api, token, domain)
    # make sure the service holds a token, then expire every token
    create_ok(api, token, domain, auto_trigger=True)
    before = double.stats()["token_requests"]
    double.expire_tokens()
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    assert len(double.runs(job["airflow_dag_id"])) == 1
    assert double.stats()["token_requests"] > before, "a new token was fetched"


def test_expire_tokens_fault_mid_trigger(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job, runs=True), method="POST", mode="expire_tokens", count=1)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert len(double.runs(job["airflow_dag_id"])) == 1


def test_airflow_401_always_502(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.fault(path_regex=dag_path(job, runs=True), method="POST", mode="status", status=401,
                 count=-1)
    assert_left_ready(api, token, double, job, 502, api.trigger(token, job["job_id"]))
    recover(api, token, double, job)


def test_token_endpoint_down_503(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.expire_tokens()
    double.fault(path_regex="^/auth/token$", mode="status", status=503, count=-1)
    r = api.trigger(token, job["job_id"])
    assert r.status_code in (502, 503), r.text
    assert_left_ready(api, token, double, job, r.status_code, r)
    recover(api, token, double, job)


def test_create_with_auto_trigger_while_airflow_down(api, domain, token, double):
    """Never half-done: either 201 with a ready job that says what went wrong,
    or an error and no job at all."""
    double.fault(path_regex="^/api/v2/dags/", mode="status", status=503, count=-1)
    r = api.create(token, dict(
        name="down", domain=domain, source_table="analytics.t", problem_type="regression",
        algorithm="vw_regressor", auto_trigger=True))
    if r.status_code == 201:
        job = r.json()
        assert job["status"] == "ready", job
        assert job["error_message"]
        assert double.runs(job["airflow_dag_id"]) == []
        recover(api, token, double, job)
    else:
        assert r.status_code in (502, 503, 504), r.text
        lst = api.request("GET", "/api/automl/train/jobs", token=token, params={"domain": domain})
        assert lst.json()["items"] == []


def test_reconcile_survives_airflow_down(api, domain, token, double):
    job = create_ok(api, token, domain, auto_trigger=True)
    double.fault(path_regex="/dagRuns/", method="GET", mode="status", status=503, count=-1)
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued"
    double.clear_faults()
    double.fault(path_regex="/dagRuns/", method="GET", mode="hang", seconds=TIMEOUT_S + 1, count=1)
    assert get_ok(api, token, job["job_id"])["status"] == "queued"
    double.clear_faults()
    runs = double.runs(job["airflow_dag_id"])
    double.set_run_state(job["airflow_dag_id"], runs[0]["run_id"], "running")
    assert get_ok(api, token, job["job_id"])["status"] == "running"
