"""run_job with the ranker, Isolation Forest and the Vowpal Wabbit learners;
the logged VW models are loaded back through MLflow and must predict the same."""

import mlflow
import numpy as np
import pytest

from automl_train import samples
from automl_train.errors import TrainError
from automl_train.run import run_job


def _version(res, spec):
    client = mlflow.tracking.MlflowClient(tracking_uri=spec["mlflow_tracking_uri"])
    mv = client.get_model_version(spec["registered_model_name"], res["model_version"])
    assert mv.run_id == res["mlflow_run_id"]
    run = client.get_run(res["mlflow_run_id"])
    assert run.data.tags["automl_algorithm"] == spec["algorithm"]
    return mv


def _load(res, spec):
    mlflow.set_tracking_uri(spec["mlflow_tracking_uri"])
    return mlflow.pyfunc.load_model(f"models:/{spec['registered_model_name']}/{res['model_version']}")


def test_lightgbm_ranker(env_warehouse, make_spec):
    spec = make_spec("lightgbm_ranker", "ranking", "public.sample_ranking")
    res = run_job(spec)
    m = res["metrics"]
    print("ranker fast", m)
    assert 0.7 < m["test_ndcg_at_5"] <= 1.0
    assert 0.7 < m["test_ndcg_at_10"] <= 1.0
    assert m["test_n_queries"] >= 50
    _version(res, spec)


def test_isolation_forest_labelled(env_warehouse, make_spec):
    spec = make_spec("isolation_forest", "anomaly_detection", "public.sample_anomaly")
    res = run_job(spec)
    m = res["metrics"]
    print("iforest fast", m)
    assert abs(m["test_contamination"] - 0.05) < 0.01
    assert m["test_precision_at_contamination"] > 0.6
    assert m["test_recall_at_contamination"] > 0.6
    assert m["test_roc_auc"] > 0.9
    _version(res, spec)
    model = _load(res, spec)
    pred = model.predict(samples.anomaly().drop(columns=["label"]).head(50))
    assert set(np.unique(pred)) <= {-1, 1}


def test_isolation_forest_unlabelled(env_warehouse, make_spec):
    spec = make_spec("isolation_forest", "anomaly_detection", "public.sample_anomaly", label="no_such_column")
    res = run_job(spec)
    m = res["metrics"]
    print("iforest unlabelled", m)
    assert "test_precision_at_contamination" not in m
    assert m["test_score_min"] <= m["test_score_mean"] <= m["test_score_max"]
    assert 0.0 <= m["test_flagged_fraction"] <= 0.5


def test_vw_classifier_binary(env_warehouse, make_spec):
    spec = make_spec("vw_classifier", "binary_classification", "public.sample_binary")
    res = run_job(spec)
    m = res["metrics"]
    print("vw binary fast", m)
    assert m["test_auc"] > 0.95
    assert m["test_accuracy"] > 0.9
    _version(res, spec)
    model = _load(res, spec)
    df = samples.binary()
    out = model.predict(df.drop(columns=["label"]).head(100))
    assert list(out.columns) == ["prediction", "probability_0", "probability_1"]
    assert (out["prediction"].to_numpy() == df["label"].head(100).to_numpy()).mean() > 0.85
    assert np.allclose(out["probability_0"] + out["probability_1"], 1.0)


def test_vw_classifier_multiclass(env_warehouse, make_spec):
    spec = make_spec("vw_classifier", "multiclass_classification", "public.sample_multiclass")
    res = run_job(spec)
    m = res["metrics"]
    print("vw multiclass fast", m)
    assert m["test_auc"] > 0.95
    assert m["test_accuracy"] > 0.85
    model = _load(res, spec)
    df = samples.multiclass()
    out = model.predict(df.drop(columns=["label"]))
    assert set(out["prediction"]) <= {"class_0", "class_1", "class_2"}
    assert (out["prediction"].to_numpy() == df["label"].to_numpy()).mean() > 0.9


def test_vw_regressor(env_warehouse, make_spec):
    spec = make_spec("vw_regressor", "regression", "public.sample_regression")
    res = run_job(spec)
    m = res["metrics"]
    print("vw regression fast", m)
    assert m["test_r2"] > 0.3
    assert m["test_rmse"] < 70
    model = _load(res, spec)
    df = samples.regression()
    pred = np.asarray(model.predict(df.drop(columns=["label"])), dtype=float)
    assert np.corrcoef(pred, df["label"])[0, 1] > 0.6


def test_vw_contextual_bandit(env_warehouse, make_spec):
    spec = make_spec("vw_contextual_bandit", "contextual_bandit", "public.sample_bandit")
    res = run_job(spec)
    m = res["metrics"]
    print("vw bandit fast", m)
    # the learned policy must beat the logging policy clearly (true costs ~0.5 vs ~0.2)
    assert m["test_policy_cost_ips"] < m["test_logging_policy_cost"] - 0.1
    assert m["test_policy_cost_dr"] < m["test_logging_policy_cost"] - 0.1
    model = _load(res, spec)
    df = samples.bandit()
    ctx = df[[f"ctx{i}" for i in range(5)]]
    chosen = np.asarray(model.predict(ctx), dtype=int)
    assert set(np.unique(chosen)) <= {1, 2, 3, 4}
    true_cost = samples.bandit_expected_cost(ctx.to_numpy())
    policy = true_cost[np.arange(len(df)), chosen - 1].mean()
    logging = (true_cost * samples.bandit_logging_policy(ctx.to_numpy())).sum(axis=1).mean()
    print("true cost: policy", policy, "logging", logging)
    assert policy < logging - 0.1


def test_bandit_needs_cost(env_warehouse, make_spec):
    spec = make_spec("vw_contextual_bandit", "contextual_bandit", "public.sample_binary")
    with pytest.raises(TrainError, match="column 'action' not found in source table 'public.sample_binary'"):
        run_job(spec)
