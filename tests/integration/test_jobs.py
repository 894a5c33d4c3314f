"""test_jobs.py - the life of a job through the real servers: create (201,
Location, the seed's shape), auto-trigger (queued at once, the run started by
the dispatcher), manual trigger exactly once (also under concurrent triggers),
409s, reconciliation with Airflow on GET (only for a job whose run is started)
and in the bulk status read (at most one Airflow call per request), and retry
of a failed job with a new run id."""
import concurrent.futures
import re
import threading
import uuid

import pytest

from conftest import (CFG, JOBS, RFC3339_Z, SEED_FIELDS, assert_error, counting_fault,
                      create_ok, fired, get_ok, hs256, job_body, paused_dispatcher, run_of,
                      sql, status_map, wait_started)

ENUMS = {
    "problem_type": {"binary_classification", "multiclass_classification", "regression",
                     "ranking", "anomaly_detection", "contextual_bandit"},
    "algorithm": {"lightgbm_classifier", "lightgbm_regressor", "lightgbm_ranker",
                  "isolation_forest", "vw_classifier", "vw_regressor", "vw_contextual_bandit"},
    "preset": {"fast", "balanced", "best_quality"},
    "status": {"ready", "queued", "running", "complete", "failed"},
}


def assert_job_shape(job):
    for f in SEED_FIELDS:
        assert f in job, "seed field %s missing from %s" % (f, sorted(job))
    uuid.UUID(job["job_id"])
    assert str(uuid.UUID(job["job_id"])) == job["job_id"]
    for f in ("name", "domain", "owner", "source_table"):
        assert isinstance(job[f], str) and job[f], f
    for f, values in ENUMS.items():
        assert job[f] in values, (f, job[f])
    for f in ("created_at", "updated_at"):
        assert isinstance(job[f], str) and RFC3339_Z.match(job[f]), (f, job[f])
    assert job["updated_at"] >= job["created_at"]
    for f in ("rendered_dag", "mlflow_run_id", "mlflow_experiment_name", "registered_model_name",
              "airflow_dag_id", "airflow_dag_url", "error_message", "feature_engineering_job_id"):
        assert job[f] is None or isinstance(job[f], str), (f, job[f])


def test_create_201_location_and_shape(api, domain, token):
    body = job_body(domain)
    r = api.create(token, body)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    job = r.json()
    assert_job_shape(job)
    loc = r.headers.get("Location", "")
    assert loc.endswith("/api/automl/train/jobs/" + job["job_id"]), loc
    for f in ("name", "domain", "source_table", "problem_type", "algorithm", "preset"):
        assert job[f] == body[f], f
    assert job["owner"] == "alice"
    assert job["status"] == "ready"
    assert job["rendered_dag"], "rendered_dag is populated on creation"
    # not known yet: null
    assert job["mlflow_run_id"] is None
    assert job["error_message"] is None
    assert job["feature_engineering_job_id"] is None
    # derived names are there at creation
    for f in ("airflow_dag_id", "airflow_dag_url", "mlflow_experiment_name", "registered_model_name"):
        assert job[f], f
    assert job["airflow_dag_url"].startswith(CFG["AUTOML_AIRFLOW_UI_URL"])
    assert job["airflow_dag_id"] in job["airflow_dag_url"]
    # GET answers the same job (Location works)
    got = get_ok(api, token, job["job_id"])
    assert got == job


def test_create_defaults(api, domain, token):
    body = job_body(domain)
    del body["preset"], body["label_column"]
    r = api.create(token, body)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["preset"] == "balanced"
    if "label_column" in job:
        assert job["label_column"] == "label"


def test_create_with_feature_engineering_job_id(api, domain, token):
    fe = str(uuid.uuid4())
    job = create_ok(api, token, domain, feature_engineering_job_id=fe)
    assert job["feature_engineering_job_id"] == fe


@pytest.mark.parametrize("pt,alg", [
    ("binary_classification", "lightgbm_classifier"), ("multiclass_classification", "vw_classifier"),
    ("multiclass_classification", "lightgbm_classifier"), ("binary_classification", "vw_classifier"),
    ("regression", "lightgbm_regressor"), ("regression", "vw_regressor"),
    ("ranking", "lightgbm_ranker"), ("anomaly_detection", "isolation_forest"),
    ("contextual_bandit", "vw_contextual_bandit")])
def test_every_fitting_pair_creates(lighttpd, domain, token, pt, alg):
    job = create_ok(lighttpd, token, domain, problem_type=pt, algorithm=alg)
    assert (job["problem_type"], job["algorithm"]) == (pt, alg)
    assert job["rendered_dag"]


def run_id(job, attempt=1):
    return "automl-%s-a%d" % (job["job_id"], attempt)


def about(*jobs):
    """path_regex of every Airflow API request about these jobs' DAGs."""
    return "^/api/v2/dags/(%s)(/|$)" % "|".join(re.escape(j["airflow_dag_id"]) for j in jobs)


def triggered(api, token, domain, **over):
    """A job created ready, then triggered: the trigger's own try started its run."""
    job = create_ok(api, token, domain, **over)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued" and t["dispatched_at"], t
    return t


def test_auto_trigger_default_queues_exactly_one_run(api, domain, token, double):
    body = job_body(domain)
    del body["auto_trigger"]
    r = api.create(token, body)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued", job
    assert job["error_message"] is None
    # the create asks Airflow nothing: the dispatcher starts the run
    assert job["dispatched_at"] is None, job
    assert job["trigger_attempts"] == 1
    assert job["airflow_dag_run_id"] == run_id(job)
    wait_started(job)
    run = run_of(double, job)
    assert run["run_id"] == job["airflow_dag_run_id"]
    assert run["attempts"] == 1
    assert run["conf"] == {"automl_job_id": job["job_id"], "attempt": 1}, run
    assert double.dags()[job["airflow_dag_id"]]["is_paused"] is False
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued"
    assert got["dispatched_at"] and RFC3339_Z.match(got["dispatched_at"]), got
    # a second trigger of a queued job: 409, still one run
    r = api.trigger(token, job["job_id"])
    assert_error(r, 409)
    assert len(double.runs(job["airflow_dag_id"])) == 1


def test_auto_trigger_false_stays_ready(api, domain, token, double):
    job = create_ok(api, token, domain, auto_trigger=False)
    assert job["status"] == "ready"
    assert double.runs(job["airflow_dag_id"]) == []


def test_trigger_ready_job(api, domain, token, double):
    job = create_ok(api, token, domain)
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    assert t["job_id"] == job["job_id"]
    assert t["updated_at"] >= job["updated_at"]
    # Airflow is healthy: the trigger's own try started the run
    assert t["dispatched_at"] and RFC3339_Z.match(t["dispatched_at"]), t
    run = run_of(double, t)
    assert run["conf"] == {"automl_job_id": job["job_id"], "attempt": 1}, run
    assert t["airflow_dag_run_id"] == run["run_id"] == run_id(job)
    # queued -> 409
    assert_error(api.trigger(token, job["job_id"]), 409)
    # running -> 409
    double.set_run_state(t["airflow_dag_id"], run["run_id"], "running")
    assert get_ok(api, token, job["job_id"])["status"] == "running"
    assert_error(api.trigger(token, job["job_id"]), 409)
    # complete -> 409
    double.set_run_state(t["airflow_dag_id"], run["run_id"], "success")
    assert get_ok(api, token, job["job_id"])["status"] == "complete"
    assert_error(api.trigger(token, job["job_id"]), 409)
    assert len(double.runs(t["airflow_dag_id"])) == 1


def test_run_that_could_not_report_completes_with_its_mlflow_run(api, domain, token, double):
    """The DAG's write-back never arrived (worker lost after training): when
    Airflow says success, reconciliation finds the MLflow run by the job's
    tags and links it; a run of another attempt is not taken."""
    job = create_ok(api, token, domain, auto_trigger=True)
    assert job["status"] == "queued", job
    wait_started(job)
    run = run_of(double, job)
    double.mlflow_run(job["mlflow_experiment_name"], job["job_id"], run["run_id"] + "-other", "r-other")
    double.mlflow_run(job["mlflow_experiment_name"], job["job_id"], run["run_id"], "r-ours-0123")
    double.set_run_state(job["airflow_dag_id"], run["run_id"], "success")
    done = get_ok(api, token, job["job_id"])
    assert done["status"] == "complete"
    assert done["mlflow_run_id"] == "r-ours-0123"
    assert done["error_message"] is None


@pytest.mark.parametrize("threads", [8])
def test_concurrent_triggers_exactly_one_run(api, domain, token, double, threads):
    job = create_ok(api, token, domain)
    barrier = threading.Barrier(threads)

    def go(_):
        barrier.wait()
        return api.__class__(api.name, api.base).trigger(token, job["job_id"])

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        answers = list(ex.map(go, range(threads)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 1, codes
    assert codes.count(409) == threads - 1, codes
    for r in answers:
        if r.status_code == 409:
            assert "detail" in r.json()
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 1, runs
    assert runs[0]["attempts"] == 1, runs
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "queued"
    assert got["trigger_attempts"] == 1
    assert got["dispatched_at"], got


def test_get_of_an_undispatched_job_asks_airflow_nothing(api, domain, token, double, dispatcher):
    """A queued job whose run nobody started yet is the dispatcher's: a GET
    answers it as stored, without an Airflow call."""
    with paused_dispatcher(dispatcher):
        job = create_ok(api, token, domain, auto_trigger=True)
        fid = counting_fault(double, path_regex=about(job))
        for _ in range(3):
            got = get_ok(api, token, job["job_id"])
            assert (got["status"], got["dispatched_at"]) == ("queued", None), got
        assert fired(double, fid) == 0, "a GET asked Airflow about an undispatched job"
        assert double.runs(job["airflow_dag_id"]) == []
    wait_started(job)


def synced(job):
    """last_synced_at of the job (None: never reconciled)."""
    return sql("SELECT last_synced_at FROM training_jobs WHERE job_id = %s", (job["job_id"],))[0][0]


def test_get_reconciles_with_airflow(api, domain, token, double, dispatcher):
    """GET of a job whose run is started asks Airflow (every time here:
    AUTOML_RECONCILE_INTERVAL_S is 0) and stores what it learns; the dispatcher
    is paused, so every reconcile seen is the GET's own."""
    with paused_dispatcher(dispatcher):
        job = triggered(api, token, domain)
        run = run_of(double, job)
        assert synced(job) is None
        assert get_ok(api, token, job["job_id"])["status"] == "queued"
        s1 = synced(job)
        assert s1 is not None, "the GET reconciled the queued job"
        double.set_run_state(job["airflow_dag_id"], run["run_id"], "running")
        got = get_ok(api, token, job["job_id"])
        assert got["status"] == "running"
        assert got["updated_at"] >= job["updated_at"]
        assert synced(job) > s1
        assert sql("SELECT status FROM training_jobs WHERE job_id = %s",
                   (job["job_id"],)) == [("running",)], "the reconcile was stored"
        double.set_run_state(job["airflow_dag_id"], run["run_id"], "success")
        got = get_ok(api, token, job["job_id"])
        assert got["status"] == "complete"
        assert got["error_message"] is None
        # terminal: Airflow is not asked again, and its changing its mind is not followed
        fid = counting_fault(double, path_regex=about(job))
        double.set_run_state(job["airflow_dag_id"], run["run_id"], "failed")
        assert get_ok(api, token, job["job_id"])["status"] == "complete"
        assert fired(double, fid) == 0


def test_failed_run_then_retry_gets_new_run_id(api, domain, token, double):
    job = create_ok(api, token, domain, auto_trigger=True)
    wait_started(job)
    run1 = run_of(double, job)
    double.set_run_state(job["airflow_dag_id"], run1["run_id"], "failed")
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "failed"
    assert got["error_message"], "a failed job says why"
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "queued"
    assert t["error_message"] is None
    assert t["trigger_attempts"] == 2
    assert t["dispatched_at"], "the retry's own try started its run"
    runs = double.runs(job["airflow_dag_id"])
    assert len(runs) == 2, runs
    ids = {x["run_id"] for x in runs}
    assert ids == {run_id(job, 1), run_id(job, 2)}, ids
    assert run1["run_id"] == run_id(job, 1)
    assert t["airflow_dag_run_id"] == run_id(job, 2)
    # the new run succeeds
    new = next(x for x in runs if x["run_id"] != run1["run_id"])
    double.set_run_state(job["airflow_dag_id"], new["run_id"], "success")
    assert get_ok(api, token, job["job_id"])["status"] == "complete"


def test_queued_in_airflow_keeps_job_queued(api, domain, token, double):
    job = create_ok(api, token, domain, auto_trigger=True)
    wait_started(job)
    run = run_of(double, job)
    # an unknown state never moves the job backwards or forwards
    double.set_run_state(job["airflow_dag_id"], run["run_id"], "queued")
    assert get_ok(api, token, job["job_id"])["status"] == "queued"


def db_status(job_id):
    return sql("SELECT status FROM training_jobs WHERE job_id = %s", (job_id,))[0][0]


def test_bulk_status(api, domain, token, double, dispatcher):
    """Answered as stored, except the first job due for a reconcile: one Airflow
    call per request at most, whatever the number of ids (the dispatcher is
    paused, so every Airflow call and every move seen is the request's own)."""
    with paused_dispatcher(dispatcher):
        a = create_ok(api, token, domain)
        b = triggered(api, token, domain)
        c = triggered(api, token, domain)
        d = create_ok(api, token, domain, auto_trigger=True)   # queued, not dispatched
        for j in (b, c):
            double.set_run_state(j["airflow_dag_id"], run_of(double, j)["run_id"], "running")
        unknown = str(uuid.uuid4())
        foreign = create_ok(api, hs256("bob", ["d_bulk_" + domain]), "d_bulk_" + domain)
        # requests about any of the jobs but b (b's may count a 401 and its retry
        # with a new token: the double's tokens may have been expired meanwhile)
        fid = counting_fault(double, path_regex=about(a, c, d, foreign))
        r = api.request("GET", JOBS + "/status", token=token,
                        params=[("ids", a["job_id"]), ("ids", d["job_id"]), ("ids", b["job_id"]),
                                ("ids", c["job_id"]), ("ids", unknown),
                                ("ids", foreign["job_id"])])
        assert r.status_code == 200, r.text
        m = status_map(r.json())
        # a: ready, d: not dispatched (the dispatcher's): no call; b: reconciled; c: as stored
        assert m == {a["job_id"]: "ready", d["job_id"]: "queued", b["job_id"]: "running",
                     c["job_id"]: "queued"}, m
        assert fired(double, fid) == 0, "Airflow was asked about another job than b"
        # the reconciliation was stored, not just shown
        assert [db_status(j["job_id"]) for j in (b, c)] == ["running", "queued"]
        assert synced(c) is None
        assert sorted(r.json()["not_found"]) == sorted([unknown, foreign["job_id"]]), r.json()
        # comma-separated too, and duplicates answered once; c is the first due now
        double.clear_faults()
        r = api.request("GET", JOBS + "/status", token=token,
                        params={"ids": "%s,%s,%s,%s,%s" % (a["job_id"], a["job_id"], c["job_id"],
                                                           unknown, unknown)})
        assert r.status_code == 200, r.text
        assert status_map(r.json()) == {a["job_id"]: "ready", c["job_id"]: "running"}
        assert len(r.json()["items"]) == 2, r.json()
        assert r.json()["not_found"] == [unknown], r.json()
        assert db_status(c["job_id"]) == "running"
        # nothing due: no Airflow call at all
        fid = counting_fault(double, path_regex=about(a, b, c, d, foreign))
        r = api.request("GET", JOBS + "/status", token=token,
                        params={"ids": "%s,%s" % (a["job_id"], d["job_id"])})
        assert status_map(r.json()) == {a["job_id"]: "ready", d["job_id"]: "queued"}
        assert fired(double, fid) == 0
    wait_started(d)


def test_job_ids_are_case_insensitive(api, domain, token):
    job = create_ok(api, token, domain)
    # an upper-case uuid names the same job (PostgreSQL's uuid type)
    r = api.get(token, job["job_id"].upper())
    assert r.status_code == 200, r.text
    assert r.json()["job_id"] == job["job_id"]


def test_trailing_slash_and_mount_prefix(api, domain, token):
    job = create_ok(api, token, domain)
    r = api.request("GET", JOBS + "/" + job["job_id"] + "/", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["job_id"] == job["job_id"]


def test_unicode_name_roundtrip(api, domain, token):
    name = "Modèle de churn – 北京 🚀"
    job = create_ok(api, token, domain, name=name)
    assert job["name"] == name
    assert get_ok(api, token, job["job_id"])["name"] == name
    r = api.request("GET", JOBS, token=token, params={"domain": domain})
    assert r.json()["items"][0]["name"] == name


def test_run_gone_from_airflow_fails_the_job(api, domain, token, double):
    job = create_ok(api, token, domain, auto_trigger=True)
    wait_started(job)
    run_of(double, job)
    # Airflow forgets everything (a metadata database reset): the run is gone
    double._call("POST", "reset")
    got = get_ok(api, token, job["job_id"])
    assert got["status"] == "failed", got
    assert got["error_message"], got
    # and it can be retried: a new run in the (re-parsed) DAG
    r = api.trigger(token, job["job_id"])
    assert r.status_code == 200, r.text
    assert r.json()["dispatched_at"], r.json()
    assert [x["run_id"] for x in double.runs(job["airflow_dag_id"])] == [run_id(job, 2)]
