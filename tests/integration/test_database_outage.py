"""test_database_outage.py - the database going away and coming back under
running FastCGI processes and the running dispatcher: 503 (JSON) while it is
down (a trigger too: the only 5xx a trigger has is the database's), served
again without a restart once it is back, by every process (store_ensure()
must notice a connection that died while the process was idle), and the
dispatcher starts runs again. Marked stops_database, so it runs after every
other test (conftest.py): it stops and starts the PostgreSQL cluster."""
import json
import subprocess

import pytest

from conftest import JOBS, assert_error, create_ok, env, job_body, run_cgi, run_of, wait_started

pytestmark = pytest.mark.stops_database


def pg(cmd):
    p = subprocess.run(["bash", env("AUTOML_TEST_PG_SH"), cmd, env("AUTOML_TEST_PG_DIR")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_database_down_then_back(lighttpd, apache, domain, token, double):
    servers = (lighttpd, apache)
    job = create_ok(lighttpd, token, domain)
    ready = create_ok(lighttpd, token, domain)
    pg("stop")
    try:
        for api in servers:
            r = api.request("GET", "/healthz")
            assert r.status_code == 503, (api, r.text)
            r.json()
            assert_error(api.get(token, job["job_id"]), 503)
            assert_error(api.trigger(token, ready["job_id"]), 503)
            r = api.create(token, job_body(domain))
            assert r.status_code in (503, 504), (api, r.text)
            assert "detail" in r.json()
            # authentication and validation still answer without the database
            assert api.request("GET", JOBS).status_code == 401
            assert api.get(token, "not-a-uuid").status_code == 422
        status, _, body = run_cgi("GET", "/healthz")
        assert status == 503, body
    finally:
        pg("start")
    for api in servers:
        # several rounds, so that every FastCGI process is asked
        codes = [api.get(token, job["job_id"]).status_code for _ in range(12)]
        assert codes == [200] * 12, (api, codes)
        codes = [api.request("GET", "/healthz").status_code for _ in range(8)]
        assert codes == [200] * 8, (api, codes)
        r = api.request("GET", JOBS, token=token, params={"domain": domain})
        assert len(r.json()["items"]) == 2, "the creates during the outage stored nothing"
    status, _, body = run_cgi("GET", JOBS + "/" + job["job_id"], token=token)
    assert status == 200 and json.loads(body)["job_id"] == job["job_id"]
    # the triggers during the outage changed nothing
    r = lighttpd.get(token, ready["job_id"])
    assert r.json()["status"] == "ready", r.text
    assert double.runs(ready["airflow_dag_id"]) == []
    # the dispatcher got over the outage: it starts the run of a new job
    new = create_ok(lighttpd, token, domain, auto_trigger=True)
    assert new["dispatched_at"] is None
    wait_started(new)
    assert run_of(double, new)["run_id"] == new["airflow_dag_run_id"]
