"""test_dag.py - the DAG a created job gets: valid Python (py_compile), the
same text published in AUTOML_DAGS_DIR under its dag_id, unpaused when Airflow
first loads it (nobody unpauses it on a trigger), no secrets in it, and job
fields that try to inject code stay inert string literals."""
import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import CFG, create_ok, env, job_body

INJECTIONS = [
    "x'; import os; PWNED = os.system('id') #",
    'x"; PWNED = 1; y = "',
    "x''' ; PWNED = 1 ; '''",
    'x"""; PWNED = 1; """',
    "back\\slash\\' PWNED = 1 #",
    "@@JOB_ID@@ @@DAG_ID@@ @@OWNER@@ {job_id} %(name)s ${HOME} `id`",
    "} PWNED = 1 {",
    "\u202e PWNED = 1 \u2066 mixed \u00e9\u00e8 \U0001F600",
    "</script><script>PWNED=1</script>",
]


def names_in(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def paused_upon_creation(tree):
    """The values of every is_paused_upon_creation= keyword in the DAG."""
    return [k.value.value for n in ast.walk(tree) if isinstance(n, ast.Call)
            for k in n.keywords if k.arg == "is_paused_upon_creation"
            and isinstance(k.value, ast.Constant)]


def constants(tree):
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def published(job):
    path = os.path.join(env("AUTOML_TEST_DAGS_DIR"), job["airflow_dag_id"] + ".py")
    with open(path, encoding="utf-8") as f:
        return path, f.read()


@pytest.mark.parametrize("pt,alg", [("binary_classification", "lightgbm_classifier"),
                                    ("ranking", "lightgbm_ranker"),
                                    ("anomaly_detection", "isolation_forest"),
                                    ("regression", "vw_regressor"),
                                    ("contextual_bandit", "vw_contextual_bandit")])
def test_rendered_dag_compiles_and_is_published(api, domain, token, pt, alg):
    job = create_ok(api, token, domain, problem_type=pt, algorithm=alg)
    src = job["rendered_dag"]
    assert src and src.strip()
    tree = ast.parse(src)
    compile(src, job["airflow_dag_id"] + ".py", "exec")
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", job["airflow_dag_id"]), job["airflow_dag_id"]
    path, text = published(job)
    assert text == src, "the published DAG is the rendered one"
    p = subprocess.run([sys.executable, "-m", "py_compile", path], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    consts = constants(tree)
    assert job["job_id"] in consts
    assert job["airflow_dag_id"] in consts
    assert "@@" not in src, "every placeholder was replaced"
    assert paused_upon_creation(tree) == [False], "Airflow must not create the DAG paused"
    # secrets are never rendered into what users can read
    for key in ("AUTOML_STATUS_PSK", "AUTOML_JWT_SECRET", "AUTOML_AIRFLOW_PASSWORD"):
        assert CFG[key] not in src, key
    # what the DAG needs to talk back and log
    assert any(c.endswith("/api/automl/train/jobs/%s/status" % job["job_id"]) for c in consts), \
        "status write-back URL"
    assert CFG["AUTOML_MLFLOW_TRACKING_URI"] in consts


@pytest.mark.parametrize("i", range(len(INJECTIONS)))
def test_injection_in_name_is_inert(api, domain, token, i):
    name = INJECTIONS[i]
    job = create_ok(api, token, domain, name=name)
    assert job["name"] == name
    src = job["rendered_dag"]
    tree = ast.parse(src)
    assert "PWNED" not in names_in(tree), "the name became code"
    assert name in constants(tree), "the name is one string literal, as given"
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", job["airflow_dag_id"]), job["airflow_dag_id"]
    path, text = published(job)
    assert text == src
    p = subprocess.run([sys.executable, "-m", "py_compile", path], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()


def test_dag_ids_unique_for_same_name(api, domain, token):
    a = create_ok(api, token, domain, name="same")
    b = create_ok(api, token, domain, name="same")
    assert a["airflow_dag_id"] != b["airflow_dag_id"]
    assert published(a)[1] != published(b)[1]


def test_long_name_gives_valid_dag_id(api, domain, token):
    job = create_ok(api, token, domain, name="n" * 200)
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", job["airflow_dag_id"])
    ast.parse(job["rendered_dag"])


def test_unwritable_dags_dir_stores_nothing(api, domain, token, double):
    """Never half-done: without a published DAG there is no job (503)."""
    d = env("AUTOML_TEST_DAGS_DIR")
    before = set(os.listdir(d))
    os.chmod(d, 0o555)
    try:
        r = api.create(token, job_body(domain, auto_trigger=True))
    finally:
        os.chmod(d, 0o1777)
    assert r.status_code == 503, r.text
    assert "detail" in r.json()
    assert set(os.listdir(d)) == before
    lst = api.request("GET", "/api/automl/train/jobs", token=token, params={"domain": domain})
    assert lst.json()["items"] == []
    assert not [x for x in double.runs() if domain in x["dag_id"]], "nothing was triggered"
    # and with the folder back, the same request works
    assert api.create(token, job_body(domain)).status_code == 201

