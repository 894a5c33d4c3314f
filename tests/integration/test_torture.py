"""test_torture.py - allocation torture, in the manner of curl's memory
torture: every request kind is run as plain CGI once per N, with the N-th
allocation of the request failing (AUTOML_TEST_ALLOC_FAIL_AT=N: the request
arena, capped buffers and libcurl; not cjose, which crashes on a failed
allocation inside cjose_jws_import), until N passes what the request
allocates. Every N must answer a well-formed JSON error (4xx/5xx, never 500)
or the normal success, exit normally, and leave no half-done change; the ASan
pass of this tier also checks that no N leaks (the sanitizer reports of every
server-side process are checked at the end of run.sh)."""
import json
import os
import re
import subprocess
import time
import uuid

import psycopg
import pytest

from conftest import JOBS, TIMEOUT, cgi_request, env, hs256, job_body

COUNTED = re.compile(rb"alloc fault (\d+): (\d+) allocations counted")
MAX_N = 3000   # a request that allocates more than this is a finding in itself


def cgi(method, path, query="", token=None, body=None, psk=None, fail_at=0):
    extra = {}
    if psk is not None:
        extra["HTTP_AUTHORIZATION_PSK"] = psk
    if fail_at:
        extra["AUTOML_TEST_ALLOC_FAIL_AT"] = str(fail_at)
    e, data = cgi_request(method, path, query, token, body, extra=extra)
    p = subprocess.run([env("AUTOML_TEST_API_BIN")], input=data, env=e, capture_output=True,
                       timeout=TIMEOUT)
    assert p.returncode == 0, "N=%d: exit %d: %s" % (fail_at, p.returncode, p.stderr[-2000:])
    head, sep, rest = p.stdout.partition(b"\r\n\r\n")
    assert sep, "N=%d: no CGI header block: %r" % (fail_at, p.stdout[:300])
    status = 200
    for line in head.decode().splitlines():
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    m = COUNTED.search(p.stderr)
    counted = int(m.group(2)) if m else None
    return status, rest, counted


def torture(name, ok_status, run, check=None):
    """Runs run(n) for n = 1, 2, ... until the failure point lies beyond the
    request; returns how many failure points were tried."""
    n = 0
    while True:
        n += 1
        assert n <= MAX_N, "%s: more than %d allocations per request" % (name, MAX_N)
        status, body, counted = run(n)
        assert counted is not None, "%s N=%d: the binary did not report its count" % (name, n)
        if counted < n:      # the N-th allocation never came: a normal answer
            assert status == ok_status, "%s: untortured answer %d: %s" % (name, status, body[:300])
            if check:
                check(n, status, body)
            return n - 1
        assert status != 500 and 400 <= status <= 599 or status == ok_status, \
            "%s N=%d: answer %d: %s" % (name, n, status, body[:300])
        if status != ok_status:
            doc = json.loads(body)
            assert isinstance(doc, dict) and "detail" in doc, "%s N=%d: %r" % (name, n, body[:300])
        if check:
            check(n, status, body)


@pytest.fixture(scope="module")
def db():
    with psycopg.connect(env("AUTOML_TEST_DATABASE_URL"), autocommit=True) as c:
        yield c


def test_every_allocation_failure_of_every_request_is_answered_cleanly(db, domain):
    token = hs256("torturer", [domain])
    psk = None
    with open(env("AUTOML_TEST_CONFIG")) as f:
        for line in f:
            if line.startswith("AUTOML_STATUS_PSK="):
                psk = line.strip().split("=", 1)[1]
    tried = {}

    tried["healthz"] = torture("healthz", 200, lambda n: cgi("GET", "/healthz", fail_at=n))

    # create: per N a job of its own name; it exists completely (row, DAG file,
    # outbox row) or not at all
    tag = uuid.uuid4().hex[:8]
    dags = env("AUTOML_TEST_DAGS_DIR")

    def create(n):
        return cgi("POST", JOBS, token=token, fail_at=n,
                   body=job_body(domain, name="t%s %d" % (tag, n), auto_trigger=True))

    def create_check(n, status, body):
        rows = db.execute("SELECT job_id, airflow_dag_id, status, (SELECT count(*) FROM"
                          " dispatch_queue q WHERE q.job_id = t.job_id) + (dispatched_at IS NOT"
                          " NULL)::int FROM training_jobs t WHERE name = %s",
                          ("t%s %d" % (tag, n),)).fetchall()
        assert len(rows) <= 1
        if status == 201:
            assert len(rows) == 1, "N=%d: 201 without a job" % n
        if rows:
            _, dag_id, st, queued = rows[0]
            # queued with its outbox row, or already dispatched (the row is gone then)
            assert st == "queued" and queued == 1, (n, rows)
            assert os.path.exists(os.path.join(dags, dag_id + ".py")), "N=%d: job without DAG" % n
    tried["create"] = torture("create", 201, create, create_check)

    r = cgi("POST", JOBS, token=token, body=job_body(domain, name="t%s base" % tag))
    job = json.loads(r[1])
    jid = job["job_id"]
    tried["get"] = torture("get", 200, lambda n: cgi("GET", JOBS + "/" + jid, token=token,
                                                     fail_at=n))
    tried["list"] = torture("list", 200, lambda n: cgi(
        "GET", JOBS, "domain=%s&limit=5&status=ready" % domain, token=token, fail_at=n))
    tried["status_bulk"] = torture("status_bulk", 200, lambda n: cgi(
        "GET", JOBS + "/status", "ids=%s&ids=%s" % (jid, uuid.uuid4()), token=token, fail_at=n))

    # trigger: per N a fresh ready job; afterwards it is ready without an outbox
    # row or queued with exactly one, nothing in between
    fresh = {}

    def trigger(n):
        r = cgi("POST", JOBS, token=token, body=job_body(domain, name="t%s trig %d" % (tag, n)))
        fresh[n] = json.loads(r[1])["job_id"]
        return cgi("POST", JOBS + "/" + fresh[n] + "/trigger", token=token, fail_at=n)

    def trigger_check(n, status, body):
        # one snapshot: the background dispatcher may start the run any moment
        st, att, queued, dispatched = db.execute(
            "SELECT status, trigger_attempts, (SELECT count(*) FROM dispatch_queue q WHERE"
            " q.job_id = t.job_id), dispatched_at IS NOT NULL FROM training_jobs t"
            " WHERE job_id = %s", (fresh[n],)).fetchone()
        assert (st, att) in (("ready", 0), ("queued", 1)), (n, st, att)
        if st == "queued":
            assert queued == (0 if dispatched else 1), (n, st, queued, dispatched)
        else:
            assert queued == 0, (n, st, queued)
        if status == 200:
            assert st == "queued"
    tried["trigger"] = torture("trigger", 200, trigger, trigger_check)

    # write-back: running for a queued job, per N a fresh one
    def write_back(n):
        r = cgi("POST", JOBS, token=token,
                body=job_body(domain, name="t%s wb %d" % (tag, n), auto_trigger=True))
        j = json.loads(r[1])
        fresh[n] = j["job_id"]
        # as in life, the write-back comes from the run: wait until it was started
        for _ in range(int(TIMEOUT * 10)):
            if db.execute("SELECT dispatched_at IS NOT NULL FROM training_jobs WHERE job_id = %s",
                          (j["job_id"],)).fetchone()[0]:
                break
            time.sleep(0.1)
        return cgi("PUT", JOBS + "/" + j["job_id"] + "/status", psk=psk, fail_at=n,
                   body={"status": "running", "airflow_dag_run_id": j["airflow_dag_run_id"]})

    def write_back_check(n, status, body):
        st = db.execute("SELECT status FROM training_jobs WHERE job_id = %s",
                        (fresh[n],)).fetchone()[0]
        assert st in ("queued", "running"), (n, st)
        if status == 200:
            assert st == "running"
    tried["write_back"] = torture("write_back", 200, write_back, write_back_check)

    print("allocation failure points tried per request: %s" % tried)
    # /healthz allocates only inside libpq and json-c, which are not counted
    assert all(v >= 1 for k, v in tried.items() if k != "healthz"), tried
