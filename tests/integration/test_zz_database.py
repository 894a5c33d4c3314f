"""test_zz_database.py - /healthz, and the database going away and coming
back under running FastCGI processes (503, then served again without a
restart). Named to run last: it stops and starts the PostgreSQL cluster."""
import subprocess

import pytest

from conftest import JOBS, assert_error, create_ok, env, get_ok, hs256, job_body, wait_for


def pg(cmd):
    p = subprocess.run(["bash", env("AUTOML_TEST_PG_SH"), cmd, env("AUTOML_TEST_PG_DIR")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_healthz_ok_without_auth(api):
    r = api.request("GET", "/healthz")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    r.json()


def test_database_down_then_back(api, domain, token):
    job = create_ok(api, token, domain)
    pg("stop")
    try:
        r = api.request("GET", "/healthz")
        assert r.status_code == 503, r.text
        r.json()
        assert_error(api.get(token, job["job_id"]), 503)
        r = api.create(token, job_body(domain))
        assert r.status_code in (503, 504), r.text
        assert "detail" in r.json()
        # authentication and validation still answer without the database
        assert api.request("GET", JOBS).status_code == 401
        assert api.get(token, "not-a-uuid").status_code == 422
    finally:
        pg("start")
    wait_for(lambda: api.request("GET", "/healthz").status_code == 200, timeout=30,
             what="healthz to recover")
    assert get_ok(api, token, job["job_id"])["job_id"] == job["job_id"]
    r = api.request("GET", JOBS, token=token, params={"domain": domain})
    assert len(r.json()["items"]) == 1, "the create during the outage stored nothing"
