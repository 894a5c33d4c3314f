#!/usr/bin/env python3
"""airflow_double.py - a small, fault-injecting stand-in for the Airflow REST API.

Speaks the part of Airflow 3 (API v2, JWT from /auth/token) and Airflow 2
(API v1, HTTP basic auth) that automl-api uses, so unit and integration tests
can run without Airflow. It is a test tool only: state lives in memory.
Python 3 standard library only.

Usage:
  python3 airflow_double.py --port N [--host 127.0.0.1] [--user admin] [--password admin]
        [--token-lifetime S] [--dags-dir DIR] [--parse-delay S] [--state-file F]
        [--exit-with-parent] [--verbose]
  --port 0 picks a free port. The first line on stdout is always "PORT <n>" (flushed).
  --exit-with-parent  exit as soon as the process that started the double is gone.
  --verbose         log every request to stderr.  SIGTERM or SIGINT stop the double.
  --token-lifetime  seconds a token from /auth/token stays valid (default 3600), then
                    401 {"detail": "Token expired"}.
  --dags-dir        a DAG is "parsed" once {dag_id}.py exists in DIR (or after register_dag).
  --parse-delay     ... but only S seconds after the double first saw it (404 until then).
  --state-file      after every change, the DAGs and runs are written there as JSON
                    ({"dags": {...}, "runs": [...]}), atomically; read back at start if present.

Airflow endpoints (v = 1 or 2; v2 wants "Authorization: Bearer <token>", v1 basic auth):
  POST  /auth/token                      {"username","password"} -> 201 {"access_token"}
  GET   /api/v{1,2}/dags/{dag_id}        200 DAG | 404 until parsed
  PATCH /api/v{1,2}/dags/{dag_id}        {"is_paused": bool} (?update_mask=is_paused ok)
  POST  /api/v{1,2}/dags/{dag_id}/dagRuns {"dag_run_id","logical_date","conf"}: 200 run
        (state "queued"); 409 duplicate dag_run_id; 404 DAG not parsed; 400 conf not an
        object; 422 unknown keys, or (v2) "logical_date" key missing.
  GET   /api/v{1,2}/dags/{dag_id}/dagRuns/{run_id}  200 run | 404
  PATCH /api/v{1,2}/dags/{dag_id}/dagRuns/{run_id}  {"state": queued|success|failed} -> 200 run
  GET   /api/v{1,2}/importErrors[?filename=F]  {"import_errors": [...], "total_entries"} (v2
        filters by the exact bundle-relative filename, as Airflow 3 does)
  A DAG parsed from --dags-dir starts paused unless its source says
  is_paused_upon_creation=False (as Airflow does).
  Errors are JSON {"detail": "...", "status": n, "title": "..."}.

Control API (no auth, never subject to faults; JSON in and out, 400 on bad input):
  POST /_control/fault  {"path_regex": re (searched in the path without query, default ".*"),
                         "method": "POST" (optional, default any), "mode": "status"|"drop"|
                         "hang"|"expire_tokens", "status": 503 (mode status), "detail": text
                         (optional), "count": N (times it fires, -1 = forever, default 1),
                         "seconds": S (mode hang, default 30)} -> {"id": n}
        status: answer with that status; drop: read the request, close the socket without
        answering; hang: sleep S seconds, then handle the request normally (so a trigger
        that hangs past the client's timeout still creates its run, as a slow Airflow
        would); expire_tokens: every token issued so far expires, then the request is
        handled (so it gets 401 "Token expired").  The first matching fault fires.
  GET  /_control/faults                   -> {"faults": [...]} (with remaining counts)
  POST /_control/clear_faults             forget all faults, keep everything else
  POST /_control/reset                    forget runs, registered DAGs, faults, tokens, stats
  GET  /_control/runs[?dag_id=D]          -> {"count": n, "runs": [{"dag_id","run_id","conf",
                                             "state","logical_date","attempts"}]}
                                             (attempts = trigger POSTs for that run id,
                                             including the 409s)
  GET  /_control/stats                    -> {"token_requests","tokens_issued","triggers",
                                             "runs_created","faults_fired","requests":
                                             {"METHOD /path": n}}
  POST /_control/set_run_state            {"dag_id","run_id","state"} -> the run | 404
  GET  /_control/dags                     -> {"dags": {dag_id: {"is_paused","parsed",
                                             "registered"}}} (DAGs seen so far)
  POST /_control/register_dag             {"dag_id", "delay": S (optional, default
                                             --parse-delay)} -> {"dag_id","parsed"}
  POST /_control/expire_tokens            every token issued so far expires now
  POST /_control/config                   {"token_lifetime": S, "parse_delay": S} (either)
  POST /_control/import_error             {"filename", "stack_trace"}: listed by /importErrors
  POST /_control/mlflow_run               {"experiment","job_id","dag_run_id","run_id"}: a run
                                             the MLflow endpoints below will find by its tags

MLflow endpoints (the two the service uses to find a run a DAG could not report; no auth):
  GET  /api/2.0/mlflow/experiments/get-by-name?experiment_name=E  200 | 404 RESOURCE_DOES_NOT_EXIST
  POST /api/2.0/mlflow/runs/search  {"experiment_ids", "filter": "tags.automl_job_id = 'J' and
        tags.automl_dag_run_id = 'R'", ...} -> {"runs": [{"info": {"run_id"}}]} (newest first)
"""
import argparse
import base64
import datetime
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit, parse_qs

V2_KEYS = {"dag_run_id", "logical_date", "conf", "data_interval_start", "data_interval_end",
           "run_after", "note"}
V1_KEYS = {"dag_run_id", "logical_date", "execution_date", "conf", "data_interval_start",
           "data_interval_end", "note"}
LOCK = threading.Lock()
PARENT = os.getppid()   # recorded as early as possible, for --exit-with-parent


class HttpError(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class State:
    def __init__(self, opts):
        self.opts = opts
        self.reset()
        if opts.state_file and os.path.exists(opts.state_file):
            with open(opts.state_file) as f:
                saved = json.load(f)
            self.dags, self.runs = saved.get("dags", {}), saved.get("runs", [])

    def reset(self):
        self.dags = {}    # dag_id -> {"first_seen", "delay", "registered", "is_paused"}
        self.runs = []    # dicts, in creation order
        self.faults, self.fault_id = [], 0
        self.tokens = {}  # token -> expiry (epoch seconds)
        self.mlflow_runs = []  # {"experiment","experiment_id","job_id","dag_run_id","run_id"}
        self.import_errors = []  # {"import_error_id","timestamp","filename","bundle_name","stack_trace"}
        self.stats = {"token_requests": 0, "tokens_issued": 0, "triggers": 0,
                      "runs_created": 0, "faults_fired": 0, "requests": {}}

    def save(self):
        if not self.opts.state_file:
            return
        tmp = self.opts.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"dags": self.dags, "runs": self.runs}, f, indent=1)
        os.replace(tmp, self.opts.state_file)

    def dag(self, dag_id):
        """The DAG record if Airflow would have parsed it by now, else None."""
        d = self.dags.get(dag_id)
        if d is None and self.opts.dags_dir and re.fullmatch(r"[A-Za-z0-9_.-]+", dag_id) \
                and os.path.exists(os.path.join(self.opts.dags_dir, dag_id + ".py")):
            # like Airflow: paused at creation unless the DAG says otherwise
            try:
                with open(os.path.join(self.opts.dags_dir, dag_id + ".py"), errors="replace") as f:
                    paused = "is_paused_upon_creation=False" not in f.read()
            except OSError:
                paused = True
            d = self.dags[dag_id] = {"first_seen": time.time(), "delay": self.opts.parse_delay,
                                     "registered": False, "is_paused": paused}
            self.save()
        if d is None or time.time() - d["first_seen"] < d["delay"]:
            return None
        return d

    def run(self, dag_id, run_id):
        return next((r for r in self.runs if r["dag_id"] == dag_id and r["run_id"] == run_id), None)


def dag_json(dag_id, d):
    return {"dag_id": dag_id, "dag_display_name": dag_id, "is_paused": d["is_paused"],
            "is_active": True, "fileloc": dag_id + ".py", "tags": []}


def run_json(r):
    return {"dag_id": r["dag_id"], "dag_run_id": r["run_id"], "state": r["state"],
            "logical_date": r["logical_date"], "conf": r["conf"], "run_type": "manual",
            "queued_at": r["queued_at"], "start_date": None, "end_date": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "airflow-double/1"
    disable_nagle_algorithm = True   # no 40 ms delayed-ACK stalls on kept-alive connections

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("airflow-double: " + (fmt % args) + "\n")

    def do_GET(self): self.dispatch()
    def do_POST(self): self.dispatch()
    def do_PATCH(self): self.dispatch()
    def do_DELETE(self): self.dispatch()

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def json_body(self):
        if not self.raw:
            return {}
        try:
            return json.loads(self.raw)
        except ValueError:
            raise HttpError(400, "body is not JSON") from None

    def dispatch(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(n) if n > 0 else b""
        url = urlsplit(self.path)
        path, self.query = url.path, parse_qs(url.query)
        st = self.server.state
        try:
            if path.startswith("/_control/"):
                with LOCK:
                    try:
                        result = self.control(st, path[len("/_control/"):])
                    except (TypeError, ValueError, AttributeError) as e:
                        raise HttpError(400, "bad control request: %s" % e) from e
                return self.reply(200, result)
            if self.fault(st, path):
                return
            with LOCK:
                key = self.command + " " + re.sub(r"/dags/[^/]+", "/dags/{id}",
                                                  re.sub(r"/dagRuns/[^/]+", "/dagRuns/{id}", path))
                st.stats["requests"][key] = st.stats["requests"].get(key, 0) + 1
                self.reply(*self.airflow(st, path))
        except HttpError as e:
            self.reply(e.status, {"detail": e.detail, "status": e.status, "title": e.detail})
        except (ConnectionError, TimeoutError):
            raise
        except Exception as e:  # a bug in the double: say so instead of dropping the line
            sys.stderr.write("airflow-double: %s %s: %r\n" % (self.command, self.path, e))
            self.reply(500, {"detail": "double failed: %r" % e, "status": 500, "title": "error"})

    def fault(self, st, path):
        """Applies the first matching fault; True if the request is finished."""
        with LOCK:
            f = next((f for f in st.faults if f["count"] != 0
                      and (not f.get("method") or f["method"].upper() == self.command)
                      and re.search(f.get("path_regex", ".*"), path)), None)
            if f is None:
                return False
            if f["count"] > 0:
                f["count"] -= 1
            st.stats["faults_fired"] += 1
            if f["mode"] == "expire_tokens":
                st.tokens = {t: 0 for t in st.tokens}
        if f["mode"] == "status":
            status = int(f.get("status", 503))
            detail = f.get("detail", "injected fault")
            self.reply(status, {"detail": detail, "status": status, "title": detail})
            return True
        if f["mode"] == "drop":
            self.close_connection = True
            return True
        if f["mode"] == "hang":
            time.sleep(float(f.get("seconds", 30)))
        return False

    def control(self, st, op):
        body = self.json_body() if self.command == "POST" else {}
        if not isinstance(body, dict):
            raise HttpError(400, "body must be an object")
        if op == "fault" and self.command == "POST":
            if body.get("mode") not in ("status", "drop", "hang", "expire_tokens"):
                raise HttpError(400, "mode must be status, drop, hang or expire_tokens")
            if not isinstance(body.get("path_regex", ""), str) or \
                    not isinstance(body.get("method", ""), str):
                raise HttpError(400, "path_regex and method must be strings")
            try:
                re.compile(body.get("path_regex", ".*"))
                f = dict(body, count=int(body.get("count", 1)),
                         status=int(body.get("status", 503)), seconds=float(body.get("seconds", 30)))
            except (re.error, TypeError, ValueError) as e:
                raise HttpError(400, "bad fault: %s" % e) from e
            st.fault_id += 1
            f["id"] = st.fault_id
            st.faults.append(f)
            return {"id": f["id"]}
        if op == "faults":
            return {"faults": st.faults}
        if op == "clear_faults" and self.command == "POST":
            st.faults = []
            return {"faults": []}
        if op == "dags":
            return {"dags": {k: {"is_paused": d["is_paused"], "registered": d["registered"],
                                 "parsed": st.dag(k) is not None} for k, d in list(st.dags.items())}}
        if op == "reset" and self.command == "POST":
            st.reset()
            st.save()
            return {"reset": True}
        if op == "runs":
            dag_id = self.query.get("dag_id", [None])[0]
            runs = [dict(r) for r in st.runs if dag_id is None or r["dag_id"] == dag_id]
            return {"count": len(runs), "runs": runs}
        if op == "stats":
            return st.stats
        if op == "set_run_state" and self.command == "POST":
            r = st.run(str(body.get("dag_id")), str(body.get("run_id")))
            if r is None:
                raise HttpError(404, "no such run")
            if not isinstance(body.get("state"), str):
                raise HttpError(400, "state must be a string")
            r["state"] = body["state"]
            st.save()
            return run_json(r)
        if op == "register_dag" and self.command == "POST":
            dag_id = body.get("dag_id")
            if not isinstance(dag_id, str) or not dag_id:
                raise HttpError(400, "dag_id must be a non-empty string")
            delay = float(body.get("delay", st.opts.parse_delay))
            d = st.dags.setdefault(dag_id, {"first_seen": time.time(), "is_paused": True})
            d.update(registered=True, delay=delay)
            st.save()
            return {"dag_id": dag_id, "parsed": st.dag(dag_id) is not None}
        if op == "expire_tokens" and self.command == "POST":
            st.tokens = {t: 0 for t in st.tokens}
            return {"expired": len(st.tokens)}
        if op == "mlflow_run" and self.command == "POST":
            keys = ("experiment", "job_id", "dag_run_id", "run_id")
            if not all(isinstance(body.get(k), str) and body.get(k) for k in keys):
                raise HttpError(400, "experiment, job_id, dag_run_id and run_id are required strings")
            ids = {r["experiment"]: r["experiment_id"] for r in st.mlflow_runs}
            run = {k: body[k] for k in keys}
            run["experiment_id"] = ids.get(body["experiment"], str(len(ids) + 1))
            st.mlflow_runs.insert(0, run)
            return run
        if op == "import_error" and self.command == "POST":
            if not isinstance(body.get("filename"), str) or not isinstance(body.get("stack_trace"), str):
                raise HttpError(400, "filename and stack_trace are required strings")
            e = {"import_error_id": len(st.import_errors) + 1, "timestamp": now_iso(),
                 "filename": body["filename"], "bundle_name": "dags-folder",
                 "stack_trace": body["stack_trace"]}
            st.import_errors.append(e)
            return e
        if op == "config" and self.command == "POST":
            for k in ("token_lifetime", "parse_delay"):
                if k in body:
                    setattr(st.opts, k, float(body[k]))
            return {"token_lifetime": st.opts.token_lifetime, "parse_delay": st.opts.parse_delay}
        raise HttpError(404, "unknown control operation")

    def mlflow(self, st, op):
        if op == "experiments/get-by-name" and self.command == "GET":
            name = self.query.get("experiment_name", [""])[0]
            for r in st.mlflow_runs:
                if r["experiment"] == name:
                    return 200, {"experiment": {"experiment_id": r["experiment_id"], "name": name}}
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no experiment"}
        if op == "runs/search" and self.command == "POST":
            b = self.json_body()
            m = re.fullmatch(r"tags\.automl_job_id = '([^']*)' and tags\.automl_dag_run_id = '([^']*)'",
                             str(b.get("filter", "")))
            if not m or not isinstance(b.get("experiment_ids"), list):
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad search"}
            runs = [{"info": {"run_id": r["run_id"], "experiment_id": r["experiment_id"]}}
                    for r in st.mlflow_runs if r["experiment_id"] in b["experiment_ids"]
                    and (r["job_id"], r["dag_run_id"]) == m.groups()]
            return 200, {"runs": runs[:int(b.get("max_results", 1000))]}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "not here"}

    def authenticate(self, st, version):
        auth = self.headers.get("Authorization", "")
        if version == "2":
            if not auth.startswith("Bearer "):
                raise HttpError(401, "Not authenticated")
            expiry = st.tokens.get(auth[len("Bearer "):])
            if expiry is None:
                raise HttpError(401, "Invalid JWT token")
            if expiry <= time.time():
                raise HttpError(401, "Token expired")
            return
        try:
            user, _, pw = base64.b64decode(auth[len("Basic "):], validate=True).decode().partition(":")
        except ValueError:
            user = pw = None
        if not auth.startswith("Basic ") or (user, pw) != (st.opts.user, st.opts.password):
            raise HttpError(401, "Unauthorized")

    def airflow(self, st, path):
        """Handles one Airflow API request; returns (status, body) or raises HttpError."""
        if path == "/auth/token" and self.command == "POST":
            st.stats["token_requests"] += 1
            b = self.json_body()
            if not isinstance(b, dict) or (b.get("username"), b.get("password")) != \
                    (st.opts.user, st.opts.password):
                raise HttpError(401, "Invalid credentials")
            token = secrets.token_urlsafe(24)
            st.tokens[token] = time.time() + st.opts.token_lifetime
            st.stats["tokens_issued"] += 1
            return 201, {"access_token": token}
        if path.startswith("/api/2.0/mlflow/"):
            return self.mlflow(st, path[len("/api/2.0/mlflow/"):])
        m = re.fullmatch(r"/api/v([12])/importErrors", path)
        if m and self.command == "GET":
            self.authenticate(st, m.group(1))
            want = self.query.get("filename", [None])[0] if m.group(1) == "2" else None
            errs = [e for e in st.import_errors if want is None or e["filename"] == want]
            return 200, {"import_errors": errs, "total_entries": len(errs)}
        m = re.fullmatch(r"/api/v([12])/dags/([^/]+)(/dagRuns(?:/([^/]+))?)?", path)
        if not m:
            raise HttpError(404, "Not Found")
        version, dag_id, runs, run_id = m.group(1), unquote(m.group(2)), m.group(3), m.group(4)
        self.authenticate(st, version)
        d = st.dag(dag_id)
        if d is None:
            raise HttpError(404, "DAG with dag_id: '%s' was not found" % dag_id)
        if not runs and self.command == "GET":
            return 200, dag_json(dag_id, d)
        if not runs and self.command == "PATCH":
            b = self.json_body()
            if not isinstance(b, dict) or not isinstance(b.get("is_paused"), bool):
                raise HttpError(422, "is_paused must be a boolean")
            if self.query.get("update_mask", ["is_paused"]) != ["is_paused"]:
                raise HttpError(400, "only update_mask=is_paused is supported")
            d["is_paused"] = b["is_paused"]
            st.save()
            return 200, dag_json(dag_id, d)
        if runs and run_id is None and self.command == "POST":
            return self.trigger(st, version, dag_id)
        if runs and run_id is not None and self.command == "GET":
            r = st.run(dag_id, unquote(run_id))
            if r is None:
                raise HttpError(404, "The DagRun with dag_id: `%s` and run_id: `%s` was not found"
                                % (dag_id, unquote(run_id)))
            return 200, run_json(r)
        if runs and run_id is not None and self.command == "PATCH":
            r = st.run(dag_id, unquote(run_id))
            if r is None:
                raise HttpError(404, "The DagRun with dag_id: `%s` and run_id: `%s` was not found"
                                % (dag_id, unquote(run_id)))
            b = self.json_body()
            if not isinstance(b, dict) or b.get("state") not in ("queued", "success", "failed"):
                raise HttpError(422, "state must be queued, success or failed")
            r["state"] = b["state"]
            st.stats.setdefault("runs_patched", 0)
            st.stats["runs_patched"] += 1
            st.save()
            return 200, run_json(r)
        raise HttpError(405, "Method Not Allowed")

    def trigger(self, st, version, dag_id):
        st.stats["triggers"] += 1
        b = self.json_body()
        if not isinstance(b, dict):
            raise HttpError(422, "body must be an object")
        unknown = set(b) - (V2_KEYS if version == "2" else V1_KEYS)
        if unknown:
            raise HttpError(422, "Extra inputs are not permitted: %s" % ", ".join(sorted(unknown)))
        if version == "2" and "logical_date" not in b:
            raise HttpError(422, "Field required: logical_date")
        conf = b.get("conf") if b.get("conf") is not None else {}
        if not isinstance(conf, dict):
            raise HttpError(400, "conf must be an object")
        run_id = b.get("dag_run_id") or "manual__" + now_iso()
        if not isinstance(run_id, str) or not re.fullmatch(r"[A-Za-z0-9_.~:+-]+", run_id):
            raise HttpError(400, "invalid dag_run_id")
        old = st.run(dag_id, run_id)
        if old is not None:
            old["attempts"] += 1
            st.save()
            raise HttpError(409, "DAG run with run_id: `%s` already exists" % run_id)
        r = {"dag_id": dag_id, "run_id": run_id, "conf": conf, "state": "queued",
             "logical_date": b.get("logical_date"), "queued_at": now_iso(), "attempts": 1}
        st.runs.append(r)
        st.stats["runs_created"] += 1
        st.save()
        return 200, run_json(r)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="Airflow REST API test double")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default="admin")
    p.add_argument("--token-lifetime", type=float, default=3600.0)
    p.add_argument("--dags-dir")
    p.add_argument("--parse-delay", type=float, default=0.0)
    p.add_argument("--state-file")
    p.add_argument("--exit-with-parent", action="store_true")
    p.add_argument("--verbose", action="store_true")
    opts = p.parse_args()
    srv = Server((opts.host, opts.port), Handler)
    srv.opts, srv.state = opts, State(opts)
    print("PORT %d" % srv.server_address[1], flush=True)
    if opts.exit_with_parent:
        def watch():
            while os.getppid() == PARENT:
                time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
