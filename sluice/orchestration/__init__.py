"""Airflow wiring: DAG factories, operators, sensors and alerts. DAG files in dags/ only call these."""

OWNER = "data-platform"  # the team every Sluice DAG's tasks page
