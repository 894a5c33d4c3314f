"""Reading the job's source table from the warehouse (PostgreSQL).

Where the connection comes from (first found wins):
  1. env AUTOML_WAREHOUSE_URI -- set by the DAG's train task from the Airflow
     connection it resolved on the Airflow side (BaseHook.get_connection), so
     connections kept in Airflow's metadata DB or a secrets backend work too;
  2. env AIRFLOW_CONN_<CONN_ID upper-cased> -- Airflow's own env-var form (URI
     or JSON), inherited from the worker's environment.
Either value may be an Airflow connection URI (postgres://, postgresql://,
with extras as query parameters or __extra__ JSON), an Airflow JSON connection,
or a plain libpq conninfo string. Values are never logged.

Identifiers (schema, table) are always quoted with psycopg2.sql.Identifier.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np
import pandas as pd

from .errors import TrainError

log = logging.getLogger(__name__)

URI_ENV = "AUTOML_WAREHOUSE_URI"
MAX_ROWS_ENV = "AUTOML_MAX_ROWS"
DEFAULT_MAX_ROWS = 2_000_000

_LIBPQ_KEYS = {
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword",
    "sslcompression", "sslnegotiation", "connect_timeout", "application_name",
    "options", "target_session_attrs", "keepalives", "keepalives_idle",
    "keepalives_interval", "keepalives_count", "gssencmode", "passfile",
    "channel_binding", "service", "requiressl", "krbsrvname", "tcp_user_timeout",
}
_PG_SCHEMES = {"postgres", "postgresql", "postgres+psycopg2", "postgresql+psycopg2"}


def conn_env_name(conn_id: str) -> str:
    """Airflow's environment variable name for a connection id."""
    return "AIRFLOW_CONN_" + conn_id.upper()


def _from_fields(host, port, login, password, schema, extra) -> dict:
    kw: dict = {}
    if host:
        kw["host"] = host
    if port:
        kw["port"] = int(port)
    if login:
        kw["user"] = login
    if password:
        kw["password"] = password
    if schema:
        kw["dbname"] = schema
    for k, v in (extra or {}).items():
        if k in _LIBPQ_KEYS and v is not None:
            kw[k] = str(v)
    return kw


def parse_conn(value: str) -> dict:
    """Keyword arguments for psycopg2.connect from a connection string.

    Accepts an Airflow connection URI, an Airflow JSON connection or a libpq
    conninfo string ("host=... dbname=..."), which is passed through as dsn.
    """
    v = value.strip()
    if not v:
        raise TrainError("warehouse connection string is empty")
    if v.startswith("{"):
        try:
            d = json.loads(v)
        except ValueError:
            raise TrainError("warehouse connection JSON is malformed") from None
        extra = d.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except ValueError:
                extra = {}
        ctype = (d.get("conn_type") or "postgres").lower()
        if ctype not in _PG_SCHEMES:
            raise TrainError(f"warehouse connection type {ctype!r} is not PostgreSQL")
        return _from_fields(d.get("host"), d.get("port"), d.get("login"), d.get("password"),
                            d.get("schema"), extra)
    if "://" not in v:
        return {"dsn": v}
    parts = urlsplit(v)
    scheme = parts.scheme.lower().replace("-", "_")
    if scheme not in _PG_SCHEMES:
        raise TrainError(f"warehouse connection type {parts.scheme!r} is not PostgreSQL")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    login, _, password = userinfo.partition(":")
    host, port = hostport, None
    if hostport.startswith("["):
        end = hostport.find("]")
        host = hostport[1:end]
        rest = hostport[end + 1:]
        if rest.startswith(":"):
            port = rest[1:]
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    extra: dict = {}
    for k, val in parse_qsl(parts.query, keep_blank_values=True):
        if k == "__extra__":
            try:
                e = json.loads(val)
            except ValueError:
                e = {}
            if isinstance(e, dict):
                extra.update(e)
        else:
            extra[k] = val
    if port is not None and not port.isdigit():
        raise TrainError("warehouse connection port is not a number")
    return _from_fields(unquote(host), port, unquote(login), unquote(password),
                        unquote(parts.path.lstrip("/")), extra)


def resolve_conn(conn_id: str | None, environ=None) -> dict:
    """psycopg2.connect keyword arguments for the warehouse (see module doc)."""
    env = os.environ if environ is None else environ
    v = env.get(URI_ENV)
    if v:
        return parse_conn(v)
    if conn_id:
        v = env.get(conn_env_name(conn_id))
        if v:
            return parse_conn(v)
    raise TrainError(
        f"warehouse connection {conn_id!r} is not defined "
        f"(neither {URI_ENV} nor {conn_env_name(conn_id or 'ID')} is set)")


def split_table_name(name: str) -> tuple[str | None, str]:
    parts = name.split(".")
    if len(parts) > 2 or any(not p for p in parts):
        raise TrainError(f"source table name {name!r} is not of the form table or schema.table")
    if len(parts) == 2:
        return parts[0], parts[1]
    return None, parts[0]


def _dec_to_float(value, cur):
    return None if value is None else float(value)


def _fix_types(df: pd.DataFrame) -> pd.DataFrame:
    """Make numbers numeric and dates numeric (seconds); leave text as object."""
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        nonnull = s.dropna()
        if nonnull.empty:
            df[col] = s.astype(float)
            continue
        first = nonnull.iloc[0]
        if isinstance(first, (bool, np.bool_)):
            df[col] = s.astype(float)
        elif isinstance(first, (int, float, np.integer, np.floating)):
            df[col] = pd.to_numeric(s, errors="coerce")
        elif isinstance(first, (_dt.datetime, _dt.date)):
            ts = pd.to_datetime(s, errors="coerce", utc=True)
            df[col] = (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
        else:
            df[col] = s.map(lambda x: None if x is None else str(x))
    return df


def connect(conn_kwargs: dict):
    import psycopg2
    import psycopg2.extensions

    try:
        conn = psycopg2.connect(**conn_kwargs)
    except psycopg2.OperationalError as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else "connection failed"
        raise TrainError(f"cannot connect to the warehouse: {msg}") from None
    dec2float = psycopg2.extensions.new_type(
        psycopg2.extensions.DECIMAL.values, "AUTOML_DEC2FLOAT", _dec_to_float)
    psycopg2.extensions.register_type(dec2float, conn)
    return conn


def load_table(conn_kwargs: dict, source_table: str, max_rows: int | None = None) -> pd.DataFrame:
    """The whole table (up to max_rows rows) as a DataFrame.

    Raises TrainError "source table '<name>' does not exist" for a missing
    table, and for an empty one.
    """
    import psycopg2
    import psycopg2.errors
    from psycopg2 import sql

    schema, table = split_table_name(source_table)
    ident = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    if max_rows is None:
        raw = os.environ.get(MAX_ROWS_ENV, "")
        max_rows = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_ROWS
    conn = connect(conn_kwargs)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("SELECT * FROM {} LIMIT %s").format(ident), (max_rows,))
            except psycopg2.errors.UndefinedTable:
                raise TrainError(f"source table {source_table!r} does not exist") from None
            except psycopg2.errors.InvalidSchemaName:
                raise TrainError(f"source table {source_table!r} does not exist") from None
            except psycopg2.errors.InsufficientPrivilege:
                raise TrainError(f"no permission to read source table {source_table!r}") from None
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
    finally:
        conn.close()
    if not rows:
        raise TrainError(f"source table {source_table!r} is empty")
    if len(rows) >= max_rows:
        log.warning("source table %s has more than %d rows; using the first %d",
                    source_table, max_rows, max_rows)
    df = pd.DataFrame.from_records(rows, columns=names)
    return _fix_types(df)
