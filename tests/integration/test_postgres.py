import os
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from sluice.settings import Settings

SLUICE = str(Path(sys.executable).parent / "sluice")


def _sluice_env() -> dict[str, str]:
    """The variables `eval "$(sluice env)"` would export."""
    exports = subprocess.run([SLUICE, "env"], capture_output=True, text=True, check=True).stdout
    pairs = (shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exports.splitlines())
    return dict(pairs)


def test_psql_configured_from_sluice_env_reaches_the_databases(stack: Settings) -> None:
    env = {**os.environ, **_sluice_env()}
    query = (
        "select current_user || ':' || string_agg(datname, ',' order by datname)"
        " from pg_database where not datistemplate"
    )
    result = subprocess.run(["psql", "-tAc", query], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "sluice:airflow,metastore,mlflow,postgres,sluice,superset"


def test_psycopg2_from_settings_writes_and_reads(stack: Settings, unique: str) -> None:
    with psycopg2.connect(stack.postgres_dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"create table {unique} (id int primary key, label text)")
        cur.executemany(f"insert into {unique} values (%s, %s)", [(1, "normal"), (2, "spam")])
        cur.execute(f"select label from {unique} order by id")
        assert cur.fetchall() == [("normal",), ("spam",)]
        cur.execute(f"drop table {unique}")


def test_a_wrong_password_is_refused(stack: Settings) -> None:
    dsn = f"postgresql://{stack.postgres_user}:wrong@{stack.postgres_host}:{stack.postgres_port}/sluice"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(dsn, connect_timeout=5).close()
