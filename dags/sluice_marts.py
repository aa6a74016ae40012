"""Airflow DAG: the marts in dependency order, one task per model (built by sluice.orchestration.marts_dag)."""

from sluice.marts.project import load_project
from sluice.orchestration.marts_dag import marts_dag
from sluice.settings import load_settings

dag = marts_dag(load_project(), load_settings())
