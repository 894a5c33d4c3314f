"""run_job with the LightGBM learners against the sample tables."""

import mlflow
import pytest

from automl_train.run import run_job


def _check_registered(res, spec):
    client = mlflow.tracking.MlflowClient(tracking_uri=spec["mlflow_tracking_uri"])
    run = client.get_run(res["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["automl_job_id"] == spec["job_id"]
    assert run.data.tags["automl_dag_run_id"] == spec["airflow_dag_run_id"]
    assert run.data.tags["automl_algorithm"] == spec["algorithm"]
    assert run.data.tags["automl_preset"] == spec["preset"]
    assert res["registered_model_name"] == spec["registered_model_name"]
    mv = client.get_model_version(spec["registered_model_name"], res["model_version"])
    assert mv.run_id == res["mlflow_run_id"]
    return run


def test_classifier_binary(env_warehouse, make_spec):
    spec = make_spec("lightgbm_classifier", "binary_classification", "public.sample_binary")
    res = run_job(spec)
    m = res["metrics"]
    print("binary fast", m)
    assert m["test_auc"] > 0.95
    assert m["test_accuracy"] > 0.88
    assert 0 < m["test_log_loss"] < 0.4
    run = _check_registered(res, spec)
    assert "hp.learning_rate" in run.data.params


def test_classifier_multiclass_string_labels(env_warehouse, make_spec):
    spec = make_spec("lightgbm_classifier", "multiclass_classification", "sample_multiclass",
                     preset="balanced")
    res = run_job(spec)
    m = res["metrics"]
    print("multiclass balanced", m)
    assert m["test_auc"] > 0.95
    assert m["test_accuracy"] > 0.85
    assert m["search_trials"] > 1
    _check_registered(res, spec)


def test_regressor(env_warehouse, make_spec):
    spec = make_spec("lightgbm_regressor", "regression", "public.sample_regression")
    res = run_job(spec)
    m = res["metrics"]
    print("regression fast", m)
    assert m["test_r2"] > 0.3
    assert 0 < m["test_mae"] <= m["test_rmse"] < 75
    _check_registered(res, spec)


def test_binary_rejects_multiclass_label(env_warehouse, make_spec):
    from automl_train.errors import TrainError

    spec = make_spec("lightgbm_classifier", "binary_classification", "public.sample_multiclass")
    with pytest.raises(TrainError, match="3 distinct values"):
        run_job(spec)


def test_missing_table_names_it(env_warehouse, make_spec):
    from automl_train.errors import TrainError

    spec = make_spec("lightgbm_classifier", "binary_classification", "public.nope")
    with pytest.raises(TrainError) as ei:
        run_job(spec)
    assert str(ei.value) == "source table 'public.nope' does not exist"


def test_missing_label_column(env_warehouse, make_spec):
    from automl_train.errors import TrainError

    spec = make_spec("lightgbm_regressor", "regression", "public.sample_binary", label="nope")
    with pytest.raises(TrainError, match="label column 'nope' not found in source table 'public.sample_binary'"):
        run_job(spec)
