"""test_dispatch.py - the trigger/dispatch design through the real web servers.

A create (auto_trigger) or a trigger only commits the job as `queued` with an
outbox row (dispatch_queue) and never waits for Airflow; `automl-ctl dispatch`
starts the run later, exactly once, with the fixed run id automl-{job}-a{n}
(409 = the run exists = ours, adopted). What is proven here, with the Airflow
double's fault injection (see docs/RELIABILITY.md for the table):

- create answers 201 `queued` at once while Airflow does not know the DAG yet,
  the run starts once the DAG is parsed, exactly once;
- 20 creates at once do not slow down reads of another job;
- Airflow down for a minute (503, then dropped connections): every create and
  trigger answers at once, nothing starts meanwhile, everything starts exactly
  once within the dispatcher's longest backoff (30 s) after Airflow is back;
- every kind of Airflow failure under a trigger answers 200 `queued`;
- the deadline: an import error / a DAG never loaded / a run that cannot be
  started fail the job with a message saying so; a run that does exist is adopted;
- an orphan run of the previous attempt is marked failed in Airflow;
- a lost answer (Airflow made the run after our timeout) is adopted through 409;
- several dispatchers racing start each run once and leave nothing queued;
- DAG retention removes old DAG files and a retry publishes them again;
- SIGTERM/SIGINT stop the dispatcher promptly with exit status 0.

The background dispatcher of the tier (fixture `dispatcher`) does the work
unless a test pauses it to drive `automl-ctl dispatch --once` itself. Waits are
on conditions read from the database (dispatch_queue, dispatched_at), so a GET
never reconciles behind the test's back."""
import json
import os
import re
import signal
import threading
import time

import pytest

from conftest import (CFG, SCALE, VALGRIND, Api, airflow_api, create_ok, ctl_popen,
                      dispatcher_paused, env, get_ok, job_body, outbox, run_cgi, run_ctl,
                      runs_by_dag, sql, undispatched, wait_for)

REQUEST_TIMEOUT_S = int(CFG["AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS"]) / 1000.0
DISPATCH_WAIT_S = 20 * SCALE       # a run that can start is started within this
BACKOFF_MAX_S = 30                 # the dispatcher's longest pause between two tries
ONCE_LINE = re.compile(r"^dispatch --once: (\d+) run\(s\) started, (\d+) to retry, (\d+) failed"
                       r" at the deadline, (\d+) dropped, (\d+) orphan\(s\) failed, (\d+) job\(s\)"
                       r" reconciled, (\d+) DAG file\(s\) retired$")


# ---- helpers -------------------------------------------------------------------

def runs_path(job):
    return "^/api/v2/dags/%s/dagRuns$" % re.escape(job["airflow_dag_id"])


def run_id(job, attempt):
    return "automl-%s-a%d" % (job["job_id"], attempt)


def assert_queued_undispatched(j, attempt=1):
    assert j["status"] == "queued", j
    assert j["dispatched_at"] is None, j
    assert j["trigger_attempts"] == attempt, j
    assert j["airflow_dag_run_id"] == run_id(j, attempt), j
    assert j["error_message"] is None, j


def wait_dispatched(job_ids, timeout=DISPATCH_WAIT_S):
    """Until every job has dispatched_at and no outbox row; the seconds it took."""
    t0 = time.monotonic()
    try:
        wait_for(lambda: not undispatched(job_ids), timeout=timeout, step=0.2,
                 what="%d job(s) to be dispatched" % len(job_ids))
    except AssertionError:
        raise AssertionError("not dispatched after %.0f s: %r" % (timeout, outbox(job_ids))) from None
    return time.monotonic() - t0


def assert_one_run_per_attempt(double, jobs, runs=None):
    """Each job is dispatched and has exactly the runs automl-{job}-a1..a{attempts}
    in Airflow (read from the database: no GET reconciles behind the test's back)."""
    runs = runs if runs is not None else runs_by_dag(double)
    rows = {r[0]: r[1:] for r in sql(
        "SELECT job_id::text, trigger_attempts, dispatched_at IS NOT NULL FROM training_jobs"
        " WHERE job_id = ANY(%s::uuid[])", ([j["job_id"] for j in jobs],))}
    for j in jobs:
        attempts, dispatched = rows[j["job_id"]]
        want = [run_id(j, n) for n in range(1, attempts + 1)]
        have = sorted(r["run_id"] for r in runs.get(j["airflow_dag_id"], []))
        assert have == sorted(want), "job %s: runs %r, want %r" % (j["job_id"], have, want)
        assert dispatched, "job %s has no dispatched_at" % j["job_id"]


def import_error(double, dag_id, last_line):
    """An import error for {dag_id}.py at the double, as Airflow's dag-processor records it."""
    trace = ("Traceback (most recent call last):\n  File \"/opt/airflow/dags/%s.py\", line 7\n"
             "    def broken(\n              ^\n%s\n" % (dag_id, last_line))
    return double._call("POST", "import_error", {"filename": dag_id + ".py", "stack_trace": trace})


def make_run(job, attempt):
    """Create the job's run in the double through its Airflow API (as a request whose
    answer was lost would have)."""
    r = airflow_api("POST", "/api/v2/dags/%s/dagRuns" % job["airflow_dag_id"],
                    {"dag_run_id": run_id(job, attempt), "logical_date": None,
                     "conf": {"automl_job_id": job["job_id"], "attempt": attempt}})
    assert r.status_code == 200, r.text


def once(**envover):
    """One `automl-ctl dispatch --once`; its counters as a tuple of 7 ints."""
    p = run_ctl("dispatch", "--once", **envover)
    assert p.returncode == 0, "dispatch --once exited %d: %s" % (p.returncode, p.stderr[-3000:])
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    m = ONCE_LINE.match(lines[0])
    assert m, lines[0]
    return tuple(int(x) for x in m.groups())


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def say(request, text):
    """A figure for docs/RELIABILITY.md, printed past pytest's capture."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n" + text)


def dag_file(job):
    return os.path.join(env("AUTOML_TEST_DAGS_DIR"), job["airflow_dag_id"] + ".py")


# ---- 1. create never waits for Airflow -------------------------------------------

def test_create_answers_at_once_while_dag_not_parsed(api, domain, token, double):
    parse_s = 4 if not VALGRIND else 8
    double.config(parse_delay=parse_s)
    r, took = timed(lambda: api.create(token, job_body(domain, auto_trigger=True)))
    t_created = time.monotonic()
    assert r.status_code == 201, r.text
    job = r.json()
    assert took < 1.0 * SCALE, "create took %.2f s" % took
    assert_queued_undispatched(job)
    assert double.runs(job["airflow_dag_id"]) == []
    assert outbox([job["job_id"]])[job["job_id"]][:2] == (1, run_id(job, 1))
    # a read while the dispatcher waits for the DAG: as stored, no Airflow call
    assert_queued_undispatched(get_ok(api, token, job["job_id"]))
    # the dispatcher tried and was told 404: the row says so
    wait_for(lambda: (outbox([job["job_id"]]).get(job["job_id"]) or (0, 0, 0, ""))[3],
             timeout=parse_s - 1, step=0.1, what="the dispatcher's first try")
    row = outbox([job["job_id"]])[job["job_id"]]
    assert "not parsed" in row[3], row
    assert double.runs(job["airflow_dag_id"]) == []
    wait_dispatched([job["job_id"]], timeout=parse_s + DISPATCH_WAIT_S)
    assert time.monotonic() - t_created >= parse_s - 1, "dispatched before the DAG was parsed"
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 1, runs
    assert runs[0]["run_id"] == run_id(job, 1)
    assert runs[0]["attempts"] in (1, 2), "created once (a 409 retry at most)"
    assert runs[0]["conf"] == {"automl_job_id": job["job_id"], "attempt": 1}, runs[0]
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued"
    assert got["dispatched_at"] is not None
    assert got["airflow_dag_run_id"] == run_id(job, 1)


# ---- 2. a burst of creates does not slow down reads ---------------------------------

def burst(request, api, token, domain, double, n=20):
    """n creates at once (threads) while the DAGs are not parsed yet (2 s), and a
    reader doing GETs of an unrelated job all along (the burst and the dispatch).
    Returns (create latencies, read latencies and statuses, dispatch seconds)."""
    other = create_ok(api, token, domain, name="unrelated")
    double.config(parse_delay=2)
    created = [None] * n
    reads = []
    stop = threading.Event()
    go = threading.Barrier(n + 1)

    def reader():
        a = Api(api.name, api.base)
        while not stop.is_set():
            r, took = timed(lambda: a.get(token, other["job_id"]))
            reads.append((took, r.status_code))

    def creator(i):
        a = Api(api.name, api.base)
        go.wait()
        r, took = timed(lambda: a.create(token, job_body(domain, name="burst %d" % i,
                                                         auto_trigger=True)))
        created[i] = (took, r.status_code, r.json() if r.status_code == 201 else r.text)

    rt = threading.Thread(target=reader)
    rt.start()
    try:
        ts = [threading.Thread(target=creator, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        wait_for(lambda: len(reads) >= 3, timeout=10 * SCALE, step=0.02,
                 what="the reader to be going before the burst")
        go.wait()
        for t in ts:
            t.join()
        assert all(c and c[1] == 201 for c in created), created
        jobs = [c[2] for c in created]
        for j in jobs:
            assert_queued_undispatched(j)
        took_dispatch = wait_dispatched([j["job_id"] for j in jobs], timeout=2 + DISPATCH_WAIT_S)
    finally:
        stop.set()
        rt.join()
    say(request, "%s: %d creates at once (slowest %.3f s); %d reads meanwhile (slowest %.3f s);"
        " all dispatched %.1f s after the burst" % (api.name, n, max(c[0] for c in created),
                                                    len(reads), max(t for t, _ in reads),
                                                    took_dispatch))
    assert {s for _, s in reads} == {200}, reads
    assert len(reads) >= 10, reads
    assert_one_run_per_attempt(double, jobs)
    assert all(len(double.runs(j["airflow_dag_id"])) == 1 for j in jobs)
    return [c[0] for c in created], reads


def test_twenty_creates_at_once_reads_stay_fast(request, lighttpd, domain, token, double):
    """lighttpd queues requests for its 4 FastCGI processes: a create holds one
    for milliseconds (it never waits for Airflow), so reads go on at once."""
    _, reads = burst(request, lighttpd, token, domain, double)
    slowest = max(t for t, _ in reads)
    assert slowest < (0.5 if not VALGRIND else 4.0), "slowest read %.3f s" % slowest


def test_twenty_creates_at_once_apache(request, apache, domain, token, double):
    """The same burst through Apache: every create 201 queued, every read 200, one
    run per job. (Latency is not bounded here: when its FcgidMaxProcessesPerClass
    processes are busy, mod_fcgid lets a request wait in steps of one second,
    whatever the program does, so 21 clients on 4 processes wait seconds.)"""
    burst(request, apache, token, domain, double)


# ---- 3. Airflow down for a minute --------------------------------------------------

def test_airflow_down_for_a_minute(request, lighttpd, domain, token, double):
    api = lighttpd
    ready = [create_ok(api, token, domain, name="ready %d" % i) for i in range(2)]
    failed = create_ok(api, token, domain, name="failed before", auto_trigger=True)
    wait_dispatched([failed["job_id"]])
    assert api.put_status(failed["job_id"], {"status": "failed",
                                             "error_message": "worker lost"}).status_code == 200
    t_down = time.monotonic()
    down = "^/(api/v2|auth)/"
    double.fault(path_regex=down, mode="status", status=503, count=-1)
    jobs, latencies = [], []

    def create(name):
        r, took = timed(lambda: api.create(token, job_body(domain, name=name, auto_trigger=True)))
        assert r.status_code == 201, r.text
        assert_queued_undispatched(r.json())
        latencies.append(took)
        jobs.append(r.json())

    def trigger(job, attempt):
        r, took = timed(lambda: api.trigger(token, job["job_id"]))
        assert r.status_code == 200, r.text
        assert_queued_undispatched(r.json(), attempt)
        latencies.append(took)
        jobs.append(r.json())

    # the first half: every Airflow request answered 503
    create("down 1")
    create("down 2")
    trigger(ready[0], 1)
    trigger(failed, 2)
    # (switched when no retry of the jobs above is due: they retry at 0, 1, 3, 7, 15, 31 s)
    time.sleep(max(0.0, t_down + 40 - time.monotonic()))
    # the second half: connections dropped without an answer
    double.clear_faults()
    double.fault(path_regex=down, mode="drop", count=-1)
    create("down 3")
    trigger(ready[1], 1)
    for j in jobs:
        assert_queued_undispatched(get_ok(api, token, j["job_id"]), j["trigger_attempts"])
    time.sleep(max(0.0, t_down + 60 - time.monotonic()))
    ids = [j["job_id"] for j in jobs]
    assert undispatched(ids) == set(ids), "nothing can start while Airflow is down"
    rows = outbox(ids)
    assert set(rows) == set(ids), rows
    # the dispatcher kept trying, with a growing pause (1, 2, 4 .. 30 s), not every second
    first = rows[jobs[0]["job_id"]]
    assert 4 <= first[2] <= 8, "tries in 60 s: %r" % (first,)
    assert all(r[3] for r in rows.values()), rows
    assert [r["run_id"] for r in double.runs(failed["airflow_dag_id"])] == [run_id(failed, 1)]
    for j in jobs:
        if j["job_id"] != failed["job_id"]:
            assert double.runs(j["airflow_dag_id"]) == [], j["job_id"]
    double.clear_faults()
    t_up = time.monotonic()
    recovery = wait_dispatched(ids, timeout=BACKOFF_MAX_S + (10 if not VALGRIND else 40))
    a1 = {r["run_id"]: r["state"] for r in double.runs(failed["airflow_dag_id"])}[run_id(failed, 1)]
    say(request, "airflow down %.0f s: %d requests answered in at most %.3f s; all %d jobs "
        "dispatched %.1f s after Airflow came back (the retried job's attempt-1 run: %s)"
        % (t_up - t_down, len(latencies), max(latencies), len(ids), recovery, a1))
    assert max(latencies) < 2.0 * SCALE, latencies
    assert_one_run_per_attempt(double, jobs)
    for j in jobs:
        got = get_ok(api, token, j["job_id"])
        assert got["status"] == "queued", got
        assert got["error_message"] is None, got


# (every kind of Airflow failure under a trigger, and an expired token: test_airflow_faults.py)


# ---- 4. the deadline ----------------------------------------------------------------

def test_deadline_fails_or_adopts(lighttpd, domain, token, double, dispatcher):
    api = lighttpd
    double.config(parse_delay=3600)
    with dispatcher_paused(dispatcher):
        broken = create_ok(api, token, domain, name="broken", auto_trigger=True)
        missing = create_ok(api, token, domain, name="missing", auto_trigger=True)
        adopted = create_ok(api, token, domain, name="adopted", auto_trigger=True)
        refused = create_ok(api, token, domain, name="refused", auto_trigger=True)
        jobs = [broken, missing, adopted, refused]
        ids = [j["job_id"] for j in jobs]
        import_error(double, broken["airflow_dag_id"], "SyntaxError: invalid syntax")
        # a DAG Airflow has, whose run exists (made by a try whose answer was lost),
        # and whose trigger answers 503 ever after
        double.register_dag(adopted["airflow_dag_id"], 0)
        make_run(adopted, 1)
        double.fault(path_regex=runs_path(adopted), method="POST", mode="status", status=503,
                     count=-1)
        # a DAG Airflow has, whose trigger always fails
        double.register_dag(refused["airflow_dag_id"], 0)
        double.fault(path_regex=runs_path(refused), method="POST", mode="status", status=503,
                     count=-1, detail="scheduler overloaded")
        # before the deadline (the default, 900 s): retried, nothing fails
        c = once()
        assert set(outbox(ids)) == set(ids)
        assert {get_ok(api, token, i)["status"] for i in ids} == {"queued"}
        # more than the 1 s deadline later (the rows are made older rather than slept on)
        sql("UPDATE dispatch_queue SET queued_at = queued_at - interval '5 seconds',"
            " not_before = clock_timestamp() WHERE job_id = ANY(%s::uuid[])", (ids,))
        failed_total = started_total = 0
        for _ in range(5):
            c = once(AUTOML_DISPATCH_DEADLINE_S=1)
            started_total += c[0]
            failed_total += c[2]
            if not outbox(ids):
                break
        assert outbox(ids) == {}, outbox(ids)
    assert failed_total >= 3 and started_total >= 1, (failed_total, started_total)
    got = {j["job_id"]: get_ok(api, token, j["job_id"]) for j in jobs}
    g = got[broken["job_id"]]
    assert g["status"] == "failed", g
    assert g["error_message"] == "Airflow could not load DAG %s: SyntaxError: invalid syntax" % (
        broken["airflow_dag_id"]), g
    assert g["dispatched_at"] is None
    g = got[missing["job_id"]]
    assert g["status"] == "failed", g
    assert g["error_message"].startswith("Airflow did not load DAG %s within 1 s" % (
        missing["airflow_dag_id"])), g
    g = got[refused["job_id"]]
    assert g["status"] == "failed", g
    assert g["error_message"].startswith("the Airflow run could not be started within 1 s: "), g
    assert "503" in g["error_message"] and "scheduler overloaded" in g["error_message"], g
    g = got[adopted["job_id"]]
    assert g["status"] == "queued", g
    assert g["dispatched_at"] is not None, g
    assert g["error_message"] is None, g
    runs = runs_by_dag(double)
    for j in (broken, missing, refused):
        assert runs.get(j["airflow_dag_id"], []) == [], j["job_id"]
    assert [r["run_id"] for r in runs[adopted["airflow_dag_id"]]] == [run_id(adopted, 1)]


# ---- 5. orphans ---------------------------------------------------------------------

def failed_with_running_run(api, token, domain, double):
    """A job whose attempt-1 run is running in Airflow while the job itself failed
    (its write-back said so)."""
    job = create_ok(api, token, domain, auto_trigger=True)
    wait_dispatched([job["job_id"]])
    double.set_run_state(job["airflow_dag_id"], run_id(job, 1), "running")
    r = api.put_status(job["job_id"], {"status": "failed", "error_message": "worker lost"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    return job


def wait_orphan_failed(double, job):
    wait_for(lambda: {x["run_id"]: x["state"] for x in double.runs(job["airflow_dag_id"])}
             .get(run_id(job, 1)) == "failed", timeout=10 * SCALE, step=0.2,
             what="the attempt-1 run to be marked failed")


def test_orphan_run_failed_by_dispatcher(lighttpd, domain, token, double):
    """A retry left entirely to the dispatcher (a web program whose Airflow request
    timeout is 0 never calls Airflow): the dispatcher starts attempt 2 and marks
    the attempt-1 run (recorded by the retry's trigger in dispatch_orphans) failed."""
    job = failed_with_running_run(lighttpd, token, domain, double)
    status, _, body = run_cgi("POST", "/api/automl/train/jobs/%s/trigger" % job["job_id"],
                              token=token, extra={"AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS": "0"})
    assert status == 200, body
    assert_queued_undispatched(json.loads(body), 2)
    wait_dispatched([job["job_id"]])
    wait_orphan_failed(double, job)
    runs = {x["run_id"]: x for x in double.runs(job["airflow_dag_id"])}
    assert sorted(runs) == sorted([run_id(job, 1), run_id(job, 2)]), runs
    assert runs[run_id(job, 2)]["state"] == "queued"
    assert runs[run_id(job, 2)]["attempts"] == 1
    got = get_ok(lighttpd, token, job["job_id"])
    assert got["status"] == "queued" and got["trigger_attempts"] == 2, got


def test_orphan_run_failed_when_trigger_starts_run(api, domain, token, double):
    """Airflow up, the usual case: the request's own try starts attempt 2 at once;
    the attempt-1 run must be marked failed all the same."""
    job = failed_with_running_run(api, token, domain, double)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert r.json()["trigger_attempts"] == 2
    wait_dispatched([job["job_id"]])
    wait_orphan_failed(double, job)
    runs = {x["run_id"]: x for x in double.runs(job["airflow_dag_id"])}
    assert sorted(runs) == sorted([run_id(job, 1), run_id(job, 2)]), runs
    assert runs[run_id(job, 2)]["attempts"] == 1


# ---- 6. lost answers -------------------------------------------------------------------

def test_lost_answer_adopted_through_409(api, domain, token, double, dispatcher):
    job = create_ok(api, token, domain)
    with dispatcher_paused(dispatcher):
        double.fault(path_regex=runs_path(job), method="POST", mode="hang",
                     seconds=REQUEST_TIMEOUT_S + 2, count=1)
        r, took = timed(lambda: api.trigger(token, job["job_id"]))
        assert r.status_code == 200, r.text
        assert_queued_undispatched(r.json())
        assert REQUEST_TIMEOUT_S * 0.9 <= took < (REQUEST_TIMEOUT_S + 1.0) * SCALE, took
        # Airflow made the run after the request gave up on it
        wait_for(lambda: double.runs(job["airflow_dag_id"]), timeout=10, step=0.1,
                 what="the slow run to appear")
        assert_queued_undispatched(get_ok(api, token, job["job_id"]))
        assert set(outbox([job["job_id"]])) == {job["job_id"]}
    wait_dispatched([job["job_id"]])
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 1, runs
    assert runs[0]["run_id"] == run_id(job, 1)
    assert runs[0]["attempts"] == 2, "the dispatcher asked for the same run id and got 409"
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued" and got["dispatched_at"] is not None, got


# ---- 7. dispatchers racing ----------------------------------------------------------------

def test_dispatchers_racing(request, lighttpd, domain, token, double, dispatcher):
    api = lighttpd
    n, racers = 30, 4
    stop = threading.Event()
    passes, errors = [], []

    def racer():
        while not stop.is_set():
            try:
                passes.append(once())
            except AssertionError as e:   # reported after the join
                errors.append(e)
                return

    with dispatcher_paused(dispatcher):
        jobs = [create_ok(api, token, domain, name="race %d" % i, auto_trigger=True)
                for i in range(n)]
        ids = [j["job_id"] for j in jobs]
        for j in jobs:   # parsed by Airflow all at the same moment
            double.register_dag(j["airflow_dag_id"], 2)
        threads = [threading.Thread(target=racer) for _ in range(racers)]
        for t in threads:
            t.start()
    try:   # the background dispatcher is back, racing the others
        took = wait_dispatched(ids, timeout=2 + DISPATCH_WAIT_S)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    say(request, "%d jobs dispatched by %d racing dispatchers + the background one in %.1f s "
          "(%d --once passes)" % (n, racers, took, len(passes)))
    assert outbox(ids) == {}
    runs = runs_by_dag(double)
    assert_one_run_per_attempt(double, jobs, runs)
    for j in jobs:
        (r,) = runs[j["airflow_dag_id"]]
        assert r["attempts"] == 1, "run %s asked for %d times: a lease failed" % (
            r["run_id"], r["attempts"])


# ---- 8. DAG retention ------------------------------------------------------------------------

def test_dag_retention_and_republish(lighttpd, domain, token, double, dispatcher):
    api = lighttpd
    done = create_ok(api, token, domain, name="done", auto_trigger=True)
    lost = create_ok(api, token, domain, name="lost", auto_trigger=True)
    cron = create_ok(api, token, domain, name="cron", auto_trigger=True)
    fresh = create_ok(api, token, domain, name="fresh", auto_trigger=True)
    active = create_ok(api, token, domain, name="active", auto_trigger=True)
    ready = create_ok(api, token, domain, name="ready")
    wait_dispatched([j["job_id"] for j in (done, lost, cron, fresh, active)])
    for j, st in ((done, "complete"), (lost, "failed"), (cron, "failed"), (fresh, "complete")):
        assert api.put_status(j["job_id"], {"status": st}).status_code == 200
    old = [done["job_id"], lost["job_id"], cron["job_id"]]
    with dispatcher_paused(dispatcher):
        # ended long ago (older than anything else, so this pass takes them first)
        sql("UPDATE training_jobs SET ended_at = clock_timestamp() - interval '3650 days'"
            " WHERE job_id = ANY(%s::uuid[])", (old,))
        c = once(AUTOML_DAG_RETENTION_S=60)
        assert c[6] >= 3, c
        for j in (done, lost, cron):
            assert not os.path.exists(dag_file(j)), j["airflow_dag_id"]
        for j in (fresh, active, ready):
            assert os.path.exists(dag_file(j)), j["airflow_dag_id"]
        rows = sql("SELECT job_id::text FROM training_jobs WHERE dag_retired_at IS NOT NULL"
                   " AND job_id = ANY(%s::uuid[])", ([j["job_id"] for j in (done, lost, cron,
                                                                          fresh, active, ready)],))
        assert {r[0] for r in rows} == set(old)
        # a retry by the user: the request's own try publishes the file again, then
        # starts the run
        r = api.trigger(token, lost["job_id"])
        assert r.status_code == 200, r.text
        assert r.json()["trigger_attempts"] == 2
        assert r.json()["dispatched_at"] is not None, r.json()
        with open(dag_file(lost)) as f:
            assert f.read() == get_ok(api, token, lost["job_id"])["rendered_dag"]
        # a retry left to the dispatcher (a web program that never calls Airflow):
        # the dispatcher publishes the file again, then starts the run
        status, _, body = run_cgi("POST", "/api/automl/train/jobs/%s/trigger" % cron["job_id"],
                                  token=token, extra={"AUTOML_AIRFLOW_REQUEST_TIMEOUT_MS": "0"})
        assert status == 200, body
        assert not os.path.exists(dag_file(cron)), "the request left it to the dispatcher"
        c = once()
        assert c[0] >= 1, c
        with open(dag_file(cron)) as f:
            assert f.read() == get_ok(api, token, cron["job_id"])["rendered_dag"]
    assert not os.path.exists(dag_file(done))
    rows = sql("SELECT job_id::text FROM training_jobs WHERE dag_retired_at IS NOT NULL"
               " AND job_id = ANY(%s::uuid[])", (old,))
    assert {r[0] for r in rows} == {done["job_id"]}
    wait_dispatched([lost["job_id"], cron["job_id"]])
    runs = runs_by_dag(double)
    assert_one_run_per_attempt(double, [done, lost, cron, fresh, active], runs)
    assert len(runs[lost["airflow_dag_id"]]) == 2 and len(runs[cron["airflow_dag_id"]]) == 2


# ---- 9. stopping the dispatcher ------------------------------------------------------------

class OwnDispatcher:
    """A dispatcher of the test's own (the valgrind wrapper in the valgrind pass),
    returned once it says it is running; its log lines are collected."""

    def __init__(self):
        self.p = ctl_popen("dispatch")
        self.lines = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        wait_for(lambda: self.said("dispatch: started") or self.p.poll() is not None,
                 timeout=30 * SCALE, step=0.05, what="the dispatcher to start")
        assert self.p.poll() is None, self.log()

    def _pump(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def said(self, text):
        return any(text in x for x in list(self.lines))

    def log(self):
        return "".join(self.lines)[-3000:]

    def stop_within(self, sig, limit):
        t0 = time.monotonic()
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=limit + 120)
        took = time.monotonic() - t0
        self.pump.join(timeout=10)
        assert rc == 0, "exit %d after signal %d: %s" % (rc, sig, self.log())
        assert took < limit, "took %.2f s to stop" % took
        assert self.said("dispatch: stopping (signal)"), self.log()
        return took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_idle_dispatcher(sig):
    d = OwnDispatcher()
    d.stop_within(sig, 5.0 * SCALE)


def test_sigterm_during_airflow_call(lighttpd, domain, token, double, dispatcher):
    """SIGTERM while the dispatcher waits for a hanging Airflow: it gives up that
    call (AUTOML_AIRFLOW_TIMEOUT_MS at most), leaves the row to be retried, exits 0."""
    api = lighttpd
    with dispatcher_paused(dispatcher):
        job = create_ok(api, token, domain, auto_trigger=True)
        double.fault(path_regex=runs_path(job), method="POST", mode="hang", seconds=20, count=-1)
        fired = double.stats()["faults_fired"]
        d = OwnDispatcher()
        wait_for(lambda: d.said("run %s" % run_id(job, 1)) and
                 double.stats()["faults_fired"] > fired,
                 timeout=10 * SCALE, step=0.05, what="the dispatcher to be in the trigger call")
        d.stop_within(signal.SIGTERM, 5.0 * SCALE)
        double.clear_faults()
        assert set(outbox([job["job_id"]])) == {job["job_id"]}, "left for the next dispatcher"
    wait_dispatched([job["job_id"]])
    assert len(double.runs(job["airflow_dag_id"])) == 1
