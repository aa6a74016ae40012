"""Airflow DAG: daily raw-zone compaction and retention (built by sluice.orchestration.maintenance_dag)."""

from ingestion.contract import load_contract
from sluice.orchestration.maintenance_dag import maintenance_dag
from sluice.settings import load_settings

dag = maintenance_dag(load_settings(), sorted(load_contract().topics))
