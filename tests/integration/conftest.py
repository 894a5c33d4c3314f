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
        self.proc = subprocess.Popen([env("AUTOML_TEST_CTL_RUN"), "dispatch"], env=self.env(),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(os.path.dirname(
                                         env("AUTOML_TEST_CONFIG")), "dispatch.log"), "ab"))

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


def pytest_collection_modifyitems(session, config, items):
    """Tests that stop the database run last (pytest groups parametrized
    session fixtures, which would otherwise interleave them)."""
    items.sort(key=lambda it: os.path.basename(str(it.fspath)).startswith("test_zz_"))


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


def run_cgi(method, path, query="", token=None, body=None, content_type=None, extra=None):
    """Execute the built automl-api as a plain CGI program (one request)."""
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
