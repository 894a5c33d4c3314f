#!/usr/bin/env python3
"""stack_bench.py - the measuring half of bench/stack-airflow.sh (standard library only).

  create API TOKEN DOMAIN FROM TO         create jobs FROM..TO-1 of the domain (auto_trigger
                                          false: each publishes its DAG file)
  wait-parsed AIRFLOW TOKEN PREFIX N      wait until Airflow lists N DAGs whose id contains
                                          PREFIX; print JSON {"n", "seconds"}
  cpu PID SECONDS                         CPU of the process group PID (the dag-processor and
                                          its parsing children) and of the machine; JSON
  probes API TOKEN DOMAIN AIRFLOW AFTOKEN K N
                                          K creates with auto_trigger, one after another: time
                                          to dispatched_at and to the Airflow run running; JSON
  delete-dags AIRFLOW TOKEN PREFIX        delete the DAGs whose id contains PREFIX from Airflow
  report WORK SIZES FOREIGN LOAD-BEFORE LOAD-AFTER COMMIT   the results.md block
"""
import concurrent.futures
import datetime
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BODY = {"source_table": "sample_binary", "problem_type": "binary_classification",
        "algorithm": "lightgbm_classifier", "preset": "fast", "label_column": "label"}


def call(method, url, token, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def create(api, token, domain, name, auto):
    body = dict(BODY, name=name, domain=domain, auto_trigger=auto)
    status, job = call("POST", api, token, body)
    if status != 201:
        sys.exit("create %s answered %d: %s" % (name, status, job))
    return job


def cmd_create(api, token, domain, first, last):
    first, last = int(first), int(last)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda k: create(api, token, domain, "stack %04d" % k, False), range(first, last)))
    print("created %d jobs in %.1f s" % (last - first, time.monotonic() - t0))


def count_dags(airflow, token, prefix):
    q = urllib.parse.urlencode({"dag_id_pattern": prefix, "limit": 1})
    status, page = call("GET", "%s/api/v2/dags?%s" % (airflow, q), token)
    if status != 200:
        sys.exit("GET dags answered %d: %s" % (status, page))
    return page["total_entries"]


def cmd_wait_parsed(airflow, token, prefix, n):
    n, t0 = int(n), time.monotonic()
    while count_dags(airflow, token, prefix) < n:
        if time.monotonic() - t0 > 3600:
            sys.exit("Airflow did not list %d DAGs within an hour" % n)
        time.sleep(1)
    print(json.dumps({"n": n, "seconds": round(time.monotonic() - t0, 1)}))


def group_cpu(pgid):
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        if int(f[2]) == pgid:   # utime, stime and its reaped children's (the parsers)
            total += sum(int(x) for x in f[11:15])
    with open("/proc/stat") as fh:
        c = [int(x) for x in fh.readline().split()[1:]]
    return total / tck, (sum(c[:8]) - c[3] - c[4]) / tck


def cmd_cpu(pid, secs):
    pid, secs = int(pid), float(secs)
    a, ma = group_cpu(pid)
    t0 = time.monotonic()
    time.sleep(secs)
    b, mb = group_cpu(pid)
    dt = time.monotonic() - t0
    print(json.dumps({"seconds": round(dt, 1), "cpu_s": round(b - a, 2),
                      "pct_of_core": round(100 * (b - a) / dt, 1),
                      "machine_pct_of_core": round(100 * (mb - ma) / dt, 1),
                      "nproc": os.cpu_count()}))


def cmd_probes(api, token, domain, airflow, aftoken, k, n):
    out = []
    for i in range(int(k)):
        time.sleep(1 + i % 3)   # not in step with the dispatcher's 2 s retries
        t0 = time.monotonic()
        job = create(api, token, domain, "probe %s %d" % (n, i), True)
        dag, run = job["airflow_dag_id"], job["airflow_dag_run_id"]
        t_disp = t_run = None
        state = None
        while time.monotonic() - t0 < 600 and (t_disp is None or t_run is None):
            if t_disp is None:
                st, j = call("GET", "%s/%s" % (api, job["job_id"]), token)
                if st == 200 and j.get("dispatched_at"):
                    t_disp = time.monotonic() - t0
            if t_run is None:
                st, r = call("GET", "%s/api/v2/dags/%s/dagRuns/%s" % (airflow, dag, run), aftoken)
                if st == 200 and r.get("state") in ("running", "success", "failed"):
                    t_run = time.monotonic() - t0
                    state = r["state"]
            time.sleep(0.1)
        # stop the training run: only its start is measured
        call("PATCH", "%s/api/v2/dags/%s/dagRuns/%s" % (airflow, dag, run), aftoken, {"state": "failed"})
        rec = {"job_id": job["job_id"], "dispatched_s": t_disp and round(t_disp, 2),
               "running_s": t_run and round(t_run, 2), "state": state}
        print("  [%s jobs] probe %d: dispatched after %s s, run %s after %s s" % (
            n, i + 1, rec["dispatched_s"], state, rec["running_s"]), file=sys.stderr)
        out.append(rec)
    print(json.dumps(out))


def cmd_delete_dags(airflow, token, prefix):
    ids = []
    while True:
        q = urllib.parse.urlencode({"dag_id_pattern": prefix, "limit": 100, "offset": len(ids)})
        st, page = call("GET", "%s/api/v2/dags?%s" % (airflow, q), token)
        if st != 200 or not page["dags"]:
            break
        ids += [d["dag_id"] for d in page["dags"]]
    bad = 0
    for d in ids:
        st, _ = call("DELETE", "%s/api/v2/dags/%s" % (airflow, d), token)
        bad += st not in (200, 204, 404)
    print("deleted %d DAGs from Airflow (%d refused)" % (len(ids) - bad, bad))


def cmd_report(work, sizes, foreign, load_before, load_after, commit):
    o = []
    w = o.append
    cpuinfo = [ln for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
    cpu = cpuinfo[0].split(":", 1)[1].strip() if cpuinfo else "unknown"
    w("## Real Airflow (`scripts/stack`): dag-processor CPU and create -> run started")
    w("")
    w("Produced by `bench/stack-airflow.sh` on %s UTC, commit %s, %d cores (%s), load average "
      "%s before and %s after. Airflow 3 of `scripts/stack` (LocalExecutor, one parsing "
      "process, the dag-processor settings of `scripts/stack`), a private instance of the "
      "service configured like `scripts/serve` (lighttpd + FastCGI, 2 processes, and "
      "`automl-ctl dispatch`). The DAGs folder held %s other DAG files throughout (not ours; "
      "they count for the dag-processor too). Our jobs are created through the service "
      "(`auto_trigger: false`, so each publishes its rendered DAG file); then, once Airflow "
      "lists all of them, after a pause, the dag-processor's CPU (its process group, "
      "parsing children included) over a minute, and a few creates with auto-trigger one "
      "after another, each timed to the moment the job shows `dispatched_at` (Airflow "
      "accepted the run: the DAG file was parsed) and to the moment Airflow shows the run "
      "`running` (the scheduler started it); each run is then set failed so that no training "
      "runs during the next measurement." % (
          datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), commit, os.cpu_count(), cpu,
          load_before, load_after, foreign))
    w("")
    w("| our jobs (DAG files) | all parsed after | dag-processor CPU | machine busy | create -> "
      "dispatched, median (max) | create -> run running, median (max) | probes |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sizes.split():
        parsed = json.load(open(os.path.join(work, "parsed-%s.json" % n)))
        cpu_ = json.load(open(os.path.join(work, "cpu-%s.json" % n)))
        probes = json.load(open(os.path.join(work, "probes-%s.json" % n)))
        d = [p["dispatched_s"] for p in probes if p["dispatched_s"] is not None]
        r = [p["running_s"] for p in probes if p["running_s"] is not None]

        def fmt(xs):
            return "%.1f s (%.1f s)" % (statistics.median(xs), max(xs)) if xs else "-"
        w("| %s | %.0f s | %.1f %% of one core (%.1f CPU-s in %.0f s) | %.0f %% of %d cores | %s | %s | %d (%d started) |" % (
            n, parsed["seconds"], cpu_["pct_of_core"], cpu_["cpu_s"], cpu_["seconds"],
            cpu_["machine_pct_of_core"] / cpu_["nproc"], cpu_["nproc"], fmt(d), fmt(r),
            len(probes), len(r)))
    w("")
    w("`all parsed after`: from the end of the creates of that step until Airflow listed all "
      "our DAGs (new files go to the front of the parse queue). The dispatcher retries a "
      "run whose DAG is not parsed yet every 2 s, so create -> dispatched moves in steps of "
      "about 2 s.")
    print("\n".join(o))


def main(argv):
    cmds = {"create": cmd_create, "wait-parsed": cmd_wait_parsed, "cpu": cmd_cpu,
            "probes": cmd_probes, "delete-dags": cmd_delete_dags, "report": cmd_report}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
