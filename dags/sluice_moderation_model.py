"""Airflow DAG: the nightly moderation model (built by sluice.orchestration.moderation_dag)."""

from sluice.marts.project import load_project
from sluice.orchestration.moderation_dag import moderation_dag
from sluice.settings import load_settings

dag = moderation_dag(load_project(), load_settings())
