#!/usr/bin/env python3
"""bench.py - the measuring half of bench/run.sh (Python 3 standard library only).

run.sh starts the servers and calls the subcommands below; bench.py mints the
bearer token, walks the job list by cursor, drives wrk in interleaved rounds
(A, B, then B, A, ...) so machine noise hits both sides of a comparison alike,
and writes bench/results.md.

  bench.py token SECRET SUB DOMAIN            print an HS256 bearer token (1 h)
  bench.py walk URL TOKEN DEPTH OUT.json      follow next_cursor through the whole
                                              list, record the cursor of page DEPTH
  bench.py measure PLAN.json OUT.json         run the wrk plan, raw results as JSON
  bench.py callgrind FILE OUT.json            top functions of a callgrind profile
  bench.py callgrind-fcgi DIR OUT.json        instructions per FastCGI request
  bench.py report META MEASURE WALK ROWS CALLGRIND CALLGRIND-FCGI > results.md
"""
import base64, hashlib, hmac, json, os, statistics, subprocess, sys, time
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


# ---- wrk ---------------------------------------------------------------------

def run_wrk(wrk_lua, url, conc, seconds, env_extra, label):
    env = dict(os.environ)
    for k in ("BENCH_TOKEN", "BENCH_METHOD", "BENCH_BODY_FILE", "BENCH_PATHS_FILE", "BENCH_MAX"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in env_extra.items()})
    cmd = ["wrk", "-t1", "-c%d" % conc, "-d%ds" % seconds, "--timeout", "10s", "-s", wrk_lua, url]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=seconds + 60)
    line = [l for l in p.stdout.splitlines() if l.startswith("BENCHJSON ")]
    if p.returncode != 0 or not line:
        sys.exit("wrk failed for %s (exit %d):\n%s" % (label, p.returncode, p.stdout))
    r = json.loads(line[-1][len("BENCHJSON "):])
    active = r["active_us"] if r["active_us"] > 0 else r["duration_us"]
    r["rps"] = r["requests"] / (active / 1e6) if active else 0.0
    r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return r


def cmd_measure(plan_file, out):
    """PLAN: {"wrk_lua", "seconds", "warmup_seconds", "rounds", "concurrency": [..],
    "groups": [{"name", "kind": "pair"|"single", "targets": [{"label", "url", "env"}]}]}.
    For each concurrency and round, every group runs its targets back to back;
    in a pair the order flips every round (A B, B A, ...)."""
    plan = json.load(open(plan_file))
    lua, secs, rounds = plan["wrk_lua"], plan["seconds"], plan["rounds"]
    results = []
    # warm-up: every target once, short, not recorded (FastCGI spawn, caches)
    for g in plan["groups"]:
        for t in g["targets"]:
            if t.get("warmup", True):
                run_wrk(lua, t["url"], 1, plan["warmup_seconds"], t.get("env", {}), t["label"])
    for conc in plan["concurrency"]:
        for rnd in range(rounds):
            for g in plan["groups"]:
                targets = list(g["targets"])
                if g["kind"] == "pair" and rnd % 2 == 1:
                    targets.reverse()
                for t in targets:
                    env = dict(t.get("env", {}))
                    if "paths_files" in t:   # one unused slice of ids per run
                        env["BENCH_PATHS_FILE"] = t["paths_files"].pop(0)
                    r = run_wrk(lua, t["url"], conc, secs, env, t["label"])
                    r.update({"group": g["name"], "label": t["label"], "conc": conc, "round": rnd + 1})
                    results.append(r)
                    print("  c=%d round %d %-28s %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d"
                          % (conc, rnd + 1, t["label"], r["rps"], r["lat_p50_us"] / 1000,
                             r["lat_p99_us"] / 1000, r["errors"]), flush=True)
    json.dump({"plan": plan, "results": results}, open(out, "w"), indent=1)


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


def cmd_report(meta_file, meas_file, walk_file, rows_file, cg_file, cgf_file):
    meta = json.load(open(meta_file))
    meas = json.load(open(meas_file))
    walk = json.load(open(walk_file))
    rows = json.load(open(rows_file))
    cg = json.load(open(cg_file))
    cgf = json.load(open(cgf_file))
    res = meas["results"]
    plan = meas["plan"]
    o = []
    w = o.append
    w("# Benchmark results")
    w("")
    w("Produced by `bench/run.sh` (see [README.md](README.md)); do not edit by hand.")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| date (UTC) | %s |" % meta["date"])
    w("| command | `%s` |" % meta["command"])
    w("| `nproc` | %s |" % meta["nproc"])
    w("| CPU | %s |" % meta["cpu"])
    w("| load average before the run | %s |" % meta["loadavg"])
    w("| commit | %s |" % meta["commit"])
    w("| build | `CFLAGS=%s` |" % meta["cflags"])
    w("| servers | %s |" % meta["servers"])
    w("| load generator | %s, one thread, keep-alive; %d rounds of %d s per target and concurrency, "
      "after a %d s warm-up of each |" % (meta["wrk"], plan["rounds"], plan["seconds"],
                                           plan["warmup_seconds"]))
    w("| jobs in the table | %s (list benchmark) |" % meta["jobs"])
    w("")
    w("The machine is shared and noisy: absolute numbers move from run to run. Only the "
      "**ratios** of targets measured side by side in this run (interleaved rounds, the order "
      "flipped every round) mean something. req/s and latency are the median over the rounds; "
      "a ratio is the median of the per-round ratios (min-max in brackets).")
    w("")
    total_err = sum(r["errors"] for r in res)

    def rows_of(group, label, conc):
        return [r for r in res if r["group"] == group and r["label"] == label and r["conc"] == conc]

    def table(group, labels):
        w("| target | c | req/s (min-max) | p50 ms | p90 ms | p99 ms | bytes/answer | answers | errors |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for conc in plan["concurrency"]:
            for lab in labels:
                rs = rows_of(group, lab, conc)
                if not rs:
                    continue
                rps = [r["rps"] for r in rs]
                n = sum(r["requests"] for r in rs)
                by = sum(r["bytes"] for r in rs) / n if n else 0
                w("| %s | %d | %.0f (%.0f-%.0f) | %s | %s | %s | %.0f | %d | %d |" % (
                    lab, conc, med(rps), min(rps), max(rps),
                    fmt_ms(med([r["lat_p50_us"] for r in rs])),
                    fmt_ms(med([r["lat_p90_us"] for r in rs])),
                    fmt_ms(med([r["lat_p99_us"] for r in rs])),
                    by, n, sum(r["errors"] for r in rs)))
        w("")

    def ratios(group, num, den, what):
        w("| ratio | c | %s (min-max) |" % what)
        w("| --- | ---: | ---: |")
        for conc in plan["concurrency"]:
            a = {r["round"]: r for r in rows_of(group, num, conc)}
            b = {r["round"]: r for r in rows_of(group, den, conc)}
            if what == "req/s":
                rr = [a[k]["rps"] / b[k]["rps"] for k in a if k in b and b[k]["rps"] > 0]
            else:
                rr = [a[k]["lat_p50_us"] / b[k]["lat_p50_us"] for k in a if k in b and b[k]["lat_p50_us"] > 0]
            if rr:
                w("| %s / %s | %d | **%.2f** (%.2f-%.2f) |" % (num, den, conc, med(rr), min(rr), max(rr)))
        w("")

    w("## 1. FastCGI (lighttpd) vs plain CGI (Apache), same binary")
    w("")
    table("healthz", ["healthz FastCGI", "healthz CGI"])
    ratios("healthz", "healthz FastCGI", "healthz CGI", "req/s")
    table("get", ["GET job FastCGI", "GET job CGI"])
    ratios("get", "GET job FastCGI", "GET job CGI", "req/s")
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
    ratios("list", "list deep page", "list first page", "p50 latency")
    ratios("list", "list deep page", "list first page", "req/s")
    w("## 3. and 4. Create (`auto_trigger: false`) and trigger (Airflow test double), FastCGI")
    w("")
    w("Each trigger request uses a job of its own (status `ready`, DAG file present), so every "
      "answer is a real `ready -> queued` transition with a PATCH and a POST to the Airflow "
      "double (a Python `ThreadingHTTPServer` on the same two cores).")
    w("")
    table("write", ["create", "trigger"])
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
    w("A plain-CGI GET of a job costs %.0f times the instructions of the same GET in a "
      "FastCGI process that is already running (%s vs %s). A list page (50 jobs, ~0.5 MB of "
      "JSON) is the heaviest request; deep page / first page = %.3f." % (
          cg["total"] / cgf["GET job"]["median"], format(cg["total"], ","),
          format(int(cgf["GET job"]["median"]), ","),
          cgf["list deep page"]["median"] / cgf["list first page"]["median"]))
    w("")
    w("Errors (socket errors and non-2xx answers) over all measured runs: %d." % total_err)
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
    elif cmd == "report":
        sys.exit(cmd_report(*args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
