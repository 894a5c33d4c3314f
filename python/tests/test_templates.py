"""The DAG templates (share/dags/*.py.in): placeholders and rendering.

A rendered DAG is the family's template followed by common.py.in (src/dag.h).

The C renderer replaces each @@KEY@@ with a Python literal; here repr() plays
its part, including hostile job fields, and the result must compile."""

import ast
import re
from pathlib import Path

import pytest

from automl_train import registry

REPO = Path(__file__).resolve().parents[2]
# every template family of the algorithm registry (share/algorithms.tsv)
TEMPLATES = {a.family: f"{a.family}.py.in" for a in registry.ALGORITHMS.values()}
PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")

HOSTILE = "x'\"\\ {{ conn.automl_warehouse.password }} @@JOB_ID@@ \u00e9\n\")\nimport os #"


def header_placeholders():
    text = (REPO / "src" / "dag.h").read_text()
    return set(PLACEHOLDER.findall(text)) - {"KEY"}   # "@@KEY@@" names the syntax


def sample_values(**over):
    v = {
        "JOB_ID": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "JOB_NAME": HOSTILE, "DOMAIN": HOSTILE,
        "OWNER": HOSTILE, "SOURCE_TABLE": "public.sample_binary", "LABEL_COLUMN": HOSTILE,
        "PROBLEM_TYPE": "binary_classification", "ALGORITHM": "lightgbm_classifier", "PRESET": "fast",
        "DAG_ID": "automl_3c90c3cc_0d44_4b50_8888_8dd25736052a", "MLFLOW_EXPERIMENT_NAME": HOSTILE,
        "REGISTERED_MODEL_NAME": HOSTILE, "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "STATUS_URL": "http://127.0.0.1:8081/api/automl/train/jobs/3c90c3cc-0d44-4b50-8888-8dd25736052a/status",
        "TRAIN_PYTHON": "/opt/automl/venvs/train/bin/python", "WAREHOUSE_CONN_ID": "automl_warehouse",
        "FEATURE_ENGINEERING_JOB_ID": None,
    }
    v.update(over)
    return v


def template_source(family):
    """What the C renderer reads: the family's part, then the shared part."""
    dags = REPO / "share" / "dags"
    return (dags / TEMPLATES[family]).read_text() + (dags / "common.py.in").read_text()


def render(family, **over):
    src = template_source(family)
    vals = sample_values(**over)
    # one pass, like the C renderer: a value containing @@X@@ is not re-expanded
    return PLACEHOLDER.sub(lambda m: repr(vals[m.group(1)]), src)


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_placeholders_are_the_declared_ones(family):
    src = template_source(family)
    used = set(PLACEHOLDER.findall(src))
    declared = header_placeholders()
    assert declared, "no placeholders found in src/dag.h"
    assert used <= declared, f"undeclared placeholders: {used - declared}"
    assert used == declared, f"declared but unused: {declared - used}"
    # "@@" appears nowhere but in placeholders
    assert PLACEHOLDER.sub("", src).count("@@") == 0


@pytest.mark.parametrize("family", sorted(TEMPLATES))
@pytest.mark.parametrize("fe", [None, "7d2a4a4e-9a51-4c59-a6c1-2b9a3c2f6a11"])
def test_renders_to_valid_python(family, fe):
    out = render(family, FEATURE_ENGINEERING_JOB_ID=fe)
    compile(out, f"{family}.py", "exec")
    tree = ast.parse(out)
    # the hostile value stays one string literal: no extra import of os beyond the template's own
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name == "os" for a in n.names)]
    assert len(imports) == 1


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_dag_arguments(family):
    tree = ast.parse(render(family))
    dag_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", None) == "DAG"]
    assert len(dag_calls) == 1
    kw = {k.arg: k.value for k in dag_calls[0].keywords}
    assert isinstance(kw["is_paused_upon_creation"], ast.Constant) and kw["is_paused_upon_creation"].value is False
    assert isinstance(kw["schedule"], ast.Constant) and kw["schedule"].value is None
    assert isinstance(kw["catchup"], ast.Constant) and kw["catchup"].value is False
    assert isinstance(kw["dag_id"], ast.Name) and kw["dag_id"].id == "DAG_ID"


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_no_secret_in_template(family):
    src = template_source(family)
    assert "PSK@@" not in src and "PASSWORD" not in src
    assert "{{" not in src, "Jinja markup in a template: job fields must never be Jinja-rendered"


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_family_part_names_its_family(family):
    """The family file carries what differs per family; the rest is shared."""
    src = (REPO / "share" / "dags" / TEMPLATES[family]).read_text()
    assert f'FAMILY = "{family}"' in src
    assert "@@" not in src
