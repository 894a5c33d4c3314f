"""test_healthz.py - GET /healthz: no authentication, JSON, 200 while the
database answers (the outage is in test_database_outage.py)."""
from conftest import assert_error


def test_healthz_ok_without_auth(api):
    r = api.request("GET", "/healthz")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json(), dict)


def test_healthz_ignores_a_bad_token(api):
    r = api.request("GET", "/healthz", token="garbage")
    assert r.status_code == 200, r.text


def test_healthz_get_only(api):
    r = api.request("PUT", "/healthz")
    assert_error(r, 405)
    assert r.headers["Allow"].strip() == "GET"
