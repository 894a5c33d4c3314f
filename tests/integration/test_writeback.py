"""test_writeback.py - PUT .../jobs/{job_id}/status, the DAG's write-back.

Reading of the contract used here: the write-back is authenticated by the
Authorization-PSK header alone (no bearer token); a missing PSK and a wrong
PSK are both authentication failures, so both answer 401 (403 is kept for
"authenticated, but not allowed", which a PSK holder always is).
Allowed: queued -> running|complete|failed, running -> running|complete|failed;
everything else is 409 and changes nothing. A DAG writes back once its run
has started, so the queued jobs here are dispatched first."""
import pytest

from conftest import CFG, assert_error, assert_422, create_ok, get_ok, hs256, run_of, wait_started


def queued_job(api, token, domain):
    """A queued job whose run the dispatcher has started."""
    job = create_ok(api, token, domain, auto_trigger=True)
    assert job["status"] == "queued", job
    wait_started(job)
    return job


def test_psk_missing_and_wrong_401(api, domain, token):
    job = queued_job(api, token, domain)
    r = api.put_status(job["job_id"], {"status": "running"}, psk=None)
    assert_error(r, 401)
    r = api.put_status(job["job_id"], {"status": "running"}, psk="wrong")
    assert_error(r, 401)
    r = api.put_status(job["job_id"], {"status": "running"}, psk=CFG["AUTOML_STATUS_PSK"] + "x")
    assert_error(r, 401)
    r = api.put_status(job["job_id"], {"status": "running"}, psk=CFG["AUTOML_STATUS_PSK"][:-1])
    assert_error(r, 401)
    # a bearer token is not a PSK, even an admin one
    r = api.request("PUT", "/api/automl/train/jobs/%s/status" % job["job_id"],
                    token=hs256("root", [], scope="automl:admin"), json_body={"status": "running"})
    assert_error(r, 401)
    assert get_ok(api, token, job["job_id"])["status"] == "queued"


def test_full_writeback_path(api, domain, token):
    job = queued_job(api, token, domain)
    r = api.put_status(job["job_id"], {"status": "running", "mlflow_run_id": "mlrun-123"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["status"] == "running"
    assert j["mlflow_run_id"] == "mlrun-123"
    # running -> running is allowed (progress)
    r = api.put_status(job["job_id"], {"status": "running"})
    assert r.status_code == 200, r.text
    assert r.json()["mlflow_run_id"] == "mlrun-123", "absent fields are kept"
    r = api.put_status(job["job_id"], {"status": "complete",
                                        "registered_model_name": "churn_model_v1"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["status"] == "complete"
    assert j["registered_model_name"] == "churn_model_v1"
    assert j["mlflow_run_id"] == "mlrun-123"
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "complete"
    assert got["registered_model_name"] == "churn_model_v1"
    # complete -> running / failed: impossible
    for to in ("running", "failed", "queued", "ready"):
        r = api.put_status(job["job_id"], {"status": to})
        assert_error(r, 409)
    assert get_ok(api, token, job["job_id"])["status"] == "complete"


def test_writeback_failed_with_message(api, domain, token):
    job = queued_job(api, token, domain)
    r = api.put_status(job["job_id"], {"status": "failed", "error_message": "label column missing"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "failed"
    assert got["error_message"] == "label column missing"
    # failed -> complete: 409
    assert_error(api.put_status(job["job_id"], {"status": "complete"}), 409)


@pytest.mark.parametrize("to", ["running", "complete", "failed", "queued", "ready"])
def test_writeback_on_ready_job_409(api, domain, token, to):
    job = create_ok(api, token, domain)
    assert_error(api.put_status(job["job_id"], {"status": to}), 409)
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "ready"
    assert got["mlflow_run_id"] is None


@pytest.mark.parametrize("to", ["queued", "ready"])
def test_writeback_backwards_409(api, domain, token, to):
    job = queued_job(api, token, domain)
    assert_error(api.put_status(job["job_id"], {"status": to}), 409)
    assert get_ok(api, token, job["job_id"])["status"] == "queued"


def test_writeback_validation(api, domain, token):
    job = queued_job(api, token, domain)
    r = api.put_status(job["job_id"], {"status": "finished"})
    assert_422(r, ("body", "status"))
    r = api.put_status(job["job_id"], {"status": "running", "mlflow_run_id": 5,
                                        "registered_model_name": []})
    assert_422(r, ("body", "mlflow_run_id"), ("body", "registered_model_name"))
    r = api.request("PUT", "/api/automl/train/jobs/%s/status" % job["job_id"],
                    data=b'{"status": ', headers={"Content-Type": "application/json",
                                                  "Authorization-PSK": CFG["AUTOML_STATUS_PSK"]})
    assert_422(r, ("body",))
    r = api.request("PUT", "/api/automl/train/jobs/%s/status" % job["job_id"],
                    data=b'{"status": "running"}',
                    headers={"Content-Type": "text/plain",
                             "Authorization-PSK": CFG["AUTOML_STATUS_PSK"]})
    assert_error(r, 415)
    assert get_ok(api, token, job["job_id"])["status"] == "queued"


def test_writeback_then_retry_by_user(api, domain, token, double):
    job = queued_job(api, token, domain)
    run1 = run_of(double, job)
    assert api.put_status(job["job_id"], {"status": "failed", "error_message": "oom"}).status_code == 200
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    assert t["error_message"] is None, "the retry clears the old error"
    assert t["trigger_attempts"] == 2
    assert t["dispatched_at"], "the retry's own try started its run"
    runs = double.runs(job["airflow_dag_id"])
    assert sorted(x["run_id"] for x in runs) == sorted([run1["run_id"], t["airflow_dag_run_id"]])
