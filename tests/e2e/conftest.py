"""Fixtures of the end-to-end tier: the service's base URL, bearer tokens
signed with the local secret, and small clients for the service, MLflow and
Airflow REST APIs. Everything comes from the environment that tests/e2e/run.sh
exports (scripts/stack env + scripts/lib/bringup.sh); a missing value fails."""
import os
import time

import jwt
import pytest
import requests


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the e2e tier through tests/e2e/run.sh")
    return value


@pytest.fixture(scope="session")
def api():
    return _env("AUTOML_E2E_API").rstrip("/") + "/api/automl/train/jobs"


@pytest.fixture(scope="session")
def token():
    with open(_env("AUTOML_JWT_SECRET_FILE"), "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    now = int(time.time())
    return jwt.encode({"sub": "e2e", "iat": now, "exp": now + 4 * 3600, "domains": ["e2e"]},
                      secret, algorithm="HS256")


@pytest.fixture(scope="session")
def http(token):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


class MLflow:
    def __init__(self, base):
        self.base = base.rstrip("/") + "/api/2.0/mlflow/"

    def get(self, path, **params):
        r = requests.get(self.base + path, params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path, body):
        r = requests.post(self.base + path, json=body, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def mlflow():
    return MLflow(_env("AUTOML_MLFLOW_TRACKING_URI"))


class Airflow:
    def __init__(self, base, user, password):
        self.base = base.rstrip("/")
        r = requests.post(self.base + "/auth/token", json={"username": user, "password": password},
                          timeout=30)
        r.raise_for_status()
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + r.json()["access_token"]

    def get(self, path):
        r = self.s.get(self.base + "/api/v2" + path, timeout=30)
        r.raise_for_status()
        return r.json()

    def patch(self, path, body):
        r = self.s.patch(self.base + "/api/v2" + path, json=body, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def airflow():
    return Airflow(_env("AUTOML_AIRFLOW_URL"), _env("AUTOML_AIRFLOW_USER"),
                   _env("AUTOML_AIRFLOW_PASSWORD"))
