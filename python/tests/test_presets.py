"""Presets: a larger budget searches more and does not do worse."""

from automl_train.run import run_job


def test_best_quality_not_worse_than_fast(env_warehouse, make_spec, monkeypatch):
    # generous time budgets: the trial caps, not the machine's load, decide what is searched
    monkeypatch.setenv("AUTOML_SEARCH_TIME_SCALE", "10")
    res = {}
    for preset in ("fast", "best_quality"):
        spec = make_spec("lightgbm_regressor", "regression", "public.sample_regression", preset=preset)
        res[preset] = run_job(spec)["metrics"]
    fast, best = res["fast"], res["best_quality"]
    print(f"lightgbm_regressor sample_regression: test RMSE fast {fast['test_rmse']:.3f} "
          f"best_quality {best['test_rmse']:.3f}; valid RMSE fast {fast['valid_rmse']:.3f} "
          f"best_quality {best['valid_rmse']:.3f}; trials {best['search_trials']:.0f}; "
          f"train seconds fast {fast['train_seconds']:.1f} best_quality {best['train_seconds']:.1f}")
    assert fast["search_trials"] == 1
    assert best["search_trials"] > 10
    # the defaults are candidate 0, so validation can only improve ...
    assert best["valid_rmse"] <= fast["valid_rmse"]
    # ... and on this fixed data set the held-out error does too
    assert best["test_rmse"] <= fast["test_rmse"]
    assert best["train_seconds"] < 120
