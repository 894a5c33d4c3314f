"""MLflow helpers: experiment by name, safe params/metrics, model logging."""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)


def ensure_experiment(name: str) -> str:
    """Id of the experiment called name, created if missing (race-safe)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            mlflow.tracking.MlflowClient().restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:
        return mlflow.create_experiment(name)
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        raise RuntimeError(f"MLflow experiment {name!r} could not be created")
    return exp.experiment_id


def flat_params(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_params(v, key + "."))
        else:
            s = "" if v is None else str(v)
            out[key] = s[:6000]
    return out


def finite(metrics: dict) -> dict:
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


def pip_requirements(*dists: str) -> list[str]:
    """Pinned requirements of the logged model from the installed versions
    (avoids MLflow's slow requirement inference)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for d in dists:
        try:
            out.append(f"{d}=={version(d)}")
        except PackageNotFoundError:
            out.append(d)
    return out


def signature_for(X, y_pred):
    """Model signature, or None when there is none that the model accepts
    as is (pandas categoricals have no MLflow schema type) or MLflow fails."""
    if any(str(t) == "category" for t in X.dtypes):
        return None
    try:
        from mlflow.models import infer_signature

        return infer_signature(X, y_pred)
    except Exception as e:  # noqa: BLE001
        log.info("no model signature: %s", e)
        return None
