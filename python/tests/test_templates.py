"""The DAG templates (share/dags/*.py.in): placeholders and rendering.

A rendered DAG is the family's template followed by common.py.in (src/dag.h).

Rendering is done by the service's own renderer (`automl-ctl render-dag`, the
built binary: $top_builddir or <repo>/build), with job fields as hostile as
the API accepts; the result must compile, and each field must stay one literal."""

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from automl_train import registry

REPO = Path(__file__).resolve().parents[2]
# every template family of the algorithm registry (share/algorithms.tsv)
TEMPLATES = {a.family: f"{a.family}.py.in" for a in registry.ALGORITHMS.values()}
PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")

# what the create body allows in a name: quotes, backslashes, Jinja, placeholders, non-ASCII
HOSTILE = "x'\"\\ {{ conn.automl_warehouse.password }} @@JOB_ID@@ \u00e9 \"\"\" ) import os #"
JOB_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def ctl():
    build = os.environ.get("top_builddir") or str(REPO / "build")
    path = Path(build) / "automl-ctl"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built: the DAGs under test are the C renderer's (make first)")
    return str(path)


def header_placeholders():
    text = (REPO / "src" / "dag.h").read_text()
    return set(PLACEHOLDER.findall(text)) - {"KEY"}   # "@@KEY@@" names the syntax


def template_source(family):
    """What the C renderer reads: the family's part, then the shared part."""
    dags = REPO / "share" / "dags"
    return (dags / TEMPLATES[family]).read_text() + (dags / "common.py.in").read_text()


ALGORITHM_OF = {a.family: name for name, a in sorted(registry.ALGORITHMS.items(), reverse=True)}


PUBLIC_URL = "http://127.0.0.1:8081"


def render(family, fe=None, public_url=PUBLIC_URL):
    """The DAG the service would publish for a job of this family (public_url:
    AUTOML_PUBLIC_URL, None = unset, so the DAG has no status URL)."""
    algorithm = ALGORITHM_OF[family]
    spec = {"name": HOSTILE, "domain": "d-x.y_z", "source_table": "public.sample_binary",
            "problem_type": registry.ALGORITHMS[algorithm].problem_types[0], "algorithm": algorithm,
            "preset": "fast", "label_column": "label", "feature_engineering_job_id": fe}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
    env.update(AUTOML_TEMPLATES_DIR=str(REPO / "share" / "dags"),
               AUTOML_MLFLOW_TRACKING_URI="http://127.0.0.1:5000",
               AUTOML_TRAIN_PYTHON="/opt/automl/venvs/train/bin/python",
               AUTOML_LOG_LEVEL="error")
    if public_url:
        env["AUTOML_PUBLIC_URL"] = public_url
    p = subprocess.run([ctl(), "render-dag", "--owner", HOSTILE, "--job-id", JOB_ID, "-"],
                       input=json.dumps(spec), capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


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
    out = render(family, fe=fe)
    compile(out, f"{family}.py", "exec")
    tree = ast.parse(out)
    # every job field is one literal with the job's value, read back exactly
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    assert consts["JOB_NAME"] == HOSTILE and consts["OWNER"] == HOSTILE
    assert consts["JOB_ID"] == JOB_ID
    assert consts["FEATURE_ENGINEERING_JOB_ID"] == fe
    assert "@@" not in out.replace("@@JOB_ID@@", "")
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
