"""test_cgi.py - the same binary as plain CGI: through Apache's mod_cgid
(ScriptAlias /cgi-bin/, one process per request) and executed directly with
the CGI variables set, it answers exactly as under FastCGI."""
import json
import uuid

from conftest import (CFG, JOBS, assert_401, assert_422, assert_error, create_ok, get_ok,
                      job_body, run_cgi, run_of, wait_started)


def test_apache_cgi_get_same_as_fastcgi(lighttpd, apache, apache_cgi, domain, token):
    job = create_ok(lighttpd, token, domain)
    a = get_ok(lighttpd, token, job["job_id"])
    b = get_ok(apache, token, job["job_id"])
    c = get_ok(apache_cgi, token, job["job_id"])
    assert a == b == c


def test_apache_cgi_create_trigger_list(lighttpd, apache_cgi, domain, token, double):
    r = apache_cgi.create(token, job_body(domain))
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers.get("Location", "").endswith("/api/automl/train/jobs/" + job["job_id"])
    assert get_ok(lighttpd, token, job["job_id"]) == job
    r = apache_cgi.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    assert t["dispatched_at"], "the CGI request's own try started the run"
    assert run_of(double, job)["run_id"] == t["airflow_dag_run_id"]
    assert_error(apache_cgi.trigger(token, job["job_id"]), 409)
    r = apache_cgi.request("GET", JOBS, token=token, params={"domain": domain})
    assert r.status_code == 200
    assert [j["job_id"] for j in r.json()["items"]] == [job["job_id"]]


def test_apache_cgi_errors(apache_cgi, domain, token):
    assert_401(apache_cgi.request("GET", JOBS))
    assert_error(apache_cgi.get(token, str(uuid.uuid4())), 404)
    assert_422(apache_cgi.get(token, "nope"), ("path", "job_id"))
    r = apache_cgi.request("DELETE", JOBS, token=token)
    assert_error(r, 405)
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST"}
    assert_error(apache_cgi.request("GET", "/api/automl/nothing", token=token), 404)
    r = apache_cgi.request("GET", "/healthz")
    assert r.status_code == 200, r.text


def test_apache_cgi_writeback_psk(apache_cgi, lighttpd, domain, token):
    job = create_ok(lighttpd, token, domain, auto_trigger=True)
    wait_started(job)
    assert_error(apache_cgi.put_status(job["job_id"], {"status": "running"}, psk="bad"), 401)
    r = apache_cgi.put_status(job["job_id"], {"status": "running"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running"


def test_direct_cgi_get_same_as_fastcgi(lighttpd, domain, token):
    job = create_ok(lighttpd, token, domain)
    status, headers, body = run_cgi("GET", JOBS + "/" + job["job_id"], token=token)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == get_ok(lighttpd, token, job["job_id"])


def test_direct_cgi_create(lighttpd, domain, token):
    status, headers, body = run_cgi("POST", JOBS, token=token, body=job_body(domain))
    assert status == 201, body
    job = json.loads(body)
    assert headers["location"].endswith("/api/automl/train/jobs/" + job["job_id"])
    assert get_ok(lighttpd, token, job["job_id"]) == job


def test_direct_cgi_list_with_query(lighttpd, domain, token):
    create_ok(lighttpd, token, domain)
    b = create_ok(lighttpd, token, domain)
    status, _, body = run_cgi("GET", JOBS, query="domain=%s&limit=1" % domain, token=token)
    assert status == 200, body
    page = json.loads(body)
    assert [j["job_id"] for j in page["items"]] == [b["job_id"]]
    assert page["next_cursor"]


def test_direct_cgi_errors(domain, token):
    status, headers, body = run_cgi("GET", JOBS)
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert "detail" in json.loads(body)
    status, _, body = run_cgi("GET", "/api/automl/nope", token=token)
    assert status == 404
    status, headers, _ = run_cgi("PATCH", JOBS, token=token)
    assert status == 405
    assert {m.strip() for m in headers["allow"].split(",")} == {"GET", "POST"}
    status, _, body = run_cgi("GET", JOBS + "/bad", token=token)
    assert status == 422
    assert json.loads(body)["detail"][0]["loc"] == ["path", "job_id"]
    # 413 decided on CONTENT_LENGTH before reading
    status, _, _ = run_cgi("POST", JOBS, token=token, body=b"{}",
                           extra={"CONTENT_LENGTH": str(int(CFG["AUTOML_MAX_BODY"]) + 1)})
    assert status == 413
    status, _, _ = run_cgi("POST", JOBS, token=token, body=b"{}", content_type="text/plain")
    assert status == 415


def test_direct_cgi_script_name_prefix(lighttpd, domain, token):
    """Some servers leave PATH_INFO empty and put the path in the URI."""
    job = create_ok(lighttpd, token, domain)
    status, _, body = run_cgi("GET", "/cgi-bin/automl-api" + JOBS + "/" + job["job_id"],
                              token=token, extra={"SCRIPT_NAME": ""})
    assert status == 200, body
    assert json.loads(body)["job_id"] == job["job_id"]


def test_direct_cgi_healthz():
    status, headers, body = run_cgi("GET", "/healthz")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")


def test_apache_cgi_early_answers_with_unread_body(apache_cgi, lighttpd, domain, token):
    """Answers decided before the body is read (401, 415, 413, bad PSK) still
    arrive whole through mod_cgid: the program must consume the body it was
    sent, or the server sees a reset and truncates the response."""
    job = create_ok(lighttpd, token, domain, auto_trigger=True)
    big = b'{"name": "' + b"x" * 100000 + b'"}'
    cases = [
        ("POST", JOBS, None, {"Content-Type": "application/json"}, json.dumps(job_body(domain)).encode(), 401),
        ("POST", JOBS, token, {"Content-Type": "text/plain"}, json.dumps(job_body(domain)).encode(), 415),
        ("POST", JOBS, token, {"Content-Type": "application/json"}, big, 413),
        ("PUT", JOBS + "/" + job["job_id"] + "/status", None,
         {"Content-Type": "application/json", "Authorization-PSK": "bad"}, b'{"status": "running"}', 401),
        ("PUT", JOBS + "/not-a-uuid/status", None,
         {"Content-Type": "application/json", "Authorization-PSK": CFG["AUTOML_STATUS_PSK"]},
         b'{"status": "running"}', 422),
    ]
    for method, path, tok, headers, data, want in cases:
        for _ in range(5):
            r = apache_cgi.request(method, path, token=tok, data=data, headers=headers)
            assert r.status_code == want, (path, r.status_code, r.text)
            assert "detail" in r.json()
