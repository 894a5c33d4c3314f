"""conftest.py - fixtures of the integration tier.

run.sh starts a private PostgreSQL, the Airflow test double, lighttpd
(mod_fastcgi) and Apache (mod_fcgid at the root, mod_cgid under /cgi-bin/)
in front of the built automl-api, then runs pytest with AUTOML_TEST_* set.
These fixtures only talk to what run.sh started; nothing is skipped when a
piece is missing: a missing variable is an error.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

JOBS = "/api/automl/train/jobs"
SEED_FIELDS = (
    "job_id", "name", "domain", "owner", "source_table", "problem_type", "algorithm",
    "preset", "status", "created_at", "updated_at", "rendered_dag", "mlflow_run_id",
    "mlflow_experiment_name", "registered_model_name", "airflow_dag_id",
    "airflow_dag_url", "error_message", "feature_engineering_job_id",
)
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def env(name):
    v = os.environ.get(name)
    if not v:
        raise RuntimeError("%s is not set: run the integration tests through "
                           "tests/integration/run.sh (make check)" % name)
    return v


def read_config(path):
    cfg = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.lstrip().startswith("#") or "=" not in line:
                continue
            k, _, v = line.partition("=")
            cfg[k.strip()] = v
    return cfg


CFG = read_config(env("AUTOML_TEST_CONFIG"))
VALGRIND = os.environ.get("AUTOML_TEST_VALGRIND") == "1"
TIMEOUT = 120 if VALGRIND else 30
KEYS_DIR = env("AUTOML_TEST_KEYS_DIR")


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _load_key(name):
    with open(os.path.join(KEYS_DIR, name), "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


RSA_KEY = _load_key("rsa.pem")
EC_KEY = _load_key("ec.pem")
ROGUE_KEY = _load_key("rogue-rsa.pem")


def claims(sub="alice", domains=(), scope=None, exp_in=3600, **extra):
    """Claims of a valid token; extra=None removes a claim (e.g. iss=None)."""
    now = int(time.time())
    c = {"sub": sub, "domains": list(domains or ()), "iat": now, "exp": now + exp_in}
    if domains is None:
        del c["domains"]
    if CFG.get("AUTOML_JWT_ISSUER"):
        c["iss"] = CFG["AUTOML_JWT_ISSUER"]
    if CFG.get("AUTOML_JWT_AUDIENCE"):
        c["aud"] = CFG["AUTOML_JWT_AUDIENCE"]
    if scope is not None:
        c["scope"] = scope
    for k, v in extra.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def hs256(sub="alice", domains=(), **kw):
    return jwt.encode(claims(sub, domains, **kw), CFG["AUTOML_JWT_SECRET"], algorithm="HS256")


def rs256(sub="alice", domains=(), key=None, kid="integ-rs", **kw):
    return jwt.encode(claims(sub, domains, **kw), key or RSA_KEY, algorithm="RS256",
                      headers={"kid": kid})


def es256(sub="alice", domains=(), kid="integ-es", **kw):
    return jwt.encode(claims(sub, domains, **kw), EC_KEY, algorithm="ES256",
                      headers={"kid": kid})


def raw_token(header, payload, signature=b""):
    """A hand-made JWS (for alg:none and algorithm confusion)."""
    return "%s.%s.%s" % (b64u(json.dumps(header)), b64u(json.dumps(payload)), b64u(signature))


def hmac_token(header, payload, key):
    signing = "%s.%s" % (b64u(json.dumps(header)), b64u(json.dumps(payload)))
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64u(sig)


def admin_token():
    return hs256("root-operator", [], scope="openid automl:admin")


class Api:
    """One way into automl-api (a web server and a mount point)."""

    def __init__(self, name, base):
        self.name, self.base = name, base.rstrip("/")
        self.http = requests.Session()

    def url(self, path):
        return self.base + path

    def request(self, method, path, token=None, json_body=None, data=None,
                headers=None, params=None):
        h = {}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if json_body is not None:
            data = json.dumps(json_body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        return self.http.request(method, self.url(path), data=data, headers=h,
                                 params=params, timeout=TIMEOUT, allow_redirects=False)

    def create(self, token, body):
        return self.request("POST", JOBS, token=token, json_body=body)

    def get(self, token, job_id):
        return self.request("GET", "%s/%s" % (JOBS, job_id), token=token)

    def trigger(self, token, job_id):
        return self.request("POST", "%s/%s/trigger" % (JOBS, job_id), token=token)

    def put_status(self, job_id, body, psk="__config__"):
        h = {}
        if psk == "__config__":
            psk = CFG["AUTOML_STATUS_PSK"]
        if psk is not None:
            h["Authorization-PSK"] = psk
        return self.request("PUT", "%s/%s/status" % (JOBS, job_id), json_body=body, headers=h)

    def __repr__(self):
        return "Api(%s)" % self.name


class Double:
    """The /_control API of tests/airflow_double.py."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def _call(self, method, op, body=None, params=None):
        r = requests.request(method, "%s/_control/%s" % (self.base, op), json=body,
                             params=params, timeout=10)
        assert r.status_code == 200, "double %s %s: %s %s" % (method, op, r.status_code, r.text)
        return r.json()

    def fault(self, **kw):
        return self._call("POST", "fault", kw)["id"]

    def clear_faults(self):
        self._call("POST", "clear_faults")

    def faults(self):
        return self._call("GET", "faults")["faults"]

    def runs(self, dag_id=None):
        return self._call("GET", "runs", params={"dag_id": dag_id} if dag_id else None)["runs"]

    def set_run_state(self, dag_id, run_id, state):
        return self._call("POST", "set_run_state",
                          {"dag_id": dag_id, "run_id": run_id, "state": state})

    def register_dag(self, dag_id, delay=0):
        return self._call("POST", "register_dag", {"dag_id": dag_id, "delay": delay})

    def dags(self):
        return self._call("GET", "dags")["dags"]

    def config(self, **kw):
        return self._call("POST", "config", kw)

    def stats(self):
        return self._call("GET", "stats")

    def expire_tokens(self):
        return self._call("POST", "expire_tokens")

    def mlflow_run(self, experiment, job_id, dag_run_id, run_id):
        """An MLflow run (the double serves MLflow's search endpoints too)."""
        return self._call("POST", "mlflow_run", {"experiment": experiment, "job_id": job_id,
                                                 "dag_run_id": dag_run_id, "run_id": run_id})


class Dispatcher:
    """The long-running `automl-ctl dispatch` of the tier (under valgrind in the
    valgrind pass). Tests that need Airflow left alone, or a dispatcher of their
    own (crash points, a short deadline), stop it with `with dispatcher.paused():`."""

    def __init__(self, extra_env=None):
        self.proc = None
        self.extra_env = extra_env or {}

    def env(self, **over):
        e = dict(os.environ)
        e["AUTOML_CONFIG"] = env("AUTOML_TEST_CONFIG")
        e.update(self.extra_env)
        e.update({k: str(v) for k, v in over.items()})
        return e

    def start(self):
        assert self.proc is None
        log = os.path.join(os.path.dirname(env("AUTOML_TEST_CONFIG")), "dispatch.log")
        seen = os.path.getsize(log) if os.path.exists(log) else 0
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([env("AUTOML_TEST_CTL_RUN"), "dispatch"], env=self.env(),
                                         stdout=subprocess.DEVNULL, stderr=err)
        # ready once it says so (its LISTEN is in place then)
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and self.proc.poll() is None:
            with open(log, "rb") as f:
                f.seek(seen)
                if b"dispatch: started" in f.read():
                    return
            time.sleep(0.05)
        raise AssertionError("automl-ctl dispatch did not start (exit %r)" % self.proc.poll())

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        rc = self.proc.wait(timeout=120)
        self.proc = None
        assert rc == 0, "automl-ctl dispatch exited %d on SIGTERM" % rc

    def paused(self):
        d = self

        class _Paused:
            def __enter__(self):
                d.stop()

            def __exit__(self, *exc):
                d.start()

        return _Paused()


def run_ctl(*args, timeout=None, **envover):
    """automl-ctl ARGS with the tier's configuration (environment overrides allowed)."""
    e = dict(os.environ)
    e["AUTOML_CONFIG"] = env("AUTOML_TEST_CONFIG")
    e.update({k: str(v) for k, v in envover.items()})
    return subprocess.run([env("AUTOML_TEST_CTL_RUN")] + list(args), env=e, capture_output=True,
                          text=True, timeout=timeout or TIMEOUT * 4)


@pytest.fixture(scope="session", autouse=True)
def dispatcher():
    d = Dispatcher()
    d.start()
    yield d
    d.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "stops_database: stops PostgreSQL; runs after every other test")


def pytest_collection_modifyitems(session, config, items):
    """Tests marked stops_database run last, whatever their file is called
    (pytest groups parametrized session fixtures, which would otherwise
    interleave them)."""
    items.sort(key=lambda it: it.get_closest_marker("stops_database") is not None)


SERVERS = {
    "lighttpd": lambda: env("AUTOML_TEST_LIGHTTPD_URL"),
    "apache": lambda: env("AUTOML_TEST_APACHE_URL"),
}


@pytest.fixture(scope="session")
def cfg():
    return CFG


@pytest.fixture(scope="session")
def double():
    return Double(env("AUTOML_TEST_AIRFLOW_URL"))


@pytest.fixture(autouse=True)
def _no_leftover_faults(double):
    """Every test starts and ends with no faults armed at the double."""
    double.clear_faults()
    yield
    double.clear_faults()
    double.config(parse_delay=0)


@pytest.fixture(scope="session", params=sorted(SERVERS))
def api(request):
    """The same test through lighttpd mod_fastcgi and Apache mod_fcgid."""
    return Api(request.param, SERVERS[request.param]())


@pytest.fixture(scope="session")
def lighttpd():
    return Api("lighttpd", SERVERS["lighttpd"]())


@pytest.fixture(scope="session")
def apache():
    return Api("apache", SERVERS["apache"]())


@pytest.fixture(scope="session")
def apache_cgi():
    return Api("apache-cgi", env("AUTOML_TEST_APACHE_CGI_URL"))


@pytest.fixture
def domain():
    """A domain of this test alone, so tests never see each other's jobs."""
    return "d_" + uuid.uuid4().hex[:12]


@pytest.fixture
def token(domain):
    return hs256("alice", [domain])


def job_body(domain, **over):
    b = {
        "name": "integ churn model",
        "domain": domain,
        "source_table": "analytics.churn_features",
        "problem_type": "binary_classification",
        "algorithm": "lightgbm_classifier",
        "preset": "fast",
        "label_column": "churned",
        "auto_trigger": False,
    }
    for k, v in over.items():
        if v is DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


DROP = object()


def create_ok(api, token, domain, **over):
    r = api.create(token, job_body(domain, **over))
    assert r.status_code == 201, "%s: %s %s" % (api, r.status_code, r.text)
    return r.json()


def get_ok(api, token, job_id):
    r = api.get(token, job_id)
    assert r.status_code == 200, "%s: %s %s" % (api, r.status_code, r.text)
    return r.json()


def run_of(double, job):
    """The one Airflow run of a job (asserts there is exactly one)."""
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 1, runs
    return runs[0]


def assert_error(r, status, detail_type=str):
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert "detail" in body, body
    assert isinstance(body["detail"], detail_type), body
    return body


def assert_401(r):
    assert_error(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(r.headers)


def assert_422(r, *locs):
    """422 FastAPI-style; each of locs (a tuple) must be one of the detail[].loc."""
    body = assert_error(r, 422, list)
    got = [tuple(d["loc"]) for d in body["detail"]]
    for d in body["detail"]:
        assert isinstance(d.get("msg"), str) and d["msg"], d
        assert isinstance(d.get("type"), str) and d["type"], d
    for loc in locs:
        assert tuple(loc) in got, "loc %r not in %r" % (loc, got)
    return body


def status_map(body):
    """The bulk status answer as {job_id: status}, whatever list/dict shape it has."""
    items = body
    if isinstance(body, dict):
        for key in ("items", "jobs", "statuses"):
            if key in body:
                items = body[key]
                break
    if isinstance(items, dict):
        return {k: (v["status"] if isinstance(v, dict) else v) for k, v in items.items()}
    return {i["job_id"]: i["status"] for i in items}


def wait_for(pred, timeout=10.0, step=0.1, what="condition"):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


def cgi_request(method, path, query="", token=None, body=None, content_type=None, extra=None):
    """The environment and standard input of one plain-CGI request to the built
    automl-api (extra: more variables, e.g. a crash point or a PSK header)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("HTTP_")}
    e.update({
        "AUTOML_CONFIG": env("AUTOML_TEST_CONFIG"),
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "integ-cgi",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "/cgi-bin/automl-api",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": "/cgi-bin/automl-api" + path + ("?" + query if query else ""),
    })
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        e["CONTENT_LENGTH"] = str(len(data))
        e["CONTENT_TYPE"] = content_type or "application/json"
    if token is not None:
        e["HTTP_AUTHORIZATION"] = "Bearer " + token
    if extra:
        e.update(extra)
    return e, data


def run_cgi(method, path, query="", token=None, body=None, content_type=None, extra=None):
    """Execute the built automl-api as a plain CGI program (one request)."""
    e, data = cgi_request(method, path, query, token, body, content_type, extra)
    p = subprocess.run([env("AUTOML_TEST_API_BIN")], input=data, env=e,
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, "CGI exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace"))
    head, sep, rest = p.stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = p.stdout.partition(b"\n\n")
    assert sep, "no CGI header block: %r" % p.stdout[:500]
    headers = {}
    for line in head.decode().splitlines():
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, rest


# ---- helpers of test_dispatch.py and test_crash.py (the dispatcher) ---------------
SCALE = 4 if VALGRIND else 1   # latency bounds under valgrind


def sql(query, params=()):
    """One statement on the tier's database (autocommit); the rows, or [] for none."""
    import psycopg
    with psycopg.connect(env("AUTOML_TEST_DATABASE_URL"), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def outbox(job_ids):
    """The dispatch_queue rows of these jobs: {job_id: (attempt, run_id, tries, last_error)}."""
    rows = sql("SELECT job_id::text, attempt, run_id, tries, last_error FROM dispatch_queue"
               " WHERE job_id = ANY(%s::uuid[])", (list(job_ids),))
    return {r[0]: tuple(r[1:]) for r in rows}


def undispatched(job_ids):
    """The jobs of job_ids that are not dispatched yet, or still have an outbox row."""
    rows = sql("SELECT j.job_id::text FROM training_jobs j LEFT JOIN dispatch_queue q"
               " USING (job_id) WHERE j.job_id = ANY(%s::uuid[])"
               " AND (j.dispatched_at IS NULL OR q.job_id IS NOT NULL)", (list(job_ids),))
    return {r[0] for r in rows}


def runs_by_dag(double):
    """Every run the double holds, as {dag_id: [run, ...]}."""
    out = {}
    for r in double.runs():
        out.setdefault(r["dag_id"], []).append(r)
    return out


def ctl_popen(*args, crash_at=None, plain=False, log=None, **envover):
    """automl-ctl ARGS in the background with the tier's configuration; its stdout
    and stderr are pipes, or both go to the file object log. plain=True (implied by
    crash_at) runs the binary itself, never the valgrind wrapper: a process that
    SIGKILLs itself leaves an unfinished valgrind log behind."""
    e = dict(os.environ)
    e["AUTOML_CONFIG"] = env("AUTOML_TEST_CONFIG")
    e.pop("AUTOML_TEST_CRASH_AT", None)
    if crash_at:
        e["AUTOML_TEST_CRASH_AT"] = crash_at
    e.update({k: str(v) for k, v in envover.items()})
    prog = env("AUTOML_TEST_CTL_BIN") if (plain or crash_at) else env("AUTOML_TEST_CTL_RUN")
    return subprocess.Popen([prog] + list(args), env=e, text=True,
                            stdout=log if log else subprocess.PIPE,
                            stderr=subprocess.STDOUT if log else subprocess.PIPE)


def cgi_killed(method, path, crash_at, token=None, body=None, timeout=None):
    """The built automl-api as a plain CGI program with AUTOML_TEST_CRASH_AT set:
    it must die by SIGKILL at that crash point (asserted); returns its stderr."""
    e, data = cgi_request(method, path, token=token, body=body,
                          extra={"AUTOML_TEST_CRASH_AT": crash_at})
    p = subprocess.run([env("AUTOML_TEST_API_BIN")], input=data, env=e, capture_output=True,
                       timeout=timeout or TIMEOUT)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == -9, "CGI with crash point %s exited %d (want SIGKILL): %s %s" % (
        crash_at, p.returncode, p.stdout[:300], err[-2000:])
    assert b"Status:" not in p.stdout, "it answered before the crash point: %r" % p.stdout[:300]
    return err


def dispatcher_running(d, timeout=None):
    """Until the tier's dispatcher d (fixture `dispatcher`) has logged that it runs:
    a SIGTERM that comes while automl-ctl is still starting (before its handler is
    in place) kills it instead of stopping it. Its log lines carry its pid (the
    valgrind wrapper execs, so the pid is the same)."""
    path = os.path.join(os.path.dirname(env("AUTOML_TEST_CONFIG")), "dispatch.log")
    mark = ("automl[%d] info: dispatch: started" % d.proc.pid).encode()
    seen = {"offset": 0, "tail": b""}

    def look():
        with open(path, "rb") as f:
            f.seek(seen["offset"])
            data = seen["tail"] + f.read()
            seen["offset"] = f.tell()
        seen["tail"] = data[-len(mark):]
        return mark in data

    wait_for(look, timeout=timeout or TIMEOUT, step=0.05, what="the dispatcher to run")


class dispatcher_paused:
    """`with dispatcher_paused(dispatcher):` = dispatcher.paused(), once it runs."""

    def __init__(self, d):
        self.d, self.p = d, d.paused()

    def __enter__(self):
        dispatcher_running(self.d)
        return self.p.__enter__()

    def __exit__(self, *exc):
        return self.p.__exit__(*exc)


# ---- helpers of test_airflow_faults.py, test_jobs.py, test_locks.py, test_ctl.py ------
COUNTED = 1000000   # the count of a counting fault


def counting_fault(double, **kw):
    """Arms a fault with a finite count (instead of -1), so that fired() can tell
    how often it fired. Default: mode "hang" for 0 s, which changes nothing and
    only counts the matching requests (a per-path request counter)."""
    f = dict(mode="hang", seconds=0, count=COUNTED)
    f.update(kw)
    f["armed"] = f["count"]    # kept by the double with the fault
    return double.fault(**f)


def fired(double, fault_id):
    """How often the counting fault fault_id has fired so far."""
    f = next(x for x in double.faults() if x["id"] == fault_id)
    return f["armed"] - f["count"]


def dag_path(job, what="dag"):
    """path_regex of the job's DAG in Airflow's API v2: what = "dag" (the DAG
    itself: lookup, pause flag), "runs" (the POST that starts a run) or "run" (one run)."""
    p = "^/api/v2/dags/%s" % re.escape(job["airflow_dag_id"])
    return p + {"dag": "$", "runs": "/dagRuns$", "run": "/dagRuns/[^/]+$"}[what]


def wait_started(job, timeout=None):
    """Until the job's run is started and recorded (dispatched_at set, no outbox
    row), read from the database: no GET reconciles behind the test's back."""
    try:
        wait_for(lambda: not undispatched([job["job_id"]]), timeout=timeout or TIMEOUT, step=0.1,
                 what="job %s to be dispatched" % job["job_id"])
    except AssertionError as e:
        raise AssertionError("%s; its outbox row: %r" % (e, outbox([job["job_id"]]))) from e


def airflow_api(method, path, body=None):
    """A request to the double's Airflow API v2 as a user of Airflow would make it
    (an operator pausing a DAG, a run made behind the service's back)."""
    base = env("AUTOML_TEST_AIRFLOW_URL")
    t = requests.post(base + "/auth/token", json={"username": CFG["AUTOML_AIRFLOW_USER"],
                                                 "password": CFG["AUTOML_AIRFLOW_PASSWORD"]},
                      timeout=10)
    assert t.status_code == 201, t.text
    return requests.request(method, base + path, json=body, timeout=10,
                            headers={"Authorization": "Bearer " + t.json()["access_token"]})


class paused_dispatcher:
    """`with paused_dispatcher(dispatcher):` is dispatcher.paused(), and on the way
    out it also waits until the restarted dispatcher has logged "dispatch: started"
    (from then on SIGTERM stops it with exit status 0): a stop that comes right
    after a start (the next test pausing it at once, the end of the session) would
    otherwise kill it before it handles signals."""

    LOG = os.path.join(os.path.dirname(env("AUTOML_TEST_CONFIG")), "dispatch.log")

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    def starts(self):
        try:
            with open(self.LOG, errors="replace") as f:
                return f.read().count("dispatch: started")
        except FileNotFoundError:
            return 0

    def __enter__(self):
        self.dispatcher.stop()

    def __exit__(self, *exc):
        n = self.starts()
        self.dispatcher.start()
        wait_for(lambda: self.starts() > n, timeout=TIMEOUT, what="the dispatcher to start")
