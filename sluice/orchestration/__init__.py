"""Airflow wiring: DAG factories, operators, sensors and alerts. DAG files in dags/ only call these."""
