"""test_crash.py - a process killed (SIGKILL) at each crash point of the
trigger/dispatch design loses no job and starts no run twice.

AUTOML_TEST_CRASH_AT=<point>[:N] makes automl-api or automl-ctl SIGKILL itself
the N-th time it reaches <point>:
  create_committed   the create's transaction is committed, no answer sent
  trigger_committed  the trigger is committed, Airflow not asked yet
  trigger_accepted   Airflow made the run, dispatched_at not recorded
  dispatch_claimed   a dispatcher took a batch of outbox rows (a lease)
  dispatch_accepted  Airflow made the run, the dispatcher did not record it
  dispatch_recorded  the dispatcher recorded the run, the rest of its batch is leased
The request-side points run the built automl-api as a plain CGI program (the
web servers' FastCGI processes are never made to crash); the dispatcher points
run `automl-ctl dispatch --once` (the binary itself, never under valgrind: a
process that kills itself leaves an unfinished valgrind log). Each round checks
that the process died by SIGKILL exactly in the intended window, then a normal
dispatcher (the tier's background one) recovers: every job of every round must
end with exactly one Airflow run per attempt (duplicates: 0), dispatched_at set
and no outbox row (stuck: 0). A leased row comes back after its lease
(2 x (connect + total Airflow timeout) + 5 s = 10 s in this tier), so all the
rounds of a test crash first and recover together.

The figures (rounds, jobs, duplicates, stuck, recovery time) are printed and
written to crash-figures.json in the tier's temp dir (docs/RELIABILITY.md)."""
import json
import os
import tempfile
import time

import pytest

from conftest import (SCALE, cgi_killed, create_ok, ctl_popen, dispatcher_paused, env,
                      job_body, outbox, runs_by_dag, sql, undispatched, wait_for)

LEASE_S = 2 * (1.0 + 1.5) + 5      # the lease of this tier's configuration
RECOVER_S = LEASE_S + 20 * SCALE   # a crashed dispatcher's rows are started by then
REQUEST_ROUNDS = 10
DISPATCH_ROUNDS = 5
RACE_ROUNDS = 3
JOBS = "/api/automl/train/jobs"


@pytest.fixture(scope="module")
def figures(request):
    figs = {}
    yield figs
    path = os.path.join(os.path.dirname(env("AUTOML_TEST_CONFIG")), "crash-figures.json")
    total = {k: sum(f[k] for f in figs.values()) for k in ("rounds", "jobs", "duplicates",
                                                           "stuck")}
    with open(path, "w") as f:
        json.dump({"points": figs, "total": total}, f, indent=1, sort_keys=True)
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\ncrash figures (%s):" % path)
        for name in sorted(figs):
            print("  %-34s %s" % (name, json.dumps(figs[name], sort_keys=True)))
        print("  %-34s %s" % ("total", json.dumps(total, sort_keys=True)))


def job_rows(ids):
    rows = sql("SELECT job_id::text, status, trigger_attempts, dispatched_at IS NOT NULL,"
               " airflow_dag_id FROM training_jobs WHERE job_id = ANY(%s::uuid[])", (list(ids),))
    return {r[0]: {"status": r[1], "attempts": r[2], "dispatched": r[3], "dag": r[4]}
            for r in rows}


def recover(ids):
    """Wait for a normal dispatcher to finish every job of ids (at most RECOVER_S);
    the seconds it took."""
    t0 = time.monotonic()
    try:
        wait_for(lambda: not undispatched(ids), timeout=RECOVER_S, step=0.25,
                 what="recovery")
    except AssertionError:
        pass   # counted as stuck
    return time.monotonic() - t0


def recover_and_count(double, ids, recovered_s=None):
    """recover(ids) (unless that was done: recovered_s), then count the Airflow runs
    that should not be there (duplicates: a run id other than the job's
    automl-{job}-a1..a{attempts}) and the jobs that did not end dispatched, with
    all their runs and no outbox row (stuck)."""
    if recovered_s is None:
        recovered_s = recover(ids)
    runs, rows, left = runs_by_dag(double), job_rows(ids), outbox(ids)
    duplicates = stuck = 0
    bad = []
    for i in ids:
        j = rows[i]
        want = {"automl-%s-a%d" % (i, n) for n in range(1, j["attempts"] + 1)}
        have = [r["run_id"] for r in runs.get(j["dag"], [])]
        extra = len(have) - len(set(have) & want)
        lost = not (set(have) >= want and j["dispatched"] and i not in left)
        duplicates += extra
        stuck += lost
        if extra or lost:
            bad.append((i, j, sorted(have), left.get(i)))
    return duplicates, stuck, recovered_s, bad


def note(figures, name, rounds, ids, duplicates, stuck, recovered_s, **extra):
    figures[name] = dict(rounds=rounds, jobs=len(ids), duplicates=duplicates, stuck=stuck,
                         recovery_s=round(recovered_s, 1), **extra)


# ---- the request side: automl-api killed inside a create or a trigger -----------------------

def test_crash_in_create(lighttpd, domain, token, double, figures):
    """create_committed: the job is committed (queued, outbox row, DAG file), the
    client got no answer; the dispatcher starts its run all the same."""
    ids = []
    for r in range(REQUEST_ROUNDS):
        name = "crash create %d" % r
        cgi_killed("POST", JOBS, "create_committed", token=token,
                   body=job_body(domain, name=name, auto_trigger=True))
        (row,) = sql("SELECT job_id::text, status, trigger_attempts FROM training_jobs"
                     " WHERE domain = %s AND name = %s", (domain, name))
        assert row[1:] == ("queued", 1), row
        ids.append(row[0])
    dup, stuck, took, bad = recover_and_count(double, ids)
    note(figures, "create_committed", REQUEST_ROUNDS, ids, dup, stuck, took)
    assert (dup, stuck) == (0, 0), bad


@pytest.mark.parametrize("point", ["trigger_committed", "trigger_accepted"])
def test_crash_in_trigger(lighttpd, domain, token, double, figures, point):
    """The trigger killed after its commit (Airflow not asked) or after Airflow made
    the run (not recorded): the dispatcher starts the run, or adopts it (409), once.
    Every other round is a retry (attempt 2) of a failed job."""
    ids, in_window, crashed_runs = [], 0, {}
    for r in range(REQUEST_ROUNDS):
        retry = r % 2 == 1
        job = create_ok(lighttpd, token, domain, name="crash %s %d" % (point, r),
                        auto_trigger=retry)
        attempt = 1
        if retry:   # attempt 1 ran and failed
            wait_for(lambda job=job: not undispatched([job["job_id"]]), timeout=20 * SCALE,
                     what="attempt 1 to start")
            assert lighttpd.put_status(job["job_id"], {"status": "failed"}).status_code == 200
            attempt = 2
        cgi_killed("POST", "%s/%s/trigger" % (JOBS, job["job_id"]), point, token=token)
        row = job_rows([job["job_id"]])[job["job_id"]]
        assert (row["status"], row["attempts"], row["dispatched"]) == ("queued", attempt, False)
        runs = [x["run_id"] for x in double.runs(job["airflow_dag_id"])]
        new_run = "automl-%s-a%d" % (job["job_id"], attempt)
        if point == "trigger_accepted":
            assert new_run in runs, "Airflow made the run before the crash"
        else:
            assert new_run not in runs, "the crash came before Airflow was asked"
        in_window += 1
        ids.append(job["job_id"])
        crashed_runs[new_run] = job["airflow_dag_id"]
    dup, stuck, took, bad = recover_and_count(double, ids)
    note(figures, point, REQUEST_ROUNDS, ids, dup, stuck, took, crashed_in_window=in_window)
    assert (dup, stuck) == (0, 0), bad
    if point == "trigger_accepted":   # the run the crash did not record: adopted via 409
        attempts = {x["run_id"]: x["attempts"] for x in double.runs()
                    if x["run_id"] in crashed_runs}
        assert len(attempts) == REQUEST_ROUNDS and min(attempts.values()) >= 2, attempts


# ---- the dispatcher: automl-ctl dispatch killed inside a pass ---------------------------------

def crash_dispatcher(point):
    p = ctl_popen("dispatch", "--once", crash_at=point)
    out, err = p.communicate(timeout=60 * SCALE)
    assert p.returncode == -9, "dispatch --once with %s exited %d: %s %s" % (
        point, p.returncode, out, err[-2000:])
    assert "crash point %s reached" % point.split(":")[0] in err, err[-2000:]


DISPATCH_POINTS = ("dispatch_claimed", "dispatch_accepted", "dispatch_recorded")


def counters(double, ids):
    """(Airflow accepted a POST of one of these jobs' runs: made or 409, runs recorded
    as dispatched, outbox claims) summed over the jobs ids."""
    dags = set(r["dag"] for r in job_rows(ids).values())
    accepted = sum(r["attempts"] for d, runs in runs_by_dag(double).items() if d in dags
                   for r in runs)
    (recorded,), = sql("SELECT count(*) FROM training_jobs WHERE job_id = ANY(%s::uuid[])"
                       " AND dispatched_at IS NOT NULL", (list(ids),))
    claims = sum(r[2] for r in outbox(ids).values())
    return accepted, recorded, claims


def test_crash_in_dispatcher(lighttpd, domain, token, double, dispatcher, figures):
    """Rounds of 3 queued jobs for each dispatcher point; the dispatcher dies the
    1st, 2nd or 3rd time it reaches the point (claimed: one claim per pass). Each
    round checks that the crash came exactly there (from the double's count of
    accepted POSTs and the recorded runs of the test's jobs: an earlier round's
    row whose lease ran out may be the one taken); then the tier's dispatcher
    takes over, once the leases ran out, for all the rounds at once."""
    ids = {p: [] for p in DISPATCH_POINTS}
    in_window = {p: 0 for p in DISPATCH_POINTS}
    everything = []
    with dispatcher_paused(dispatcher):
        for r in range(DISPATCH_ROUNDS):
            for point in DISPATCH_POINTS:
                jobs = [create_ok(lighttpd, token, domain, name="crash %s %d.%d" % (point, r, k),
                                  auto_trigger=True) for k in range(3)]
                mine = [j["job_id"] for j in jobs]
                everything += mine
                nth = 1 if point == "dispatch_claimed" else r % 3 + 1
                before = counters(double, everything)
                crash_dispatcher("%s:%d" % (point, nth))
                after = counters(double, everything)
                accepted, recorded, claims = (x - y for x, y in zip(after, before, strict=True))
                # nothing half-recorded: a recorded job has its run and no outbox row,
                # every other job has its row
                rows, left = job_rows(everything), outbox(everything)
                assert all(rows[i]["dispatched"] != (i in left) for i in everything), left
                if point == "dispatch_claimed":
                    ok = accepted == recorded == 0 and claims >= 1
                elif point == "dispatch_accepted":
                    ok = accepted == nth and recorded == nth - 1
                else:
                    ok = accepted == recorded == nth
                in_window[point] += ok
                ids[point] += mine
    took = recover(everything)   # the leases end at about the same time
    for point in DISPATCH_POINTS:
        dup, stuck, _, bad = recover_and_count(double, ids[point], took)
        note(figures, point, DISPATCH_ROUNDS, ids[point], dup, stuck, took,
             crashed_in_window=in_window[point])
        assert (dup, stuck) == (0, 0), (point, bad)
    assert in_window == {p: DISPATCH_ROUNDS for p in DISPATCH_POINTS}, \
        "rounds whose crash came where it should, on this test's jobs: %r" % in_window


def test_crash_dispatchers_racing(lighttpd, domain, token, double, dispatcher, figures):
    """Rounds of 20 queued jobs and four dispatchers started at once: three of
    them die at a crash point (claimed; accepted; recorded), one --once pass
    without a crash point; then the tier's dispatcher recovers everything."""
    ids, crashed, survivors = [], 0, 0
    with dispatcher_paused(dispatcher):
        for r in range(RACE_ROUNDS):
            jobs = [create_ok(lighttpd, token, domain, name="race %d.%d" % (r, k),
                              auto_trigger=True) for k in range(20)]
            mine = [j["job_id"] for j in jobs]
            log = tempfile.TemporaryFile("w+")   # (a pipe nobody reads could fill up)
            procs = [ctl_popen("dispatch", crash_at="dispatch_claimed", log=log),
                     ctl_popen("dispatch", crash_at="dispatch_accepted:%d" % (r + 1), log=log),
                     ctl_popen("dispatch", crash_at="dispatch_recorded:%d" % (r + 2), log=log),
                     ctl_popen("dispatch", "--once", plain=True, log=log)]
            # until every row of the round is started or leased (none due any more)
            wait_for(lambda procs=procs, mine=mine: procs[3].poll() is not None and not sql(
                "SELECT 1 FROM dispatch_queue WHERE job_id = ANY(%s::uuid[])"
                " AND not_before <= clock_timestamp()", (mine,)), timeout=60 * SCALE,
                step=0.1, what="the racers to be done")
            stopped = []
            for p in procs[:3]:
                if p.poll() is None:   # never reached its point: the others had the rows
                    p.terminate()
                    stopped.append(p)
            for p in procs:
                p.wait(timeout=60 * SCALE)
            log.seek(0)
            out = log.read()[-3000:]
            log.close()
            assert procs[3].returncode == 0, out
            for p in procs[:3]:
                if p in stopped and p.returncode == 0:
                    survivors += 1
                else:   # (a crash may come between the poll and the SIGTERM)
                    assert p.returncode == -9, (p.returncode, out)
                    crashed += 1
            ids += mine
    dup, stuck, took, bad = recover_and_count(double, ids)
    note(figures, "racing (claimed/accepted/recorded + --once)", RACE_ROUNDS, ids, dup, stuck,
         took, dispatchers_killed=crashed, dispatchers_never_reached_point=survivors)
    assert (dup, stuck) == (0, 0), bad
    assert crashed >= RACE_ROUNDS, "at least one racer per round died at its crash point"
