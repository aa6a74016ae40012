"""Spark entry points: what `spark-submit` (locally) or a SparkApplication (on Kubernetes) runs."""
