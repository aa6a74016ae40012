"""Builds that start at once share one catalog: creating a new schema and its tables from two processes at the same
time must leave one of each (the metastore here has no unique constraints; `catalog_lock` serialises creation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg2

from sluice.settings import REPO_ROOT, Settings

ENSURE = """
import sys
from pathlib import Path
from sluice.marts.build import Builder
from sluice.marts.project import load_project
from sluice.settings import load_settings
from sluice.spark import spark_session

settings = load_settings(marts_schema=sys.argv[1])
Builder(spark_session(settings, "catalog-race"), settings, load_project()).ensure_tables(["stg_users", "dim_users"])
"""


def test_two_processes_creating_the_same_schema_and_tables_leave_one_of_each(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    script = tmp_path / "ensure_tables.py"  # a file: under `python -c`, PySpark runs its doctest hook and exits
    script.write_text(ENSURE)
    racers = [
        subprocess.Popen([sys.executable, str(script), unique], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for racer in racers:
        _, errors = racer.communicate(timeout=600)
        assert racer.returncode == 0, errors[-3000:]
    with psycopg2.connect(stack.postgres_dsn(stack.metastore_database)) as connection, connection.cursor() as cur:
        cur.execute('select count(*) from "DBS" where "NAME" = %s', (unique,))
        assert cur.fetchone() == (1,)
        cur.execute(
            'select "TBL_NAME", count(*) from "TBLS" join "DBS" using ("DB_ID") where "NAME" = %s group by 1',
            (unique,),
        )
        assert dict(cur.fetchall()) == {"stg_users": 1, "dim_users": 1}
