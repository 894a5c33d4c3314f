"""The dispatcher against the real Airflow 3: 200 jobs created by a curl loop
while Airflow's dag-processor has to parse every new DAG. Each create answers
at once (queued) whatever Airflow is doing, its latency stays flat, and every
job ends up with exactly one Airflow run, started by automl-ctl dispatch once
its DAG was parsed.

So that 200 real trainings do not keep the machine busy for an hour, Airflow's
scheduler is stopped for the duration (the API server and the dag-processor go
on: runs are created `queued` but nothing executes); afterwards every run is
marked failed through the REST API, the scheduler is started again and the
service's DAG retention removes the 200 DAG files (AUTOML_DAG_RETENTION_S of
tests/e2e/run.sh)."""
import os
import signal
import statistics
import subprocess
import time
import uuid

import pytest

N = 200
DOMAIN = "e2e"
WAIT_DISPATCH_S = 900


def _root():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _state_dir():
    return os.environ.get("AUTOML_STATE_DIR") or os.path.join(_root(), ".state")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def scheduler_stopped():
    """Airflow's scheduler stopped for the test, started again (and waited for) after."""
    pidfile = os.path.join(_state_dir(), "run", "airflow-scheduler.pid")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    try:
        yield
    finally:
        subprocess.run([os.path.join(_root(), "scripts", "stack"), "up"], check=True,
                       timeout=600)


def curl_loop(api, token, tag):
    """Creates N jobs with a plain shell loop of curl calls, as a user's script
    would; returns [(http_code, seconds, body)]."""
    script = r'''
set -u
for i in $(seq 1 "$N"); do
  body=$(printf '{"name":"scale %s %s","domain":"%s","source_table":"sample_binary",'\
'"problem_type":"binary_classification","algorithm":"lightgbm_classifier","preset":"fast"}' \
    "$TAG" "$i" "$DOMAIN")
  curl -sS -o "$OUT/$i.json" -w '%{http_code} %{time_total}\n' -X POST "$API" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body"
done
'''
    out = os.path.join(_state_dir(), "e2e-scale-" + tag)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, N=str(N), TAG=tag, DOMAIN=DOMAIN, API=api, TOKEN=token, OUT=out)
    p = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                       timeout=1200)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    results = []
    for i, line in enumerate(ln for ln in lines if ln.strip()):
        code, secs = line.split()
        with open(os.path.join(out, "%d.json" % (i + 1))) as f:
            results.append((int(code), float(secs), f.read()))
    return results


def test_200_jobs_from_a_curl_loop_each_get_exactly_one_run(http, api, token, airflow,
                                                           scheduler_stopped):
    import json

    tag = uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    results = curl_loop(api, token, tag)
    create_s = time.monotonic() - t0
    assert len(results) == N
    bad = [(c, b[:200]) for c, _, b in results if c != 201]
    assert not bad, bad[:5]
    jobs = [json.loads(b) for _, _, b in results]
    assert all(j["status"] == "queued" for j in jobs), {j["status"] for j in jobs}
    lat = sorted(s for _, s, _ in results)
    p50, p99 = lat[N // 2], lat[int(N * 0.99) - 1]
    first, last = statistics.median(s for _, s, _ in results[:40]), \
        statistics.median(s for _, s, _ in results[-40:])
    print(f"{N} creates in {create_s:.1f} s: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {lat[-1] * 1000:.0f} ms; median of the first 40 {first * 1000:.0f} ms, "
          f"of the last 40 {last * 1000:.0f} ms")
    # Flat: nothing in a create waits for Airflow, whose parse queue grows with
    # every job (about 0.2 s of parsing per DAG file here).
    assert p99 < 1.0, f"create p99 {p99:.3f} s"
    assert last < max(3 * first, 0.1), f"create latency grew: {first:.3f} s -> {last:.3f} s"

    # Every job's run is started by the dispatcher as soon as Airflow has parsed its DAG.
    ids = {j["job_id"]: j for j in jobs}
    pending, deadline = set(ids), time.monotonic() + WAIT_DISPATCH_S
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            r = http.get(f"{api}/{job_id}", timeout=60)
            assert r.status_code == 200, r.text
            j = r.json()
            assert j["status"] in ("queued", "running"), (j["status"], j["error_message"])
            if j["dispatched_at"]:
                ids[job_id] = j
                pending.discard(job_id)
        if pending:
            time.sleep(5)
    took = time.monotonic() - t0
    assert not pending, f"{len(pending)} of {N} jobs without a started run after {took:.0f} s"
    print(f"all {N} runs started {took:.0f} s after the first create")

    # Exactly one run per job in Airflow, with the job's run id.
    for j in ids.values():
        runs = airflow.get(f"/dags/{j['airflow_dag_id']}/dagRuns")
        assert runs["total_entries"] == 1, (j["job_id"], runs["total_entries"])
        assert runs["dag_runs"][0]["dag_run_id"] == j["airflow_dag_run_id"]
    # Nothing trains: mark every run failed; the dispatcher's reconcile ends the jobs.
    for j in ids.values():
        airflow.patch(f"/dags/{j['airflow_dag_id']}/dagRuns/{j['airflow_dag_run_id']}",
                      {"state": "failed"})
