"""The rendered DAGs' own Python, run against a minimal stand-in of the Airflow
API they use (no Airflow in the training virtualenv): the task graph, the
status write-back (PSK header, JSON body, retries), the failure callback's
error message, and how the train task hands over run id and warehouse URI."""

import http.server
import json
import sys
import threading
import types

import pytest

from test_templates import HOSTILE, JOB_ID, TEMPLATES, render

RUN_ID = "manual__2026-01-01T00:00:00+00:00"


class FakeTask:
    def __init__(self, task_id, **kw):
        self.task_id = task_id
        self.kw = kw
        self.downstream = []
        FakeDAG.current.tasks[task_id] = self
        for k, v in kw.items():
            setattr(self, k, v)

    def __rshift__(self, other):
        self.downstream.append(other.task_id)
        return other


class FakePythonOperator(FakeTask):
    pass


class FakeExternalPythonOperator(FakeTask):
    template_fields = ("python", "op_args", "op_kwargs", "templates_dict")

    def __init__(self, task_id, env_vars=None, **kw):
        super().__init__(task_id, **kw)
        self.env_vars = env_vars

    def execute(self, context):
        self.executed_with = {"op_kwargs": self.op_kwargs, "env_vars": self.env_vars}
        return {"mlflow_run_id": "r1", "registered_model_name": "m1", "model_version": "1", "metrics": {}}


class FakeDAG:
    current = None

    def __init__(self, **kw):
        self.kw = kw
        self.tasks = {}

    def __enter__(self):
        FakeDAG.current = self
        return self

    def __exit__(self, *a):
        FakeDAG.current = None


class FakeConn:
    def __init__(self, uri):
        self.uri = uri

    def get_uri(self):
        return self.uri


class FakeBaseHook:
    conns = {}

    @classmethod
    def get_connection(cls, conn_id):
        if conn_id not in cls.conns:
            raise RuntimeError(f"The conn_id `{conn_id}` isn't defined")
        return FakeConn(cls.conns[conn_id])


class FakeVariable:
    values = {}

    @classmethod
    def get(cls, key, default=None):
        return cls.values.get(key, default)


@pytest.fixture
def fake_airflow(monkeypatch):
    sdk = types.ModuleType("airflow.sdk")
    sdk.DAG, sdk.BaseHook, sdk.Variable = FakeDAG, FakeBaseHook, FakeVariable
    ops = types.ModuleType("airflow.providers.standard.operators.python")
    ops.PythonOperator, ops.ExternalPythonOperator = FakePythonOperator, FakeExternalPythonOperator
    for name in ("airflow", "airflow.providers", "airflow.providers.standard",
                 "airflow.providers.standard.operators"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "airflow.sdk", sdk)
    monkeypatch.setitem(sys.modules, "airflow.providers.standard.operators.python", ops)
    FakeBaseHook.conns = {}
    FakeVariable.values = {}
    for k in ("AUTOML_STATUS_PSK", "AUTOML_STATUS_PSK_FILE", "AUTOML_WAREHOUSE_URI"):
        monkeypatch.delenv(k, raising=False)


class StatusServer:
    """Records PUTs; answers with the queued status codes (then 200)."""

    def __init__(self):
        self.requests = []
        self.codes = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": json.loads(self.rfile.read(n))})
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"detail": "x"}')

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def status_server():
    s = StatusServer()
    yield s
    s.close()


def load_dag(family, public_url=None):
    src = render(family, public_url=public_url)
    ns = {"__name__": f"automl_dag_{family}"}
    exec(compile(src, f"{family}.py", "exec"), ns)
    ns["time"] = types.SimpleNamespace(sleep=lambda s: None)   # no back-off waits in tests
    return ns


class FakeTI:
    def __init__(self, task_id, xcom=None):
        self.task_id = task_id
        self._xcom = xcom

    def xcom_pull(self, task_ids=None):
        assert task_ids == "train"
        return self._xcom


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_dag_shape(fake_airflow, family):
    ns = load_dag(family)
    dag = ns["dag"]
    assert dag.kw["dag_id"] == ns["DAG_ID"]
    assert ns["DAG_ID"].startswith("automl_d-x.y_z_") and ns["DAG_ID"].endswith(JOB_ID.replace("-", ""))
    assert dag.kw["is_paused_upon_creation"] is False
    assert dag.kw["schedule"] is None and dag.kw["catchup"] is False
    assert set(dag.tasks) == {"start", "train", "report"}
    assert dag.tasks["start"].downstream == ["train"]
    assert dag.tasks["train"].downstream == ["report"]
    assert dag.kw["default_args"]["on_failure_callback"] is ns["_on_failure"]
    assert dag.kw["default_args"]["retries"] == 0
    train = dag.tasks["train"]
    assert train.python == "/opt/automl/venvs/train/bin/python"
    assert type(train).template_fields == ()      # job fields are never Jinja-rendered
    spec = train.op_kwargs["spec"]
    assert spec["name"] == HOSTILE and spec["owner"] == HOSTILE and spec["label_column"] == "label"
    assert spec["source_table"] == "public.sample_binary"
    assert spec["warehouse_conn_id"] == "automl_warehouse"
    assert spec["feature_engineering_job_id"] is None


def test_train_task_hands_over_run_id_and_uri(fake_airflow):
    ns = load_dag("lightgbm")
    FakeBaseHook.conns["automl_warehouse"] = "postgres://u:p%40ss@db:5432/wh"
    train = ns["dag"].tasks["train"]
    res = train.execute({"run_id": RUN_ID})
    assert res["mlflow_run_id"] == "r1"
    assert train.executed_with["op_kwargs"]["spec"]["airflow_dag_run_id"] == RUN_ID
    assert train.executed_with["env_vars"] == {"AUTOML_WAREHOUSE_URI": "postgres://u:p%40ss@db:5432/wh"}
    # the URI never lands in the spec (which MLflow and XCom see)
    assert "p%40ss" not in json.dumps(train.executed_with["op_kwargs"])


def test_train_task_without_airflow_connection(fake_airflow):
    ns = load_dag("vw")
    train = ns["dag"].tasks["train"]
    train.execute({"run_id": RUN_ID})
    assert not train.executed_with["env_vars"]   # the subprocess falls back to AIRFLOW_CONN_*


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_start_and_report_write_back(fake_airflow, status_server, monkeypatch, family):
    monkeypatch.setenv("AUTOML_STATUS_PSK", "s3cret")
    ns = load_dag(family, public_url=status_server.base)
    dag = ns["dag"]
    dag.tasks["start"].python_callable(run_id=RUN_ID, ti=FakeTI("start"))
    xcom = {"mlflow_run_id": "abc123", "registered_model_name": "automl-m", "model_version": "3"}
    dag.tasks["report"].python_callable(run_id=RUN_ID, ti=FakeTI("report", xcom))
    assert [r["body"] for r in status_server.requests] == [
        {"status": "running", "airflow_dag_run_id": RUN_ID},
        {"status": "complete", "airflow_dag_run_id": RUN_ID, "mlflow_run_id": "abc123",
         "registered_model_name": "automl-m"},
    ]
    for r in status_server.requests:
        assert r["path"] == f"/api/automl/train/jobs/{JOB_ID}/status"
        assert r["headers"]["authorization-psk"] == "s3cret"
        assert r["headers"]["content-type"] == "application/json"


def test_failure_callback_reports_the_training_error(fake_airflow, status_server, monkeypatch, tmp_path):
    psk = tmp_path / "psk"
    psk.write_text("from-file\n")
    monkeypatch.setenv("AUTOML_STATUS_PSK_FILE", str(psk))
    ns = load_dag("lightgbm", public_url=status_server.base)
    exc = RuntimeError("Process returned non-zero exit status 1.\nsource table 'public.nope' does not exist")
    ns["_on_failure"]({"run_id": RUN_ID, "ti": FakeTI("train"), "exception": exc})
    (req,) = status_server.requests
    assert req["headers"]["authorization-psk"] == "from-file"
    assert req["body"] == {"status": "failed", "airflow_dag_run_id": RUN_ID,
                           "error_message": "source table 'public.nope' does not exist"}


def test_failure_callback_other_task_and_no_exception(fake_airflow, status_server):
    FakeVariable.values["automl_status_psk"] = "from-variable"
    ns = load_dag("iforest", public_url=status_server.base)
    ns["_on_failure"]({"run_id": RUN_ID, "ti": FakeTI("start"), "exception": TimeoutError("x" * 5000)})
    ns["_on_failure"]({"run_id": RUN_ID, "ti": FakeTI("train"), "exception": None})
    a, b = status_server.requests
    assert a["headers"]["authorization-psk"] == "from-variable"
    assert a["body"]["error_message"].startswith("task start failed: xxx")
    assert len(a["body"]["error_message"]) <= 1000
    assert b["body"]["error_message"] == "task train failed"


def test_write_back_retries_server_errors_only(fake_airflow, status_server):
    ns = load_dag("lightgbm", public_url=status_server.base)
    status_server.codes = [503, 502]
    assert ns["_write_status"]("running", RUN_ID) is True
    assert len(status_server.requests) == 3
    status_server.requests.clear()
    status_server.codes = [409]
    assert ns["_write_status"]("running", RUN_ID) is False      # a 409 is an answer, not an outage
    assert len(status_server.requests) == 1
    status_server.requests.clear()
    status_server.codes = [500] * 10
    assert ns["_write_status"]("complete", RUN_ID) is False     # gives up, never raises
    assert len(status_server.requests) == ns["STATUS_ATTEMPTS"]


def test_write_back_unreachable_service_does_not_raise(fake_airflow):
    ns = load_dag("vw", public_url="http://127.0.0.1:9")
    assert ns["_write_status"]("running", RUN_ID) is False


def test_no_status_url_skips(fake_airflow, status_server):
    ns = load_dag("lightgbm", public_url=None)
    ns["dag"].tasks["start"].python_callable(run_id=RUN_ID, ti=FakeTI("start"))
    assert status_server.requests == []
