"""The algorithm registry (share/algorithms.tsv) and its readers agree: the
Python registry holds exactly the file's entries, every trainer it names
imports and is callable, every family has its DAG template (installed by
Makefile.am), the C enums generated from the file are in the same order, and
a built package ships the file."""

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automl_train import registry, spec
from automl_train.trainers import get_trainer

REPO = Path(__file__).resolve().parents[2]
TSV = REPO / "share" / "algorithms.tsv"


def records(kind):
    """The fields after the kind of every `kind` line of the data file, in order."""
    out = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if line and not line.startswith("#") and f[0] == kind:
            out.append(f[1:])
    return out


def test_python_registry_is_the_data_file():
    assert registry.PROBLEM_TYPES == tuple(f[0] for f in records("problem_type"))
    want = [(name, family, tuple(fits.split(",")), trainer)
            for name, family, fits, trainer in records("algorithm")]
    got = [(a.name, a.family, a.problem_types, f"{a.trainer_module}:{a.trainer_function}")
           for a in registry.ALGORITHMS.values()]
    assert got == want


def test_package_copy_is_the_data_file():
    pkg = Path(registry.__file__).with_name(registry.FILE)
    assert pkg.read_bytes() == TSV.read_bytes()


def test_spec_uses_the_registry():
    assert spec.PROBLEM_TYPES == registry.PROBLEM_TYPES
    assert spec.ALGORITHMS == {name: a.problem_types for name, a in registry.ALGORITHMS.items()}


@pytest.mark.parametrize("name", list(registry.ALGORITHMS))
def test_trainer_imports_and_is_the_named_function(name):
    a = registry.ALGORITHMS[name]
    module = importlib.import_module(f"automl_train.trainers.{a.trainer_module}")
    trainer = get_trainer(name)
    assert callable(trainer)
    assert trainer is getattr(module, a.trainer_function)


def test_unknown_algorithm_has_no_trainer():
    with pytest.raises(ValueError, match="no trainer for 'nope'"):
        get_trainer("nope")


@pytest.mark.parametrize("family", sorted({a.family for a in registry.ALGORITHMS.values()}))
def test_family_template_exists_and_is_installed(family):
    assert (REPO / "share" / "dags" / f"{family}.py.in").is_file()
    makefile = (REPO / "Makefile.am").read_text()
    dags = re.search(r"^dist_dags_DATA\s*=((?:.*\\\n)*.*)$", makefile, re.M)
    assert dags and f"share/dags/{family}.py.in" in dags.group(1).split()


def test_generated_c_enums_follow_the_registry():
    r = subprocess.run(["sh", str(REPO / "scripts" / "gen-algorithms"), str(TSV)],
                       capture_output=True, text=True, check=True)
    pts = re.findall(r"^\tPT_([A-Z0-9_]+),$", r.stdout, re.M)
    algs = re.findall(r"^\tALG_([A-Z0-9_]+),$", r.stdout, re.M)
    assert pts == [p.upper() for p in registry.PROBLEM_TYPES]
    assert algs == [a.upper() for a in registry.ALGORITHMS]


@pytest.mark.parametrize("text, why", [
    ("problem_type\ta\nproblem_type\ta\n", "registered twice"),
    ("problem_type\ta\nalgorithm\tx\tf\tb\tm:f\n", "bad problem types"),
    ("problem_type\ta\nalgorithm\tx\tf\ta\tm\n", "bad problem types or trainer"),
    ("problem_type\ta\nalgorithm\tx\tf\ta\n", "not a problem_type or algorithm"),
    ("problem_type\ta\nalgorithm\tx\tf\ta\tm:f\nproblem_type\tb\n", "not a problem_type or algorithm"),
    ("kind\ta\n", "not a problem_type or algorithm"),
])
def test_malformed_registry_is_refused(text, why):
    with pytest.raises(ValueError, match=why):
        registry.parse(text, "t.tsv")


def test_built_package_ships_the_registry(tmp_path):
    """What `pip install python/` does to the package: setuptools' build_py
    copies the packages and their package data; the link becomes a file."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 61:
        pytest.skip("setuptools too old for pyproject.toml configuration")
    src = tmp_path / "src"
    # the repository's layout, so that the package's link resolves
    (src / "share").mkdir(parents=True)
    shutil.copyfile(TSV, src / "share" / TSV.name)
    shutil.copytree(REPO / "python" / "automl_train", src / "python" / "automl_train", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "python" / "pyproject.toml", src / "python" / "pyproject.toml")
    assert (src / "python" / "automl_train" / registry.FILE).is_symlink()
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c",
                        "import sys; from setuptools import setup; "
                        f"sys.argv = ['setup.py', '-q', 'build_py', '-d', {str(out)!r}]; setup()"],
                       cwd=src / "python", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    built = out / "automl_train" / registry.FILE
    assert built.is_file() and not built.is_symlink()
    assert built.read_bytes() == TSV.read_bytes()
    r = subprocess.run([sys.executable, "-c",
                        "import automl_train.registry as r; print(len(r.ALGORITHMS), r.__file__)"],
                       cwd=tmp_path, env={"PYTHONPATH": str(out)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(len(registry.ALGORITHMS)), str(out / "automl_train" / "registry.py")]
