"""Airflow DAG: every five minutes, alert failed tries that no callback reported (sluice.orchestration.alert_sweep)."""

from sluice.orchestration.alert_sweep import alert_sweep_dag
from sluice.settings import load_settings

dag = alert_sweep_dag(load_settings())
