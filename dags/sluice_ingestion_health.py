"""Airflow DAG: hourly ingestion health checks that alert (built by sluice.orchestration.health_dag)."""

from ingestion.contract import load_contract
from sluice.orchestration.health_dag import health_dag
from sluice.settings import load_settings

dag = health_dag(load_settings(), sorted(load_contract().topics))
