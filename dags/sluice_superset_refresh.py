"""Airflow DAG: refresh Superset after each published mart (built by sluice.orchestration.superset_dag)."""

from sluice.marts.project import load_project
from sluice.orchestration.superset_dag import superset_refresh_dag
from sluice.settings import load_settings

dag = superset_refresh_dag(load_project(), load_settings())
