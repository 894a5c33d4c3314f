#!/usr/bin/env python3
"""bench.py - the measuring half of bench/run.sh (Python 3 standard library only).

run.sh starts the servers and calls the subcommands below; bench.py mints the
bearer token, walks the job list by cursor, drives wrk in interleaved rounds
(A, B, then B, A, ...) so machine noise hits both sides of a comparison alike,
and writes bench/results.md.

  bench.py token SECRET SUB DOMAIN            print an HS256 bearer token (1 h)
  bench.py walk URL TOKEN DEPTH OUT.json      follow next_cursor through the whole
                                              list, record the cursor of page DEPTH
  bench.py measure PLAN.json OUT.json         run the wrk/pgbench plan, raw results as JSON
  bench.py settle URL TIMEOUT_S               wait until the outbox of database URL is
                                              empty, then end its active jobs; print JSON
  bench.py wal SPEC.json OUT.json             WAL written per trigger (fixed counts)
  bench.py callgrind FILE OUT.json            top functions of a callgrind profile
  bench.py callgrind-fcgi DIR OUT.json        instructions per FastCGI request
  bench.py report META MEASURE WALK ROWS WAL HOT CALLGRIND CALLGRIND-FCGI [OLD-RESULTS]
                                              > results.md (CALLGRIND files may be "-":
                                              skipped; the stack-Airflow block of
                                              OLD-RESULTS is carried over)
  bench.py stack-block RESULTS BLOCK.md       put BLOCK.md (bench/stack-airflow.sh) into
                                              RESULTS between its markers
"""
import base64
import glob
import hashlib
import hmac
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cmd_token(secret, sub, domain):
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps({"sub": sub, "domains": [domain], "iat": now, "exp": now + 3600},
                             separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    print("%s.%s.%s" % (head, body, b64url(sig)))


def get_json(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def cmd_walk(base, token, depth, out):
    """Walk every page (limit 50): the keyset cursor must visit each job once."""
    depth = int(depth)
    url, seen, pages, cursor_at_depth, dup = base + "?limit=50", set(), 0, None, 0
    t0 = time.monotonic()
    while True:
        status, page = get_json(url, token)
        if status != 200:
            sys.exit("walk: HTTP %d at page %d" % (status, pages + 1))
        pages += 1
        for item in page["items"]:
            if item["job_id"] in seen:
                dup += 1
            seen.add(item["job_id"])
        nxt = page.get("next_cursor")
        if pages == depth - 1:
            cursor_at_depth = nxt   # the cursor that leads to page DEPTH
        if not nxt:
            break
        url = base + "?limit=50&cursor=" + urllib.request.quote(nxt, safe="")
    secs = time.monotonic() - t0
    if cursor_at_depth is None:
        sys.exit("walk: the list has only %d pages, fewer than %d" % (pages, depth))
    json.dump({"pages": pages, "distinct": len(seen), "duplicates": dup, "seconds": secs,
               "depth": depth, "cursor": cursor_at_depth}, open(out, "w"))
    print("walk: %d pages, %d distinct jobs, %d duplicates, %.2f s" % (pages, len(seen), dup, secs))


# ---- wrk and pgbench -----------------------------------------------------------

def run_wrk(wrk_lua, url, conc, seconds, env_extra, label):
    env = dict(os.environ)
    for k in ("BENCH_TOKEN", "BENCH_METHOD", "BENCH_BODY_FILE", "BENCH_PATHS_FILE", "BENCH_MAX",
              "BENCH_STOP_AT_MAX"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in env_extra.items()})
    cmd = ["wrk", "-t1", "-c%d" % conc, "-d%ds" % seconds, "--timeout", "10s", "-s", wrk_lua, url]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=seconds + 60)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("BENCHJSON ")]
    if p.returncode != 0 or not line:
        sys.exit("wrk failed for %s (exit %d):\n%s" % (label, p.returncode, p.stdout))
    r = json.loads(line[-1][len("BENCHJSON "):])
    active = r["active_us"] if r["active_us"] > 0 else r["duration_us"]
    r["rps"] = r["requests"] / (active / 1e6) if active else 0.0
    r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return r


def pct(sorted_xs, q):
    """Nearest-rank percentile of a sorted list (q in 0..100)."""
    if not sorted_xs:
        return 0
    return sorted_xs[max(0, int(math.ceil(q / 100.0 * len(sorted_xs))) - 1)]


def run_pgbench(pg, conc, seconds, label, count=None):
    """pgbench with one client thread (like wrk -t1), prepared statements, `conc`
    connections, for `seconds` (or `count` transactions per client). Latency
    percentiles come from its per-transaction log (-l)."""
    logdir = tempfile.mkdtemp(prefix="pgbench-")
    try:
        cmd = [pg["pgbench"], "-n", "-M", "prepared", "-c", str(conc), "-j", "1",
               "-D", "k=0", "-D", "nc=%d" % conc, "-f", pg["script"],
               "-l", "--log-prefix", os.path.join(logdir, "pgb")]
        cmd += ["-t", str(count)] if count else ["-T", str(seconds)]
        cmd.append(pg["url"])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=(seconds or 0) + 300)
        out = p.stdout
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        if p.returncode not in (0, 2) or not done or not tps:
            sys.exit("pgbench failed for %s (exit %d):\n%s" % (label, p.returncode, out))
        lat = []
        for f in glob.glob(os.path.join(logdir, "pgb.*")):
            with open(f) as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2].isdigit():
                        lat.append(int(parts[2]))
        lat.sort()
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    n = int(done.group(1))
    rps = float(tps.group(1))
    errors = (int(failed.group(1)) if failed else 0) + (1 if p.returncode else 0)
    return {"requests": n, "rps": rps, "duration_us": int(n / rps * 1e6) if rps else 0,
            "active_us": int(n / rps * 1e6) if rps else 0, "bytes": 0, "errors": errors,
            "lat_mean_us": statistics.mean(lat) if lat else 0, "lat_p50_us": pct(lat, 50),
            "lat_p90_us": pct(lat, 90), "lat_p99_us": pct(lat, 99),
            "lat_max_us": lat[-1] if lat else 0}


def run_cmd(cmd, what):
    """A hook of the plan (reset, probe, settle): its stdout, stripped. A list of
    commands runs them in turn (the output of the last one)."""
    if cmd and isinstance(cmd[0], list):
        out = ""
        for c in cmd:
            out = run_cmd(c, what)
        return out
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s failed (exit %d): %s\n%s" % (what, p.returncode, " ".join(cmd), p.stderr))
    return p.stdout.strip()


# CPU time by component: the processes descending from the given roots (run.sh,
# which starts the servers and the load generators, and the postmaster), grouped
# by name; "other" is the rest of the machine (other users' builds and tests).
CPU_GROUPS = {"automl-api": "automl-api", "automl-api-old": "automl-api", "postgres": "postgres",
              "lighttpd": "lighttpd", "nginx": "nginx", "automl-ctl": "dispatcher",
              "wrk": "load generator", "pgbench": "load generator"}


def cpu_snapshot(roots):
    procs, gen = {}, 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        procs[int(d)] = (comm, int(f[1]), int(f[11]) + int(f[12]))   # ppid, utime+stime
        if int(d) == os.getpid():   # the load generators (wrk, pgbench) it waited for
            gen = int(f[13]) + int(f[14])
    ours = {"load generator": gen}
    for pid in procs:
        p, hops = pid, 0
        while p in procs and hops < 64:
            if p in roots:
                comm, _, ticks = procs[pid]
                g = CPU_GROUPS.get(comm, "other of ours")
                ours[g] = ours.get(g, 0) + ticks
                break
            p, hops = procs[p][1], hops + 1
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    busy = sum(f[:8]) - f[3] - f[4]   # user..steal, less idle and iowait
    return ours, busy, time.monotonic()


def cpu_delta(a, b):
    tck = float(os.sysconf("SC_CLK_TCK"))
    out = {g: (b[0].get(g, 0) - a[0].get(g, 0)) / tck for g in set(a[0]) | set(b[0])}
    out["machine"] = (b[1] - a[1]) / tck
    out["wall"] = b[2] - a[2]
    return out


def run_target(plan, t, conc, secs):
    env = dict(t.get("env", {}))
    if t.get("before"):
        run_cmd(t["before"], "before-hook of " + t["label"])
    roots = set(plan.get("cpu_roots", []))
    c0 = cpu_snapshot(roots) if roots else None
    if t.get("pgbench"):
        r = run_pgbench(t["pgbench"], conc, secs, t["label"])
    else:
        r = run_wrk(plan["wrk_lua"], t["url"], conc, secs, env, t["label"])
    if c0:
        r["cpu"] = cpu_delta(c0, cpu_snapshot(roots))
    if t.get("probe"):   # e.g. "rows that changed|rows now running", or JSON
        out = run_cmd(t["probe"], "probe of " + t["label"])
        try:
            r["probe"] = json.loads(out)
        except ValueError:
            r["probe"] = [int(x) for x in out.split("|")]
        if t.get("pgbench") and r["probe"][0] != r["requests"]:
            # a transaction that found no ready row updated nothing: the pool was too small
            print("  %s: %d transactions but %d rows changed (pool too small?)"
                  % (t["label"], r["requests"], r["probe"][0]), flush=True)
            r["errors"] += abs(r["requests"] - r["probe"][0])
    if t.get("after"):
        out = run_cmd(t["after"], "after-hook of " + t["label"])
        try:
            r["after"] = json.loads(out)
        except ValueError:
            r["after"] = out
    return r


def cmd_measure(plan_file, out):
    """PLAN: {"wrk_lua", "seconds", "warmup_seconds", "rounds", "concurrency": [..],
    "groups": [{"name", "kind": "pair"|"single", "concurrency" (optional), "rounds"
    (optional), "seconds" (optional), "targets": [{"label", "url", "env", "warmup",
    "before", "probe", "after", "pgbench"}]}]}. For each concurrency and round, every
    group at that concurrency runs its targets back to back; in a "pair" (two or more
    targets) the order is reversed every other round (A B C, C B A, ...). before:
    a command run before each run (not timed: resetting the trigger pool); probe: a
    command run right after (its output is recorded); after: a command run after the
    probe (settling the dispatcher)."""
    plan = json.load(open(plan_file))
    secs, rounds = plan["seconds"], plan["rounds"]
    results = []
    # warm-up: every target once, short, not recorded (FastCGI spawn, caches)
    for g in plan["groups"]:
        for t in g["targets"]:
            if t.get("warmup", True):
                run_wrk(plan["wrk_lua"], t["url"], 1, plan["warmup_seconds"], t.get("env", {}), t["label"])
                if t.get("after"):
                    run_cmd(t["after"], "after-hook of " + t["label"])
    levels = sorted({c for g in plan["groups"] for c in g.get("concurrency", plan["concurrency"])})
    for conc in levels:
        groups = [g for g in plan["groups"] if conc in g.get("concurrency", plan["concurrency"])]
        for rnd in range(max(g.get("rounds", rounds) for g in groups)):
            for g in groups:
                if rnd >= g.get("rounds", rounds):
                    continue
                targets = list(g["targets"])
                if g["kind"] == "pair" and rnd % 2 == 1:
                    targets.reverse()
                for t in targets:
                    r = run_target(plan, t, conc, g.get("seconds", secs))
                    r.update({"group": g["name"], "label": t["label"], "conc": conc, "round": rnd + 1})
                    results.append(r)
                    print("  c=%d round %d %-34s %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d"
                          % (conc, rnd + 1, t["label"], r["rps"], r["lat_p50_us"] / 1000,
                             r["lat_p99_us"] / 1000, r["errors"]), flush=True)
    json.dump({"plan": plan, "results": results}, open(out, "w"), indent=1)


def psql(url, sql):
    return run_cmd(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], "psql")


def cmd_settle(url, timeout_s):
    """After a create run: wait (bounded) until the dispatcher has emptied the
    outbox, record how the jobs left it, then delete the jobs (and their outbox
    rows) so that the dispatcher's reconciliation does not go on in the background
    of later runs; deleting, not updating, leaves the table's update statistics
    (HOT) to the service."""
    t0 = time.monotonic()
    left = -1
    while time.monotonic() - t0 < float(timeout_s):
        left = int(psql(url, "SELECT count(*) FROM dispatch_queue"))
        if left == 0:
            break
        time.sleep(0.25)
    waited = time.monotonic() - t0
    # the jobs of earlier runs were deleted by the settle after them
    row = psql(url, "SELECT count(*) FILTER (WHERE dispatched_at IS NOT NULL),"
               " count(*) FILTER (WHERE status = 'failed'),"
               " coalesce(round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP"
               "  (ORDER BY dispatched_at - created_at))), -1),"
               " coalesce(round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP"
               "  (ORDER BY dispatched_at - created_at))), -1)"
               " FROM training_jobs").split("|")
    psql(url, "DELETE FROM training_jobs")   # their outbox rows go with them (ON DELETE CASCADE)
    print(json.dumps({"waited_s": round(waited, 2), "left": left, "dispatched": int(row[0]),
                      "failed": int(row[1]), "dispatch_p50_ms": int(float(row[2])),
                      "dispatch_p99_ms": int(float(row[3]))}))


# ---- WAL per trigger --------------------------------------------------------------

WALDUMP_ROW = re.compile(r"^(\S+)\s+(\d+)\s+\(\s*[\d.]+\)\s+(\d+)\s+\(\s*[\d.]+\)\s+(\d+)\s+"
                         r"\(\s*[\d.]+\)\s+(\d+)\s+\(")


def waldump_stats(spec, lsn0, lsn1):
    p = subprocess.run([spec["pg_waldump"], "-p", spec["waldir"], "-s", lsn0, "-e", lsn1,
                        "--stats=record"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    if p.returncode != 0:
        sys.exit("pg_waldump failed:\n" + p.stdout)
    recs = {}
    for line in p.stdout.splitlines():
        m = WALDUMP_ROW.match(line.strip())
        if m:
            recs[m.group(1)] = {"n": int(m.group(2)), "rec": int(m.group(3)),
                                "fpi": int(m.group(4)), "bytes": int(m.group(5))}
    # (the "Total" line has another layout: sum the rows)
    recs["Total"] = {k: sum(v[k] for v in recs.values()) for k in ("n", "rec", "fpi", "bytes")}
    return recs


def cmd_wal(spec_file, out):
    """SPEC: {"url" (any database of the cluster), "pg_waldump", "waldir", "wrk_lua",
    "count", "conc", "reps", "systems": [{"label", "url"|"pgbench", "env", "reset",
    "changed"}]}. For each repetition (the system order flips every time) and each
    system: the pool is reset, CHECKPOINT, then the triggers: each page's first
    change after the checkpoint carries a full-page image (FPI), as in production,
    where a job is rarely triggered twice between two checkpoints. pg_waldump gives
    the records' own bytes (without the images) too.
    WAL bytes = pg_wal_lsn_diff of pg_current_wal_insert_lsn() around the run, divided
    by the rows that changed (the "changed" command); pg_waldump breaks it down."""
    spec = json.load(open(spec_file))
    url = spec["url"]
    results = []
    for rep in range(spec["reps"]):
        systems = list(spec["systems"])
        if rep % 2 == 1:
            systems.reverse()
        for mode in ("cold",):
            for s in systems:
                run_cmd(s["reset"], "reset of " + s["label"])
                psql(url, "CHECKPOINT")
                lsn0 = psql(url, "SELECT pg_current_wal_insert_lsn()")
                if s.get("pgbench"):
                    r = run_pgbench(s["pgbench"], spec["conc"], 0, s["label"],
                                    count=spec["count"] // spec["conc"])
                else:
                    env = dict(s.get("env", {}))
                    env["BENCH_MAX"] = spec["count"]
                    env["BENCH_STOP_AT_MAX"] = 1   # wrk exits at the count, not after -d
                    r = run_wrk(spec["wrk_lua"], s["url"], spec["conc"], 120, env, s["label"])
                time.sleep(0.3)   # answers wrk stopped waiting for are still committed
                lsn1 = psql(url, "SELECT pg_current_wal_insert_lsn()")
                nbytes = int(psql(url, "SELECT pg_wal_lsn_diff('%s', '%s')" % (lsn1, lsn0)))
                changed = int(run_cmd(s["changed"], "count of " + s["label"]).split("|")[0])
                psql(url, "SELECT pg_switch_wal()")   # flushes the WAL for pg_waldump
                recs = waldump_stats(spec, lsn0, lsn1)
                row = {"label": s["label"], "mode": mode, "rep": rep + 1, "changed": changed,
                       "answers": r["requests"], "errors": r["errors"], "rps": r["rps"],
                       "wal_bytes": nbytes, "records": recs}
                results.append(row)
                tot = recs.get("Total", {"n": 0, "fpi": 0})
                print("  WAL %-28s %5d changed  %7.0f B/trigger  (FPI %6.0f B, records %5.0f B, %4.1f records)"
                      % (s["label"], changed, nbytes / max(changed, 1), tot["fpi"] / max(changed, 1),
                         tot["rec"] / max(changed, 1), tot["n"] / max(changed, 1)), flush=True)
    json.dump({"spec": spec, "results": results}, open(out, "w"), indent=1)


# ---- callgrind -------------------------------------------------------------

def split_name(rest):
    """'src/file.c:func [/some/dir/obj.so]' -> ('func', 'obj.so'): no local paths."""
    obj = ""
    if rest.endswith("]") and " [" in rest:
        rest, obj = rest[:-1].rsplit(" [", 1)
        obj = os.path.basename(obj)
    fn = rest.split(":", 1)[1] if ":" in rest else rest
    if fn.startswith("0x"):
        fn = "(no symbol)"
    return fn, obj


# Inclusive costs worth naming: where one CGI request's instructions go.
BREAKDOWN = [   # (function, where it sits, what it is)
    ("_dl_start", "_dl_start", "dynamic loader: map and relocate the shared libraries (before main)"),
    ("_dl_init", "_dl_init", "shared libraries' constructors"),
    ("main", "main", "main() and everything it calls"),
    ("curl_global_init", "main / curl_global_init", "libcurl's global set-up (initialises OpenSSL)"),
    ("service_init", "main / service_init", "configuration, handles, keys"),
    ("serve", "main / serve", "the request itself"),
    ("auth_authenticate", "serve / ... / auth_authenticate", "bearer token check (HS256)"),
    ("EVP_MD_fetch", "auth_authenticate / ... / EVP_MD_fetch", "OpenSSL's first digest lookup in the process"),
    ("store_ensure", "serve / ... / store_ensure", "connect to PostgreSQL (client side)"),
    ("store_get_job", "serve / ... / store_get_job", "SELECT of the job"),
    ("job_to_json", "serve / ... / job_to_json", "job -> JSON object"),
    ("http_respond_json", "serve / ... / http_respond_json", "JSON text and writing the response"),
    ("exit", "exit", "exit handlers (libraries' clean-up)"),
]


def cmd_callgrind(prof, out):
    def annotate(inclusive):
        p = subprocess.run(["callgrind_annotate", "--inclusive=" + ("yes" if inclusive else "no"),
                            "--threshold=100", prof], stdout=subprocess.PIPE, text=True, check=True)
        total, rows, seen = None, [], set()
        for line in p.stdout.splitlines():
            s = line.strip()
            if not s or not s[0].isdigit():
                continue
            parts = s.split(None, 1)
            try:
                ir = int(parts[0].replace(",", ""))
            except ValueError:
                continue
            rest = parts[1] if len(parts) > 1 else ""
            if "PROGRAM TOTALS" in rest:
                total = ir
                continue
            if rest.startswith("("):    # percentage column of newer callgrind_annotate
                rest = rest.split(")", 1)[1].strip()
            fn, obj = split_name(rest)
            # the same function may be listed under two spellings of its source file
            if (ir, fn) in seen:
                continue
            seen.add((ir, fn))
            rows.append((ir, fn, obj))
        return total, rows
    total, self_rows = annotate(False)
    _, incl_rows = annotate(True)
    incl = {}
    for ir, fn, _obj in incl_rows:
        incl[fn] = max(ir, incl.get(fn, 0))
    breakdown = [(incl[fn], where, what) for fn, where, what in BREAKDOWN if fn in incl]
    json.dump({"total": total, "self": [(ir, "%s (%s)" % (fn, obj) if obj else fn)
                                        for ir, fn, obj in self_rows[:15]],
               "breakdown": breakdown}, open(out, "w"))


HANDLERS = {"handle_healthz": "healthz", "handle_get": "GET job", "handle_list": "list page"}


def cmd_callgrind_fcgi(folder, out):
    """One profile per pass of the FastCGI accept loop: name each by the handler it
    ran, keep the last 5 of each kind (the warm-up GETs come first)."""
    import re
    dumps = []
    for name in os.listdir(folder):
        m = re.match(r"cg\.out(?:\.(\d+))?$", name)
        if not m:
            continue
        text = open(os.path.join(folder, name), errors="replace").read()
        tot = re.search(r"^(?:summary|totals): *(\d+)", text, re.M)
        kinds = {k for h, k in HANDLERS.items() if re.search(r"\b%s\b" % h, text)}
        if tot and len(kinds) == 1:
            dumps.append((int(m.group(1) or 0), kinds.pop(), int(tot.group(1))))
    dumps.sort()
    groups = {kind: [ir for _, k, ir in dumps if k == kind] for kind in HANDLERS.values()}
    # the list ran 5 times with the first page, then 5 times with the deep page
    groups["list deep page"] = groups["list page"][-5:]
    groups["list first page"] = groups.pop("list page")[-10:-5]
    res = {}
    for kind, irs in groups.items():
        irs = irs[-5:]
        if len(irs) < 5:
            sys.exit("callgrind-fcgi: %d profiles of %s, expected 5" % (len(irs), kind))
        res[kind] = {"median": statistics.median(irs), "min": min(irs), "max": max(irs)}
    json.dump(res, open(out, "w"))


# ---- report ------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_ms(us):
    return "%.2f" % (us / 1000.0)


STACK_BEGIN = "<!-- stack-airflow:begin (bench/stack-airflow.sh writes this block; run.sh keeps it) -->"
STACK_END = "<!-- stack-airflow:end -->"


def stack_block(text):
    """The block bench/stack-airflow.sh wrote into a results file, or ''."""
    i, j = text.find(STACK_BEGIN), text.find(STACK_END)
    if i < 0 or j < i:
        return ""
    return text[i:j + len(STACK_END)]


def cmd_stack_block(results, block_file):
    text = open(results).read() if os.path.exists(results) else ""
    block = "%s\n%s\n%s" % (STACK_BEGIN, open(block_file).read().strip(), STACK_END)
    old = stack_block(text)
    text = text.replace(old, block) if old else text.rstrip("\n") + "\n\n" + block
    with open(results + ".tmp", "w") as f:
        f.write(text.rstrip("\n") + "\n")
    os.replace(results + ".tmp", results)


def cmd_report(meta_file, meas_file, walk_file, rows_file, wal_file, hot_file, cg_file, cgf_file,
               old_results=None):
    meta = json.load(open(meta_file))
    meas = json.load(open(meas_file))
    walk = json.load(open(walk_file))
    rows = json.load(open(rows_file))
    wal = json.load(open(wal_file))
    hot = json.load(open(hot_file))
    cg = json.load(open(cg_file)) if cg_file != "-" else None
    cgf = json.load(open(cgf_file)) if cgf_file != "-" else None
    res = meas["results"]
    plan = meas["plan"]
    groups = {g["name"]: g for g in plan["groups"]}
    o = []
    w = o.append
    w("# Benchmark results")
    w("")
    w("Produced by `bench/run.sh` (see [README.md](README.md)); do not edit by hand "
      "(the last section, if any, by `bench/stack-airflow.sh`).")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| date (UTC) | %s |" % meta["date"])
    w("| command | `%s` |" % meta["command"])
    w("| `nproc` | %s |" % meta["nproc"])
    w("| CPU | %s |" % meta["cpu"])
    w("| load average before the run | %s |" % meta["loadavg"])
    w("| load average after the run | %s |" % meta.get("loadavg_after", "?"))
    w("| commit | %s |" % meta["commit"])
    w("| build | `CFLAGS=%s` |" % meta["cflags"])
    w("| servers | %s |" % meta["servers"])
    w("| load generators | %s, one thread, keep-alive; %s, one thread (`-j 1`), prepared "
      "statements; %d rounds of %d s per target and concurrency, after a %d s warm-up of each |"
      % (meta["wrk"], meta["pgbench"], plan["rounds"], plan["seconds"], plan["warmup_seconds"]))
    w("| jobs in the table | %s (list benchmark); trigger pool %s ready jobs |"
      % (meta["jobs"], meta["pool"]))
    if meta.get("old_commit"):
        w("| previous trigger | commit %s (the last before the outbox), built from `git archive` "
          "in the build folder, on its own database with its schema (version 1) |" % meta["old_commit"])
    w("")
    w("The machine is shared and noisy: absolute numbers move from run to run. Only the "
      "**ratios** of targets measured side by side in this run (interleaved rounds, the order "
      "flipped every round) mean something. req/s and latency are the median over the rounds; "
      "a ratio is the median of the per-round ratios (min-max in brackets).")
    w("")
    total_err = sum(r["errors"] for r in res)

    def rows_of(group, label, conc):
        return [r for r in res if r["group"] == group and r["label"] == label and r["conc"] == conc]

    def levels(group):
        return sorted({r["conc"] for r in res if r["group"] == group})

    def table(group, labels):
        w("| target | c | req/s (min-max) | p50 ms | p90 ms | p99 ms | bytes/answer | answers | errors |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for conc in levels(group):
            for lab in labels:
                rs = rows_of(group, lab, conc)
                if not rs:
                    continue
                rps = [r["rps"] for r in rs]
                n = sum(r["requests"] for r in rs)
                by = sum(r["bytes"] for r in rs) / n if n else 0
                w("| %s | %d | %.0f (%.0f-%.0f) | %s | %s | %s | %s | %d | %d |" % (
                    lab, conc, med(rps), min(rps), max(rps),
                    fmt_ms(med([r["lat_p50_us"] for r in rs])),
                    fmt_ms(med([r["lat_p90_us"] for r in rs])),
                    fmt_ms(med([r["lat_p99_us"] for r in rs])),
                    "%.0f" % by if by else "-", n, sum(r["errors"] for r in rs)))
        w("")

    def metric(r, what):
        return {"req/s": r["rps"], "p50 latency": r["lat_p50_us"], "p99 latency": r["lat_p99_us"]}[what]

    def ratio_values(group, num, den, what, conc):
        a = {r["round"]: r for r in rows_of(group, num, conc)}
        b = {r["round"]: r for r in rows_of(group, den, conc)}
        return [metric(a[k], what) / metric(b[k], what) for k in a if k in b and metric(b[k], what) > 0]

    def ratios(group, pairs, what):
        w("| ratio | c | %s (min-max) |" % what)
        w("| --- | ---: | ---: |")
        for num, den in pairs:
            for conc in levels(group):
                rr = ratio_values(group, num, den, what, conc)
                if rr:
                    w("| %s / %s | %d | **%.2f** (%.2f-%.2f) |" % (num, den, conc, med(rr), min(rr), max(rr)))
        w("")

    def tail_ratio(group, label, conc):
        rr = [r["lat_p99_us"] / r["lat_p50_us"] for r in rows_of(group, label, conc) if r["lat_p50_us"]]
        return rr

    def cpu_table(group, labels, conc):
        cols = ["automl-api", "postgres", "lighttpd", "nginx", "dispatcher", "load generator"]
        if not any(r.get("cpu") for lab in labels for r in rows_of(group, lab, conc)):
            return
        w("CPU time per answer by component (ms, median over the rounds; from `/proc`, the "
          "processes this run started; `postgres` includes every backend of the cluster, the "
          "dispatchers' too; `rest of machine` is everything else on the %s cores: other users' "
          "work, kernel threads; `busy`: how much of the machine's capacity was in use during "
          "the run):" % meta["nproc"])
        w("")
        w("| target | " + " | ".join(cols) + " | total ours | rest of machine | busy |")
        w("| --- | " + " | ".join("---:" for _ in cols) + " | ---: | ---: | ---: |")
        for lab in labels:
            rs = [r for r in rows_of(group, lab, conc) if r.get("cpu") and r["requests"]]
            if not rs:
                continue
            cells = []
            for c in cols:
                cells.append("%.3f" % med([1000.0 * r["cpu"].get(c, 0) / r["requests"] for r in rs]))
            def own(r):
                return sum(v for k, v in r["cpu"].items() if k not in ("machine", "wall"))
            ours = [1000.0 * own(r) / r["requests"] for r in rs]
            rest = [1000.0 * max(r["cpu"]["machine"] - own(r), 0) / r["requests"] for r in rs]
            busy = [r["cpu"]["machine"] / (r["cpu"]["wall"] * int(meta["nproc"])) for r in rs
                    if r["cpu"].get("wall")]
            w("| %s | %s | %.3f | %.3f | %.0f %% |" % (lab, " | ".join(cells), med(ours), med(rest),
                                                    100.0 * med(busy) if busy else 0))
        w("")

    w("## 1. FastCGI (lighttpd) vs plain CGI (Apache), same binary")
    w("")
    table("healthz", ["healthz FastCGI", "healthz CGI"])
    ratios("healthz", [("healthz FastCGI", "healthz CGI")], "req/s")
    table("get", ["GET job FastCGI", "GET job CGI"])
    ratios("get", [("GET job FastCGI", "GET job CGI")], "req/s")
    w("## 2. List with %s jobs: first page vs a deep page (keyset cursor), FastCGI" % meta["jobs"])
    w("")
    w("`GET /api/automl/train/jobs?limit=50` (first page) and the same with the cursor that "
      "leads to page %d of %d (rows %d-%d). Walking all %d pages by cursor took %.2f s and "
      "visited %d distinct jobs (%d duplicates)." % (
          walk["depth"], walk["pages"], (walk["depth"] - 1) * 50 + 1, walk["depth"] * 50,
          walk["pages"], walk["seconds"], walk["distinct"], walk["duplicates"]))
    w("")
    n = rows["requests"]
    w("What PostgreSQL read per request (deterministic; `pg_stat_user_tables` and "
      "`pg_statio_user_tables` around %d plain-CGI runs of each): rows fetched "
      "first page **%.1f**, deep page **%.1f**; buffer pages touched (heap, index, TOAST) "
      "first page %.1f, deep page %.1f. An OFFSET-style query would read ~%d rows for the "
      "deep page." % (n, rows["first_rows"] / n, rows["deep_rows"] / n,
                      rows["first_blocks"] / n, rows["deep_blocks"] / n, walk["depth"] * 50))
    w("")
    table("list", ["list first page", "list deep page"])
    ratios("list", [("list deep page", "list first page")], "p50 latency")
    ratios("list", [("list deep page", "list first page")], "req/s")
    w("## 3. and 4. Create (`auto_trigger: false`) and trigger, FastCGI")
    w("")
    w("Every trigger hits a job of its own: the pool of %s `ready` jobs is reset (back to "
      "`ready`, outbox rows deleted, `VACUUM`) before each run, and a run stops before it "
      "runs out of jobs, so every answer is a real `ready -> queued` transition: the "
      "one-statement trigger (UPDATE, outbox row, NOTIFY), one `POST dagRuns` to the Airflow "
      "stand-in (nginx with canned answers: accepted), `dispatched_at` stamped. The dispatcher "
      "(`automl-ctl dispatch`) runs beside the service, as in production." % meta["pool"])
    w("")
    table("write", ["create", "trigger"])

    if "trig32" in groups:
        g = groups["trig32"]
        labels = [t["label"] for t in g["targets"]]
        role = {t.get("role"): t["label"] for t in g["targets"]}
        trig, ceil = role["new"], role["ceiling"]
        paused, old = role.get("paused"), role.get("old")
        c = g["concurrency"][0]
        w("## 5. Trigger at %d connections vs the pgbench ceiling" % c)
        w("")
        w("Side by side in each round (the order reversed every other round), each run on a "
          "freshly reset pool:")
        w("")
        w("- **%s**: `POST .../{id}/trigger` through lighttpd + FastCGI (%s processes), as in "
          "section 4, the dispatcher running." % (trig, meta["procs"]))
        if paused:
            w("- **%s**: the same, with the dispatcher stopped (SIGSTOP) for the run: the "
              "request path alone." % paused)
        if old:
            w("- **%s**: the same request to the binary of commit %s (row lock, PATCH unpause "
              "and POST dagRuns to the same nginx stand-in while the row is locked, UPDATE, "
              "COMMIT) on its own database with the schema of that commit, and the same pool." %
              (old, meta["old_commit"]))
        w("- **%s**: `pgbench -M prepared -c %d -j 1` running one statement per transaction "
          "on the same table, schema and pool as the trigger: `UPDATE training_jobs SET "
          "status = 'queued', trigger_attempts = trigger_attempts + 1, airflow_dag_run_id = "
          "..., error_message = NULL, mlflow_run_id = NULL, dispatched_at = NULL, ended_at = "
          "NULL, updated_at = clock_timestamp(), last_synced_at = NULL WHERE job_id = :id AND "
          "status = 'ready' RETURNING *` (each transaction a job of its own; checked: the rows "
          "changed equal the transactions). No HTTP, no JSON, no outbox, no Airflow: what the "
          "database alone can do." % (ceil, c))
        w("")
        table("trig32", labels)
        pairs = [(trig, ceil)] + ([(paused, ceil)] if paused else []) + \
            ([(old, ceil), (trig, old)] if old else []) + ([(paused, old)] if paused and old else [])
        ratios("trig32", pairs, "req/s")
        w("| tail | c | p99 / p50 (min-max) |")
        w("| --- | ---: | ---: |")
        for lab in labels:
            rr = tail_ratio("trig32", lab, c)
            if rr:
                w("| %s | %d | **%.2f** (%.2f-%.2f) |" % (lab, c, med(rr), min(rr), max(rr)))
        w("")
        cpu_table("trig32", labels, c)
        r_ceil = ratio_values("trig32", trig, ceil, "req/s", c)
        r_tail = tail_ratio("trig32", trig, c)
        w("Targets at %d connections: trigger >= 0.40 of the ceiling: **%s** (%.2f); trigger "
          "p99 <= 3 x p50: **%s** (%.2f)." % (
              c, "met" if r_ceil and med(r_ceil) >= 0.40 else "not met", med(r_ceil),
              "met" if r_tail and med(r_tail) <= 3.0 else "not met", med(r_tail)))
        runs = [r for r in rows_of("trig32", trig, c) if r.get("probe")]
        if runs:
            ch = sum(r["probe"][0] for r in runs)
            rn = sum(r["probe"][1] for r in runs)
            w("")
            w("Of the %d jobs the %s runs moved to `queued`, %d (%.0f %%) were already "
              "`running` when each run ended: the dispatcher, woken by every trigger's NOTIFY, "
              "reconciles freshly dispatched jobs at once (`last_synced_at` is null), one "
              "`GET dagRun` and one UPDATE each, concurrently with the triggers." %
              (ch, trig, rn, 100.0 * rn / ch if ch else 0))
        w("")

    if "auto32" in groups:
        g = groups["auto32"]
        ok, delay = [t["label"] for t in g["targets"]]
        c = g["concurrency"][0]
        w("## 6. Create with auto-trigger at %d connections: Airflow answering vs a %s s parse delay"
          % (c, meta["parse_delay"]))
        w("")
        w("`POST /api/automl/train/jobs` with `auto_trigger` true (default): insert, DAG file "
          "published, outbox row, NOTIFY, one transaction; create never calls Airflow. Each "
          "side has its own database, lighttpd and dispatcher. **%s**: the dispatcher's POST "
          "is accepted at once (nginx). **%s**: a second nginx server answers 404 to every "
          "`POST dagRuns` (the DAG is not parsed), so the dispatcher retries every 2 s; its "
          "`AUTOML_DISPATCH_DEADLINE_S` is %s, so each job is retried for %s s and then leaves "
          "the outbox (failed, after the GET run and importErrors look-ups): the same Airflow "
          "traffic as a %s s parse delay. Runs of %d s (%d rounds), longer than the delay, so the "
          "retries of the run's own earlier jobs overlap its later creates; after each run the "
          "outbox is drained and the jobs ended, so no run inherits another's background work."
          % (ok, delay, meta["parse_delay"], meta["parse_delay"], meta["parse_delay"],
             g.get("seconds", plan["seconds"]), g.get("rounds", plan["rounds"])))
        w("")
        table("auto32", [ok, delay])
        ratios("auto32", [(delay, ok)], "p50 latency")
        ratios("auto32", [(delay, ok)], "p99 latency")
        ratios("auto32", [(delay, ok)], "req/s")
        cpu_table("auto32", [ok, delay], c)
        rr = ratio_values("auto32", delay, ok, "p99 latency", c)
        w("Target: create with auto-trigger p99 unaffected by the parse delay: p99 delay/no "
          "delay **%.2f** (min-max %.2f-%.2f)." % (med(rr), min(rr), max(rr)) if rr else "")
        w("")
        for lab in (ok, delay):
            aft = [r["after"] for r in rows_of("auto32", lab, c) if isinstance(r.get("after"), dict)]
            if not aft:
                continue
            w("- %s: after the runs the dispatcher needed %s s (median) to empty the outbox; "
              "%d jobs dispatched, %d failed at the deadline; create -> run accepted by the "
              "stand-in: p50 %s ms, p99 %s ms (median over the runs)." % (
                  lab, "%.1f" % med([x["waited_s"] for x in aft]),
                  sum(x["dispatched"] for x in aft), sum(x["failed"] for x in aft),
                  "%.0f" % med([x["dispatch_p50_ms"] for x in aft]) if any(x["dispatch_p50_ms"] >= 0 for x in aft) else "-",
                  "%.0f" % med([x["dispatch_p99_ms"] for x in aft]) if any(x["dispatch_p99_ms"] >= 0 for x in aft) else "-"))
        w("")

    # ---- WAL
    wres = wal["results"]
    spec = wal["spec"]
    if wres:
        w("## 7. WAL per trigger")
        w("")
        w("A fixed number of triggers (%d answers at %d connections; the pgbench ceiling %d "
          "transactions) on a freshly reset pool of %s jobs, with the dispatchers stopped, right "
          "after a CHECKPOINT: the first change of each page after a checkpoint carries a "
          "full-page image (FPI), as in production, where a job is rarely triggered twice "
          "between two checkpoints. The cluster runs with `full_page_writes=on` (fsync off; no "
          "automatic checkpoint during the run). WAL bytes: `pg_wal_lsn_diff` of "
          "`pg_current_wal_insert_lsn()` around the run, divided by the rows that really "
          "changed; FPI bytes, record bytes (the records without their images), records and "
          "heap updates from `pg_waldump --stats=record`. Median of %d repetitions (the order "
          "flipped every time)." % (
              spec["count"], spec["conc"], spec["count"] // spec["conc"] * spec["conc"],
              meta["pool"], spec["reps"]))
        w("")
        w("| target | rows changed | WAL bytes / trigger | of it FPI | records without FPI, bytes "
          "| records / trigger | heap updates / trigger | of them HOT |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        summary = {}

        def recs(r, key, field):
            return r["records"].get(key, {}).get(field, 0)

        def heap_upd(r):
            return (recs(r, "Heap/UPDATE", "n") + recs(r, "Heap/UPDATE+INIT", "n")
                    + recs(r, "Heap/HOT_UPDATE", "n") + recs(r, "Heap/HOT_UPDATE+INIT", "n"))
        for s in spec["systems"]:
            rs = [r for r in wres if r["label"] == s["label"]]
            if not rs:
                continue
            per = [r["wal_bytes"] / max(r["changed"], 1) for r in rs]
            fpi = [recs(r, "Total", "fpi") / max(r["changed"], 1) for r in rs]
            rec = [recs(r, "Total", "rec") / max(r["changed"], 1) for r in rs]
            nrec = [recs(r, "Total", "n") / max(r["changed"], 1) for r in rs]
            upd = [heap_upd(r) / max(r["changed"], 1) for r in rs]
            hotn = sum(recs(r, "Heap/HOT_UPDATE", "n") + recs(r, "Heap/HOT_UPDATE+INIT", "n") for r in rs)
            alln = sum(heap_upd(r) for r in rs)
            summary[s["label"]] = (med(per), med(rec))
            w("| %s | %d | **%.0f** | %.0f | %.0f | %.1f | %.2f | %.0f %% |" % (
                s["label"], sum(r["changed"] for r in rs), med(per), med(fpi), med(rec),
                med(nrec), med(upd), 100.0 * hotn / alln if alln else 0))
        w("")
        roles = {s.get("role"): s["label"] for s in spec["systems"]}
        if "new" in roles and "old" in roles and summary[roles["old"]][0]:
            new, old = roles["new"], roles["old"]
            w("%s / %s: WAL bytes per trigger **%.2f** (%.0f vs %.0f), record bytes without "
              "FPI %.2f (%.0f vs %.0f). Target: below today's (about 8 KB per trigger): **%s**." % (
                  new, old, summary[new][0] / summary[old][0], summary[new][0], summary[old][0],
                  summary[new][1] / summary[old][1], summary[new][1], summary[old][1],
                  "met" if summary[new][0] < summary[old][0] and summary[new][0] < 8192 else "not met"))
            w("")
        # record kinds of the new and the old trigger
        for lab in [roles.get("new"), roles.get("old")]:
            rs = [r for r in wres if r["label"] == lab]
            if not rs:
                continue
            r = rs[0]
            kinds = sorted(((v["bytes"], k, v) for k, v in r["records"].items() if k != "Total"),
                           reverse=True)[:8]
            w("Where the WAL of one run of %s goes (%d rows changed):" % (lab, r["changed"]))
            w("")
            w("| record | per trigger | bytes / trigger | of it FPI |")
            w("| --- | ---: | ---: | ---: |")
            for by, k, v in kinds:
                w("| %s | %.2f | %.0f | %.0f |" % (k, v["n"] / r["changed"], by / r["changed"],
                                                   v["fpi"] / r["changed"]))
            w("")
    if hot:
        w("HOT updates of `training_jobs` over the whole run (`n_tup_hot_upd / n_tup_upd` of "
          "`pg_stat_user_tables`, every update of the run: triggers, dispatched stamps, the "
          "dispatcher's reconciles, pool resets, the pgbench ceiling):")
        w("")
        w("| database | updates | HOT | HOT ratio |")
        w("| --- | ---: | ---: | ---: |")
        for h in hot:
            w("| %s | %d | %d | **%.2f** |" % (h["label"], h["upd"], h["hot"],
                                              h["hot"] / h["upd"] if h["upd"] else 0))
        w("")

    if cg:
        w("## Instruction counts: one CGI request `GET /api/automl/train/jobs/{id}` under callgrind")
        w("")
        w("`valgrind --tool=callgrind` on one plain-CGI run of the binary (the CGI environment set "
          "by hand, database warm). Deterministic up to a few percent; counts only the automl-api "
          "process (not PostgreSQL's backend); the binary loads %d shared libraries. Total: **%s** "
          "instructions." % (meta["libs"], format(cg["total"], ",")))
        w("")
        w("Where they go (inclusive: a function and everything it calls):")
        w("")
        w("| Ir (inclusive) | % | function | what |")
        w("| ---: | ---: | --- | --- |")
        for ir, fn, what in cg["breakdown"]:
            w("| %s | %.1f | `%s` | %s |" % (format(ir, ","), 100.0 * ir / cg["total"], fn, what))
        w("")
        w("Top functions by self cost:")
        w("")
        w("| Ir (self) | % | function |")
        w("| ---: | ---: | --- |")
        for ir, fn in cg["self"]:
            w("| %s | %.1f | `%s` |" % (format(ir, ","), 100.0 * ir / cg["total"], fn))
        w("")
    if cgf:
        w("## Instruction counts: FastCGI, per request in the steady state")
        w("")
        w("One FastCGI process under `valgrind --tool=callgrind --dump-before=FCGX_Accept_r` behind "
          "its own lighttpd: one profile per pass of the accept loop, so each holds exactly one "
          "request (reading it, handling it, answering, resetting the arena). After two warm-up "
          "GETs, five requests of each kind, sequential; median (min-max). Only the automl-api "
          "process is counted, not PostgreSQL.")
        w("")
        w("| request | Ir per request (min-max) |")
        w("| --- | ---: |")
        for kind in ("healthz", "GET job", "list first page", "list deep page"):
            d = cgf[kind]
            w("| %s | %s (%s-%s) |" % (kind, format(int(d["median"]), ","), format(d["min"], ","),
                                     format(d["max"], ",")))
        w("")
        if cg:
            w("A plain-CGI GET of a job costs %.0f times the instructions of the same GET in a "
              "FastCGI process that is already running (%s vs %s). A list page (50 jobs, ~0.5 MB of "
              "JSON) is the heaviest request; deep page / first page = %.3f." % (
                  cg["total"] / cgf["GET job"]["median"], format(cg["total"], ","),
                  format(int(cgf["GET job"]["median"]), ","),
                  cgf["list deep page"]["median"] / cgf["list first page"]["median"]))
            w("")
    total_err += sum(r["errors"] for r in wres)
    w("Errors (socket errors, non-2xx answers, pgbench transactions that changed no row) over "
      "all measured runs: %d." % total_err)
    if old_results and os.path.exists(old_results):
        block = stack_block(open(old_results).read())
        if block:
            w("")
            w(block)
    print("\n".join(o))
    return 1 if total_err else 0


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "token":
        cmd_token(*args)
    elif cmd == "walk":
        cmd_walk(*args)
    elif cmd == "measure":
        cmd_measure(*args)
    elif cmd == "callgrind":
        cmd_callgrind(*args)
    elif cmd == "callgrind-fcgi":
        cmd_callgrind_fcgi(*args)
    elif cmd == "settle":
        cmd_settle(*args)
    elif cmd == "wal":
        cmd_wal(*args)
    elif cmd == "report":
        sys.exit(cmd_report(*args))
    elif cmd == "stack-block":
        cmd_stack_block(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
