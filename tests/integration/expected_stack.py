"""The local stack's services as `sluice status` lists them, each in its healthy state."""

HEALTHY_STACK = {
    "kafka": "healthy",
    "s3": "healthy",
    "postgres": "healthy",
    "slack": "healthy",
    "jobs": "healthy",
    "spark-connect": "healthy",
    "spark-thrift": "healthy",
    "superset": "healthy",
    "mlflow": "healthy",
    "airflow-api": "healthy",
    "airflow-scheduler": "healthy",
    "airflow-dags": "healthy",
    "airflow-trigger": "healthy",
}
