"""Small pure units: connection parsing, metrics, VW example text, spec checks."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from automl_train import metrics as M
from automl_train import warehouse
from automl_train.errors import TrainError
from automl_train.prep import FeatureSet, build_features
from automl_train.spec import JobSpec
from automl_train.trainers.vw_model import Featurizer, sanitize


def test_parse_airflow_uri_with_quoting_and_extras():
    kw = warehouse.parse_conn("postgres://us%40er:p%3Ass%2Fw@db.example:6543/ware%20house?sslmode=require&cursor=x")
    assert kw == {"host": "db.example", "port": 6543, "user": "us@er", "password": "p:ss/w",
                  "dbname": "ware house", "sslmode": "require"}


def test_parse_socket_dir_uri_and_extra_json():
    extra = json.dumps({"sslmode": "disable", "iam": True})
    from urllib.parse import quote
    kw = warehouse.parse_conn(f"postgresql://postgres@%2Ftmp%2Fsock:5544/automl?__extra__={quote(extra)}")
    assert kw == {"host": "/tmp/sock", "port": 5544, "user": "postgres", "dbname": "automl", "sslmode": "disable"}


def test_parse_json_and_conninfo_and_errors():
    kw = warehouse.parse_conn(json.dumps({"conn_type": "postgres", "host": "h", "login": "u",
                                          "password": "p", "schema": "d", "port": 5432}))
    assert kw == {"host": "h", "port": 5432, "user": "u", "password": "p", "dbname": "d"}
    assert warehouse.parse_conn("host=h dbname=d") == {"dsn": "host=h dbname=d"}
    with pytest.raises(TrainError, match="not PostgreSQL"):
        warehouse.parse_conn("mysql://u:p@h/d")
    with pytest.raises(TrainError, match="port"):
        warehouse.parse_conn("postgres://u:p@h:xx/d")


def test_resolve_conn_order():
    env = {"AIRFLOW_CONN_AUTOML_WAREHOUSE": "postgres://a@h1/d"}
    assert warehouse.resolve_conn("automl_warehouse", env)["host"] == "h1"
    env["AUTOML_WAREHOUSE_URI"] = "postgres://a@h2/d"
    assert warehouse.resolve_conn("automl_warehouse", env)["host"] == "h2"
    with pytest.raises(TrainError, match="'nope' is not defined"):
        warehouse.resolve_conn("nope", {})


def test_table_names():
    assert warehouse.split_table_name("public.t") == ("public", "t")
    assert warehouse.split_table_name("t") == (None, "t")
    for bad in ("a.b.c", ".t", "s.", ""):
        with pytest.raises(TrainError):
            warehouse.split_table_name(bad)


def test_ndcg_known_values():
    y = np.array([3, 2, 0, 1])
    groups = np.zeros(4)
    assert M.ndcg_at(y, np.array([4, 3, 2, 1]) * 1.0 - np.array([0, 0, 1.5, 0]), groups, 10) == pytest.approx(1.0)
    worst = M.ndcg_at(y, np.array([1.0, 2.0, 4.0, 3.0]), groups, 10)
    ideal = 7 + 3 / math.log2(3) + 1 / math.log2(4)
    got = 0 + 1 / math.log2(3) + 3 / math.log2(4) + 7 / math.log2(5)
    assert worst == pytest.approx(got / ideal)
    # a query without relevant documents is left out
    assert M.ndcg_at(np.array([0, 0, 2, 1]), np.array([1.0, 2, 3, 2.5]), np.array([0, 0, 1, 1]), 5) == 1.0


def test_bandit_estimators():
    chosen = np.array([1, 2, 1, 2])
    actions = np.array([1, 1, 2, 2])
    costs = np.array([0.2, 0.8, 0.6, 0.4])
    probs = np.array([0.5, 0.5, 0.25, 0.25])
    m = M.bandit(chosen, actions, costs, probs)
    assert m["logging_policy_cost"] == pytest.approx(0.5)
    assert m["policy_cost_ips"] == pytest.approx((0.2 / 0.5 + 0.4 / 0.25) / 4)
    assert m["policy_match_rate"] == 0.5
    hat = np.array([[0.2, 0.5], [0.8, 0.5], [0.3, 0.6], [0.3, 0.4]])
    m = M.bandit(chosen, actions, costs, probs, hat)
    assert m["policy_cost_dm"] == pytest.approx((0.2 + 0.5 + 0.3 + 0.4) / 4)
    assert m["policy_cost_dr"] == pytest.approx(m["policy_cost_dm"])   # perfect model on matches


def test_anomaly_precision_recall():
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.3, 0.1, 0.1, 0.1, 0.1])
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    m = M.anomaly(scores, y, 0.2)
    assert m["flagged"] == 2
    assert m["precision_at_contamination"] == pytest.approx(0.5)
    assert m["recall_at_contamination"] == pytest.approx(1 / 3)


def test_classification_metrics_multiclass():
    classes = np.array(["a", "b", "c"])
    y = np.array(["a", "b", "c", "a"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    m = M.classification(y, proba, classes)
    assert m["accuracy"] == 0.75
    assert 0 < m["log_loss"] < 1 and m["auc"] == pytest.approx(1.0)


def test_vw_features_are_sanitised():
    df = pd.DataFrame({"a b|c:d": [1.0, 2.0, np.nan], "cat": ["x y", "p|q:r", None], "label": [0, 1, 0]})
    X, fs = build_features(df, ["label"], "t")
    fz = Featurizer.fit(X, fs)
    lines = fz.features(X)
    assert lines[0] == "|f a_b_c_d:-1 cat=x_y"
    assert lines[1] == "|f a_b_c_d:1 cat=p_q_r"
    assert lines[2] == "|f "
    for ln in lines:
        assert ln.count("|") == 1
    assert sanitize("") == "_"


def test_features_drop_identifiers_and_keep_categories():
    n = 200
    df = pd.DataFrame({"id": [f"row-{i}" for i in range(n)], "color": ["red", "blue"] * (n // 2),
                       "x": np.arange(n, dtype=float), "empty": [None] * n, "label": [0, 1] * (n // 2)})
    X, fs = build_features(df, ["label"], "t")
    assert fs.numeric == ["x"] and fs.categorical == ["color"]
    assert set(fs.dropped) == {"id", "empty"}
    assert str(X["color"].dtype) == "category"
    assert FeatureSet.from_dict(json.loads(json.dumps(fs.to_dict()))) == fs


def test_spec_validation():
    base = {"job_id": "j", "source_table": "t", "problem_type": "regression", "algorithm": "lightgbm_regressor"}
    s = JobSpec.from_dict(base)
    assert s.preset == "balanced" and s.label_column == "label"
    with pytest.raises(TrainError, match="does not fit"):
        JobSpec.from_dict(dict(base, algorithm="lightgbm_ranker"))
    with pytest.raises(TrainError, match="preset"):
        JobSpec.from_dict(dict(base, preset="turbo"))
    with pytest.raises(TrainError, match="source_table"):
        JobSpec.from_dict(dict(base, source_table=""))
