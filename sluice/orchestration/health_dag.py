"""The ingestion health DAG: every hour, consumer lag, dead letters and unmarked hours against their limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable
from airflow.sdk.exceptions import AirflowFailException

from sluice.orchestration import START_DATE, default_args
from sluice.settings import Settings

DAG_ID = "sluice_ingestion_health"


def check_ingestion(topics: list[str]) -> dict[str, object]:
    """Fails, which alerts, naming every limit crossed; otherwise returns the figures (kept as the task's XCom)."""
    from sluice.orchestration.health import check, problems
    from sluice.settings import load_settings

    settings = load_settings()
    health = check(settings, topics, datetime.now(UTC))
    found = problems(health, settings)
    if found:
        raise AirflowFailException("ingestion is unhealthy:\n" + "\n".join(f"- {problem}" for problem in found))
    return {"lag": health.lag, "dead_letters_last_hour": health.dead_letters_last_hour}


def health_dag(settings: Settings, topics: list[str]) -> DAG:
    from airflow.providers.standard.operators.python import PythonOperator

    with DAG(
        DAG_ID,
        description="Consumer lag, dead letters and unmarked raw hours, against the limits in settings",
        schedule=CronTriggerTimetable("5 * * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # A broker hiccup is not an incident (no alert for the retry); a second failure is.
        default_args=default_args(1, timedelta(minutes=2), alert_retries=False),
        tags=["sluice", "ingestion"],
        doc_md=__doc__,
    ) as dag:
        PythonOperator(task_id="check_ingestion", python_callable=check_ingestion, op_kwargs={"topics": topics})
    return dag
