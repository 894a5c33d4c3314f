"""test_airflow_faults.py - Airflow failing under a trigger (the double's fault
injection). A trigger never fails because of Airflow: whatever Airflow does (an
error answer, a dropped connection, a hang past the request timeout, a DAG it
has not parsed yet, a token it keeps refusing), the trigger answers 200 with
the job `queued` within the request timeout (AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS),
and no run exists while the fault lasts, although the running dispatcher
(conftest's `dispatcher`) keeps trying; once the fault is gone, the dispatcher
starts exactly one run, the attempt's, and the job shows dispatched_at. A
second trigger of the queued job is 409 meanwhile.

With Airflow healthy the trigger's own bounded try starts the run: dispatched_at
is in the answer and the run exists at once. An expired Airflow token is fetched
again within that try, and Airflow's 409 for our own run id is adoption. The
trigger never touches the DAG's pause flag; the dispatcher unpauses a DAG that
an operator paused under a queued run. A create never calls Airflow, and reads
stay up (bounded) while Airflow is down."""
import time

import pytest

from conftest import (CFG, RFC3339_Z, TIMEOUT, VALGRIND, airflow_api, assert_error,
                      counting_fault, create_ok, dag_path, fired, get_ok, job_body, outbox,
                      paused_dispatcher, run_of, sql, wait_for, wait_started)

REQUEST_TIMEOUT_S = int(CFG["AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS"]) / 1000.0
# A trigger answers well within this, even when Airflow hangs for 30 s.
QUICK_S = 2.0 * (4 if VALGRIND else 1)

# Faults on the POST that starts the job's run (counting_fault: finite counts).
FAULTS = {
    "503": dict(mode="status", status=503),
    "500": dict(mode="status", status=500),
    "502": dict(mode="status", status=502),
    "400": dict(mode="status", status=400),
    "422": dict(mode="status", status=422),
    "403": dict(mode="status", status=403),
    "drop": dict(mode="drop"),
    "hang": dict(mode="hang", seconds=30),
    # refused even with a freshly fetched token
    "401": dict(mode="status", status=401, detail="Invalid JWT token"),
}


def run_id(job, attempt=1):
    return "automl-%s-a%d" % (job["job_id"], attempt)


def trigger_queued(api, token, job, dispatched):
    """POST .../trigger: 200 `queued` (never a 5xx) within QUICK_S; dispatched:
    whether the answer says the run was started by the request's own try."""
    t0 = time.monotonic()
    r = api.trigger(token, job["job_id"])
    took = time.monotonic() - t0
    assert r.status_code == 200, "%s: %s %s" % (api, r.status_code, r.text)
    t = r.json()
    assert t["status"] == "queued", t
    assert t["error_message"] is None, t
    assert t["trigger_attempts"] == 1, t
    assert t["airflow_dag_run_id"] == run_id(job), t
    if dispatched:
        assert t["dispatched_at"] and RFC3339_Z.match(t["dispatched_at"]), t
    else:
        assert t["dispatched_at"] is None, t
    assert took < QUICK_S, "the trigger took %.2f s" % took
    return t


def assert_nothing_started_while(api, token, double, job, fault_id, at_most=0):
    """The fault lasts: the dispatcher meets it too (the fault fires again after
    the request's own try), and no run exists; a second trigger is 409."""
    n0 = fired(double, fault_id)
    assert n0 >= 1, "the trigger's own try did not reach Airflow"
    wait_for(lambda: fired(double, fault_id) > n0, timeout=TIMEOUT,
             what="the dispatcher to try under the fault")
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) <= at_most, runs
    got = get_ok(api, token, job["job_id"])
    assert (got["status"], got["dispatched_at"]) == ("queued", None), got
    assert_error(api.trigger(token, job["job_id"]), 409)
    row = outbox([job["job_id"]])[job["job_id"]]
    assert row[:2] == (1, run_id(job)), row
    assert row[3], "the outbox row says why the run is not started: %r" % (row,)
    assert len(double.runs(job["airflow_dag_id"])) <= at_most
    return row


def assert_started_once(api, token, double, job):
    """The dispatcher starts exactly one run, the attempt's; dispatched_at is set."""
    wait_started(job)
    runs = double.runs(job["airflow_dag_id"])
    assert [r["run_id"] for r in runs] == [run_id(job)], runs
    assert runs[0]["conf"] == {"automl_job_id": job["job_id"], "attempt": 1}, runs[0]
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued", got
    assert got["dispatched_at"] and RFC3339_Z.match(got["dispatched_at"]), got
    assert got["airflow_dag_run_id"] == run_id(job)
    assert got["error_message"] is None
    return runs[0]


# ---- Airflow healthy ------------------------------------------------------------------

def test_trigger_with_airflow_healthy_starts_the_run_itself(api, domain, token, double):
    job = create_ok(api, token, domain)
    trigger_queued(api, token, job, dispatched=True)
    # at once: the request's own try started it
    runs = double.runs(job["airflow_dag_id"])
    assert [r["run_id"] for r in runs] == [run_id(job)], runs
    assert runs[0]["attempts"] == 1
    assert outbox([job["job_id"]]) == {}, "no outbox row is left for the dispatcher"
    assert_error(api.trigger(token, job["job_id"]), 409)
    assert len(double.runs(job["airflow_dag_id"])) == 1


# ---- faults that last ---------------------------------------------------------------------

@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_trigger_under_fault_queues_then_dispatcher_starts_once(api, domain, token, double,
                                                                fault):
    job = create_ok(api, token, domain)
    fid = counting_fault(double, path_regex=dag_path(job, "runs"), method="POST", **FAULTS[fault])
    trigger_queued(api, token, job, dispatched=False)
    # a hung request still makes its run when the double wakes up (30 s later)
    assert_nothing_started_while(api, token, double, job, fid, at_most=1 if fault == "hang" else 0)
    double.clear_faults()
    assert_started_once(api, token, double, job)


def test_trigger_dag_not_parsed_yet(api, domain, token, double):
    """Airflow answers 404 for a DAG it has not parsed: queued; the dispatcher
    asks again until the DAG is there, then starts the run once."""
    job = create_ok(api, token, domain)
    fid = counting_fault(double, path_regex=dag_path(job, "runs"), method="POST")
    double.config(parse_delay=3600)   # the DAG is first seen by the trigger's try
    try:
        trigger_queued(api, token, job, dispatched=False)
    finally:
        double.config(parse_delay=0)
    row = assert_nothing_started_while(api, token, double, job, fid)
    assert "pars" in row[3].lower(), row
    assert double.dags()[job["airflow_dag_id"]]["parsed"] is False
    double.register_dag(job["airflow_dag_id"], delay=0)
    assert_started_once(api, token, double, job)


def test_trigger_with_token_endpoint_down(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.expire_tokens()
    fid = counting_fault(double, path_regex="^/auth/token$", mode="status", status=503)
    trigger_queued(api, token, job, dispatched=False)
    assert fired(double, fid) >= 1
    # the dispatcher's first try of this row has failed once it is taken again
    wait_for(lambda: (outbox([job["job_id"]]).get(job["job_id"]) or (0, 0, 0))[2] >= 2,
             timeout=TIMEOUT, what="the dispatcher to try twice")
    assert double.runs(job["airflow_dag_id"]) == []
    assert get_ok(api, token, job["job_id"])["dispatched_at"] is None
    assert_error(api.trigger(token, job["job_id"]), 409)
    double.clear_faults()
    assert_started_once(api, token, double, job)


# ---- faults the request's own try gets over ------------------------------------------------

def test_expired_token_is_fetched_again_within_the_trigger(api, domain, token, double):
    """Every token expires just as the run is asked for: 401 "Token expired", a
    new token, the same request again, accepted, all in the trigger's own try."""
    job = create_ok(api, token, domain)
    fid = counting_fault(double, path_regex=dag_path(job, "runs"), method="POST",
                         mode="expire_tokens", count=1)
    before = double.stats()["tokens_issued"]
    trigger_queued(api, token, job, dispatched=True)
    assert fired(double, fid) == 1
    assert double.stats()["tokens_issued"] > before, "a new token was fetched"
    runs = double.runs(job["airflow_dag_id"])
    assert [r["run_id"] for r in runs] == [run_id(job)], runs


def test_tokens_expired_between_requests(api, domain, token, double):
    job = create_ok(api, token, domain)
    double.expire_tokens()
    trigger_queued(api, token, job, dispatched=True)
    assert run_of(double, job)["run_id"] == run_id(job)


def test_409_for_our_own_run_id_is_adopted(api, domain, token, double):
    """The attempt's run exists already (a request whose answer was lost made it):
    Airflow's 409 for that run id means it is ours."""
    job = create_ok(api, token, domain)
    r = airflow_api("POST", "/api/v2/dags/%s/dagRuns" % job["airflow_dag_id"],
                    {"dag_run_id": run_id(job), "logical_date": None,
                     "conf": {"automl_job_id": job["job_id"], "attempt": 1}})
    assert r.status_code == 200, r.text
    trigger_queued(api, token, job, dispatched=True)
    runs = double.runs(job["airflow_dag_id"])
    assert [r["run_id"] for r in runs] == [run_id(job)], runs
    assert runs[0]["attempts"] == 2, "the trigger asked for the same run id (409)"
    assert outbox([job["job_id"]]) == {}


def test_slow_airflow_makes_the_run_after_the_request_gave_up(api, domain, token, double):
    """The POST hangs past the request timeout once, and Airflow makes the run
    after the trigger answered: one run all the same (the dispatcher's try for
    the same run id is either the one that makes it or a 409 adopting it)."""
    job = create_ok(api, token, domain)
    counting_fault(double, path_regex=dag_path(job, "runs"), method="POST", mode="hang",
                   seconds=REQUEST_TIMEOUT_S + 1.5, count=1)
    trigger_queued(api, token, job, dispatched=False)
    assert_started_once(api, token, double, job)
    runs = wait_for(lambda: [r for r in double.runs(job["airflow_dag_id"]) if r["attempts"] == 2],
                    timeout=TIMEOUT, what="the hung POST to arrive (409)")
    assert len(double.runs(job["airflow_dag_id"])) == 1, runs


# ---- create ---------------------------------------------------------------------------------

def test_create_with_auto_trigger_while_airflow_is_down(api, domain, token, double, dispatcher):
    """Create never calls Airflow: 201 `queued` at once; the dispatcher starts the
    run once Airflow is back."""
    fid = counting_fault(double, path_regex="^/api/v2/dags/[^/]*%s" % domain, mode="status",
                         status=503)
    with paused_dispatcher(dispatcher):
        t0 = time.monotonic()
        r = api.create(token, job_body(domain, name="down", problem_type="regression",
                                       algorithm="vw_regressor", auto_trigger=True))
        took = time.monotonic() - t0
        assert r.status_code == 201, r.text
        job = r.json()
        assert took < QUICK_S, took
        assert (job["status"], job["dispatched_at"], job["error_message"]) == ("queued", None, None)
        assert job["airflow_dag_run_id"] == run_id(job)
        assert fired(double, fid) == 0, "the create asked Airflow"
    # the dispatcher is back and meets the fault
    wait_for(lambda: fired(double, fid) > 0, timeout=TIMEOUT, what="the dispatcher to try")
    assert double.runs(job["airflow_dag_id"]) == []
    assert_error(api.trigger(token, job["job_id"]), 409)
    double.clear_faults()
    assert_started_once(api, token, double, job)


# ---- the pause flag ---------------------------------------------------------------------------

def test_trigger_does_not_touch_the_pause_flag(api, domain, token, double):
    job = create_ok(api, token, domain)
    fid = counting_fault(double, path_regex=dag_path(job), method="PATCH")
    trigger_queued(api, token, job, dispatched=True)
    assert fired(double, fid) == 0, "the trigger PATCHed the DAG"
    # Airflow made it unpaused: the rendered DAG says is_paused_upon_creation=False
    assert double.dags()[job["airflow_dag_id"]]["is_paused"] is False


def wait_reconciled_twice(job):
    """Until the dispatcher has reconciled the job twice from now on (the second
    reconcile began after this call), read from last_synced_at."""
    t0 = sql("SELECT clock_timestamp()")[0][0]
    q = "SELECT last_synced_at FROM training_jobs WHERE job_id = %s AND last_synced_at > %s"
    s1 = wait_for(lambda: sql(q, (job["job_id"], t0)), timeout=TIMEOUT,
                  what="a reconcile by the dispatcher")[0][0]
    wait_for(lambda: sql(q, (job["job_id"], s1)), timeout=TIMEOUT,
             what="a second reconcile by the dispatcher")


def test_dispatcher_unpauses_a_dag_paused_under_a_queued_run(lighttpd, domain, token, double):
    job = create_ok(lighttpd, token, domain)
    trigger_queued(lighttpd, token, job, dispatched=True)
    r = airflow_api("PATCH", "/api/v2/dags/%s" % job["airflow_dag_id"], {"is_paused": True})
    assert r.status_code == 200, r.text
    assert r.json()["is_paused"] is True
    wait_for(lambda: double.dags()[job["airflow_dag_id"]]["is_paused"] is False, timeout=TIMEOUT,
             what="the dispatcher to unpause the DAG")
    assert run_of(double, job)["state"] == "queued"
    assert get_ok(lighttpd, token, job["job_id"])["status"] == "queued"


def test_dispatcher_leaves_a_paused_dag_alone_when_its_run_is_not_queued(lighttpd, domain, token,
                                                                         double):
    job = create_ok(lighttpd, token, domain)
    trigger_queued(lighttpd, token, job, dispatched=True)
    double.set_run_state(job["airflow_dag_id"], run_id(job), "running")
    # the dispatcher (no GET here) has seen the run running: every later look does
    status = "SELECT status FROM training_jobs WHERE job_id = %s"
    wait_for(lambda: sql(status, (job["job_id"],)) == [("running",)], timeout=TIMEOUT,
             what="the dispatcher to see the run running")
    r = airflow_api("PATCH", "/api/v2/dags/%s" % job["airflow_dag_id"], {"is_paused": True})
    assert r.status_code == 200, r.text
    fid = counting_fault(double, path_regex=dag_path(job), method="PATCH")
    wait_reconciled_twice(job)
    assert fired(double, fid) == 0
    assert double.dags()[job["airflow_dag_id"]]["is_paused"] is True
    assert sql(status, (job["job_id"],)) == [("running",)]


# ---- reads while Airflow is down ---------------------------------------------------------------

def test_get_while_airflow_is_down(api, domain, token, double):
    job = create_ok(api, token, domain)
    trigger_queued(api, token, job, dispatched=True)
    fid = counting_fault(double, path_regex=dag_path(job, "run"), method="GET", mode="status",
                         status=503)
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued"
    assert fired(double, fid) >= 1
    double.clear_faults()
    counting_fault(double, path_regex=dag_path(job, "run"), method="GET", mode="hang",
                   seconds=30)
    t0 = time.monotonic()
    got = get_ok(api, token, job["job_id"])
    took = time.monotonic() - t0
    assert got["status"] == "queued"
    assert took < QUICK_S, "the read waited %.2f s for Airflow" % took
    double.clear_faults()
    double.set_run_state(job["airflow_dag_id"], run_id(job), "running")
    assert get_ok(api, token, job["job_id"])["status"] == "running"
