"""Airflow DAG: publish each chosen mart's new day to BigQuery (built by sluice.orchestration.bigquery_dag)."""

from sluice.marts.project import load_project
from sluice.orchestration.bigquery_dag import bigquery_publish_dag
from sluice.settings import load_settings

dag = bigquery_publish_dag(load_project(), load_settings())
