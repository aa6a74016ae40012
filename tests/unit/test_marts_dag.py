"""The marts DAG follows the models' dependency graph, and its k8s mode submits valid SparkApplications."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest
import yaml

from sluice.marts.project import load_project
from sluice.orchestration.jobs import SparkJob
from sluice.orchestration.marts_dag import AUDIT_TASK, SUMMARY_TASK, WAIT_TASK, marts_dag
from sluice.settings import REPO_ROOT, Settings, load_settings

CRD = REPO_ROOT.parent / "shared" / "schemas" / "spark-operator" / "sparkoperator.k8s.io_sparkapplications.yaml"
# What mart_marketplace_kpis.sql reads, listed by hand from the SQL.
KPI_INPUTS = {
    "mart_active_users",
    "mart_gmv_daily",
    "mart_moderation_daily",
    "mart_region_category_activity",
    "mart_search_conversion",
    "mart_time_to_first_chat",
    "mart_user_growth",
}


def test_one_task_per_model_between_the_raw_zone_sensor_and_the_summary() -> None:
    project = load_project()
    dag = marts_dag(project, load_settings())
    assert set(dag.task_ids) == {*project.models, WAIT_TASK, AUDIT_TASK, SUMMARY_TASK}
    assert dag.get_task("stg_listings").upstream_task_ids == {WAIT_TASK}
    assert dag.get_task("mart_marketplace_kpis").upstream_task_ids == KPI_INPUTS
    assert dag.get_task("mart_marketplace_kpis").downstream_task_ids == {AUDIT_TASK}
    assert dag.get_task(SUMMARY_TASK).upstream_task_ids == {AUDIT_TASK}  # the summary reports an audited day
    assert dag.get_task(WAIT_TASK).topics == [  # type: ignore[attr-defined]
        "marketplace.chats",
        "marketplace.listings",
        "marketplace.moderation",
        "marketplace.searches",
        "marketplace.transactions",
        "marketplace.users",
    ]


def test_snapshots_wait_for_their_previous_day_and_facts_do_not() -> None:
    dag = marts_dag(load_project(), load_settings())
    assert dag.get_task("dim_users").depends_on_past
    assert dag.get_task("dim_listings").depends_on_past
    assert not dag.get_task("fct_transactions").depends_on_past


def test_each_model_publishes_an_asset_named_after_its_table() -> None:
    dag = marts_dag(load_project(), load_settings(lake_bucket="lake"))
    (asset,) = dag.get_task("mart_gmv_daily").outlets
    assert (asset.name, asset.uri) == ("sluice.mart_gmv_daily", "s3://lake/marts/mart_gmv_daily")


def test_the_same_job_runs_locally_as_a_process() -> None:
    job = SparkJob.build_model("mart_gmv_daily", "2026-11-19")
    assert (job.name, job.module, job.arguments) == (
        "build-mart-gmv-daily",
        "spark_jobs.build_model",
        ("mart_gmv_daily", "--date", "2026-11-19"),
    )


def test_k8s_mode_submits_spark_applications_that_match_the_operators_schema(k8s_settings: Settings) -> None:
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")["schema"]["openAPIV3Schema"]
    dag = marts_dag(load_project(), k8s_settings)
    task = dag.get_task("mart_gmv_daily")
    assert isinstance(task, SparkKubernetesOperator)
    interval = datetime(2026, 11, 19, tzinfo=UTC)
    params = {"ds": None, "lake_bucket": "lake", "marts_schema": "sluice"}
    rendered = task.render_template(task.application_file, {"data_interval_start": interval, "params": params})
    manifest = yaml.safe_load(rendered)
    jsonschema.validate(manifest, schema)
    assert manifest["spec"]["arguments"] == ["mart_gmv_daily", "--date", "2026-11-19"]
    assert manifest["spec"]["mainApplicationFile"] == "local:///opt/sluice/spark_jobs/build_model.py"
    assert manifest["spec"]["image"] == k8s_settings.spark_image
    assert manifest["spec"]["restartPolicy"] == {"type": "Never"}
    assert manifest["metadata"]["namespace"] == "sluice"
    assert manifest["spec"]["driver"]["envVars"] == {"SLUICE_LAKE_BUCKET": "lake", "SLUICE_MARTS_SCHEMA": "sluice"}


def test_the_speed_track_is_a_long_running_application_the_operator_restarts(k8s_settings: Settings) -> None:
    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")["schema"]["openAPIV3Schema"]
    manifest = SparkJob.speed_track().spark_application(k8s_settings)
    jsonschema.validate(manifest, schema)
    assert manifest["spec"]["mainApplicationFile"] == "local:///opt/sluice/spark_jobs/speed_track.py"
    assert manifest["spec"]["restartPolicy"]["type"] == "Always"
    assert "timeToLiveSeconds" not in manifest["spec"]  # a finished batch job's clean-up would delete it
    assert manifest["spec"]["driver"]["memory"] == k8s_settings.speed_driver_memory


def test_a_manifest_with_a_wrong_field_is_refused_by_the_schema(k8s_settings: Settings) -> None:
    """The schema check can fail: the operator's CRD rejects a misspelt type."""
    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    manifest = SparkJob.build_model("mart_gmv_daily", "2026-11-19").spark_application(k8s_settings)
    manifest["spec"]["type"] = "Pyton"
    with pytest.raises(jsonschema.ValidationError, match="Pyton"):
        jsonschema.validate(manifest, schema)


def test_a_scheduled_run_builds_its_whole_day_and_a_manual_one_the_date_it_names() -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = marts_dag(load_project(), load_settings())
    # Data intervals, not plain cron triggers: the run at midnight covers the day that just ended.
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 0 * * *", "UTC")
    task = dag.get_task("stg_users")
    scheduled = {"params": {"ds": None}, "data_interval_start": datetime(2026, 11, 20, tzinfo=UTC)}
    manual = {"params": {"ds": "2026-11-18"}, "data_interval_start": None}
    arguments = task.op_kwargs["job"]["arguments"]  # type: ignore[attr-defined]
    assert task.render_template(arguments, scheduled) == ["stg_users", "--date", "2026-11-20"]
    assert task.render_template(arguments, manual) == ["stg_users", "--date", "2026-11-18"]
