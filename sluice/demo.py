"""`sluice demo`: the pipeline as far as it exists, end to end on the local stack.

Simulated marketplace events go through Kafka, the exactly-once sink lands them in the raw zone (with dead letters
and completeness markers), then the marts DAG runs in Airflow for each simulated day: Spark builds every model in
marts/ in dependency order, each partition published only after its quality gate passed, and Slack (the local
stand-in) gets the run's summary. Then the speed track starts, today's events so far are sent live, and the serving
views show them within seconds (`sluice.demo_speed`). Last, Superset is provisioned on the marts and the serving views
(`sluice superset sync`): dashboards for analysts, "Today" among them, who sign in as the `analyst` user.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingestion.contract import load_contract
from ingestion.simulator import Record, SimulationConfig, produce, simulate
from ingestion.sink import ingest_backlog
from sluice import lake
from sluice.demo_speed import run_live_today
from sluice.objectstore import list_objects, s3_client
from sluice.settings import Settings
from sluice.stack.airflow import admin_password_hint
from sluice.stack.process import StackError
from sluice.topics import create_pipeline_topics

_MARGIN_DAYS = 1.0  # at most: the feed stops once every topic is past the days asked for (`_past`)
_RUN_TIMEOUT_S = 3600


def run_demo(
    settings: Settings, days: float, seed: int, live_seconds: float, echo: Callable[[str], None] = print
) -> int:
    complete = land_simulated_days(settings, days, seed, echo)
    built, last_run_started = _run_marts_dag(settings, complete, echo)
    _print_audit(settings, complete[-1], echo)
    _run_model_dag(settings, complete[-1], last_run_started, echo)
    run_live_today(settings, seed, live_seconds, echo)
    _sync_superset(settings, echo)  # after the speed track registered the serving views the Today dashboard reads
    echo("\nwhere to look:")
    echo(f"  airflow    {settings.airflow_url} (user admin; password: {admin_password_hint(settings)})")
    echo(f"  raw zone   s3://{settings.lake_bucket}/{lake.RAW}/<topic>/dt=YYYY-MM-DD/hr=HH/ at {settings.s3_url}")
    echo('  clients    eval "$(sluice env)" sets up aws, psql and Kafka tools')
    echo("  ingest     sluice ingest --status")
    echo(f"  marts      sluice marts list | graph; tables in schema {settings.marts_schema} (Hive metastore)")
    echo(f"  sql        hive://127.0.0.1:{settings.spark_thrift_port} read-only (PyHive, Superset, beeline); try:")
    echo(f'             sluice sql "select dt, dau, wau, mau, gmv, transactions, new_listings from '
         f'{settings.marts_schema}.mart_marketplace_kpis order by dt"')  # fmt: skip
    echo(f"  today      sluice sql \"select * from {settings.marts_schema}.serving_activity_hourly order by dt, hr\" "
         "(the speed track's hours and the published days; `sluice status` shows the speed track)")  # fmt: skip
    echo(f"  quality    s3://{settings.lake_bucket}/{lake.QUALITY_DOCS_INDEX} (Great Expectations Data Docs)")
    echo(f"  mlflow     {settings.mlflow_url} (runs, registered model {settings.ml_model_name}); sluice ml show")
    echo(f"  logs       {settings.logs_dir}")
    return built


def _print_audit(settings: Settings, day: date, echo: Callable[[str], None]) -> None:
    """`sluice audit` of the last day, which its marts run audited too: Kafka offsets to the marts, one table."""
    from sluice.audit import AuditFailed, run
    from sluice.marts.project import load_project

    echo(f"\nsluice audit --date {day}")
    try:
        echo(run(settings, load_project(), day).table())
    except AuditFailed as failed:
        echo(failed.report.table())
        raise StackError(str(failed)) from None


def _sync_superset(settings: Settings, echo: Callable[[str], None]) -> None:
    """Provision Superset on the marts just built and say where analysts find them."""
    from sluice.serving.superset_sync import sync, where_to_look

    report = sync(settings)
    echo(f"\nSuperset (sluice superset sync): {report.summary()}")
    for line in where_to_look(settings, report):
        echo(line)


def land_simulated_days(settings: Settings, days: float, seed: int, echo: Callable[[str], None]) -> list[date]:
    """Simulate `days` of marketplace events ending before today, send them through Kafka and the sink into the raw
    zone; returns the whole days, each complete (marked) and ready to build."""
    contract = load_contract()
    create_pipeline_topics(settings, list(contract.topics))
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=math.ceil(days) + 1)
    # Past the days asked for until every topic's watermark passes their last hour, so that every day is complete.
    records = simulate(SimulationConfig(seed=seed, start=start, days=days + _MARGIN_DAYS))
    past = start + timedelta(days=days, minutes=settings.ingest_allowed_lateness_minutes)
    summary = produce(settings, _past(records, set(contract.topics), past))
    echo(
        f"simulated {days:g} day(s) from {start:%Y-%m-%d}: {summary.sent} records to Kafka in {summary.seconds:.1f}s "
        f"({summary.valid} valid, {summary.duplicates} producer retries, {summary.malformed} malformed)"
    )
    # A backfill lands at once: no need to wait out the sink's usual flush interval.
    eager = settings.model_copy(update={"ingest_flush_seconds": min(settings.ingest_flush_seconds, 2.0)})
    counters = ingest_backlog(eager, contract)
    echo(
        f"ingested {counters.written} events into s3://{settings.lake_bucket}/raw as {counters.objects} Parquet "
        f"objects; {counters.dead_lettered} dead letters in {settings.deadletter_topic}; "
        f"{counters.hours_marked} hours marked complete"
    )
    _print_raw_zone(settings, echo)
    return [start.date() + timedelta(days=n) for n in range(math.floor(days))]


def _past(records: Iterable[Record], topics: set[str], moment: datetime) -> Iterator[Record]:
    """The records up to the one by which every topic has an event at or after `moment`. A fixed margin was not
    enough: a quiet topic (sign-ups at night) can go hours without one, leaving the last day's last hour unmarked
    and its marts run waiting for it."""
    behind = set(topics)
    for record in records:
        yield record
        if record.topic not in behind or record.event_id is None:
            continue
        if datetime.fromisoformat(json.loads(record.value)["event_time"]) >= moment:
            behind.discard(record.topic)
            if not behind:
                return


def _progress_printer(models: Iterable[str], echo: Callable[[str], None]) -> Callable[[list[dict[str, Any]]], None]:
    """A line whenever the run moves on: models done of all, what is running, time since the run began."""
    names, started, last = set(models), time.monotonic(), [""]

    def show(task_instances: list[dict[str, Any]]) -> None:
        done = sum(1 for ti in task_instances if ti["task_id"] in names and ti["state"] == "success")
        running = sorted(ti["task_id"] for ti in task_instances if ti["state"] == "running")
        line = f"{done}/{len(names)} models done; running: {', '.join(running) or '-'}"
        if line != last[0]:
            last[0] = line
            elapsed = time.monotonic() - started
            echo(f"  [{int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {line}")

    return show


def _print_raw_zone(settings: Settings, echo: Callable[[str], None]) -> list[str]:
    """Objects and complete hours per topic; returns the topics that have objects."""
    objects: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    s3 = s3_client(settings)
    for item in list_objects(s3, settings.lake_bucket, f"{lake.RAW}/"):
        topic = lake.parse_raw_key(item["Key"]).topic
        (markers if lake.is_marker(item["Key"]) else objects)[topic] += 1
    echo(f"  {'topic':<26} {'objects':>8} {'complete hours':>15}")
    for topic in sorted(objects):
        echo(f"  {topic:<26} {objects[topic]:>8} {markers[topic]:>15}")
    return sorted(objects)


def _run_marts_dag(settings: Settings, days: list[date], echo: Callable[[str], None]) -> tuple[int, str]:
    """Trigger the marts DAG in Airflow for each complete day and wait; print rows, gates and the Slack messages
    sent meanwhile. Returns the rows published and when the last run started."""
    from sluice.marts.build import read_build_record
    from sluice.marts.project import load_project
    from sluice.orchestration.client import AirflowClient
    from sluice.orchestration.marts_dag import DAG_ID
    from sluice.orchestration.moderation_dag import DAG_ID as MODEL_DAG
    from sluice.orchestration.superset_dag import DAG_ID as SUPERSET_REFRESH
    from sluice.stack.slack_receiver import messages_file, read_messages

    if not days:
        raise StackError("simulate at least one whole day (--days 1) to build the marts")
    project, airflow, s3 = load_project(), AirflowClient(settings), s3_client(settings)
    # The refresh and the model follow the marts' publishes; a stack may have them paused.
    for dag_id in (DAG_ID, SUPERSET_REFRESH, MODEL_DAG):
        airflow.wait_for_dag(dag_id)
        airflow.unpause(dag_id)
    slack_seen = len(read_messages(messages_file(settings)))
    target = {  # the DAG's params
        "lake_bucket": settings.lake_bucket,
        "marts_schema": settings.marts_schema,
        "ingest_group": settings.ingest_group,
    }
    published = 0
    for day in days:
        run_id = airflow.trigger(DAG_ID, day, conf=target)
        echo(f"\nAirflow: {DAG_ID} run {run_id} builds {len(project.models)} models for dt={day}; "
             f"follow it at {settings.airflow_url}/dags/{DAG_ID}/runs/{run_id}")  # fmt: skip
        run = airflow.wait(DAG_ID, run_id, timeout=_RUN_TIMEOUT_S, progress=_progress_printer(project.models, echo))
        if run["state"] != "success":
            failed = [ti["task_id"] for ti in airflow.task_instances(DAG_ID, run_id) if ti["state"] == "failed"]
            raise StackError(f"{DAG_ID} run {run_id} ended {run['state']}; failed tasks: {failed} (see the UI)")
        wall, busy = airflow.timing(DAG_ID, run_id)
        echo(f"  run took {wall / 60:.1f} min; its tasks ran {busy / 60:.1f} min in all, "
             f"{settings.airflow_parallelism} at a time")  # fmt: skip
        echo(f"  {'model':<32} {'rows':>8} {'checks':>7}")
        for name in project.models:
            record = read_build_record(s3, settings, name, day) or {"rows": 0, "checks": 0}
            published += record["rows"]
            echo(f"  {name:<32} {record['rows']:>8} {record['checks']:>7}")
    echo("\nSlack messages sent (local stand-in; set AIRFLOW_CONN_SLACK_ALERTS for a real webhook):")
    for message in read_messages(messages_file(settings))[slack_seen:]:
        echo(f"  {message['payload']['text']}")
    return published, run["start_date"]


def _run_model_dag(settings: Settings, day: date, marts_started: str, echo: Callable[[str], None]) -> None:
    """Wait for the nightly model run that the last day's training mart started (once published, while the rest of
    the marts run goes on); print each candidate's held-out macro-F1 per class, the verdict and where MLflow is."""
    import json

    from sluice.orchestration.client import AirflowClient
    from sluice.orchestration.moderation_dag import DAG_ID, TASKS, TRAINING_SET_TASK

    airflow = AirflowClient(settings)
    run_id = airflow.wait_for_run_after(DAG_ID, marts_started, timeout=300)
    echo(f"\nAirflow: {DAG_ID} run {run_id} (started by the training mart) trains, registers and scores; "
         f"follow it at {settings.airflow_url}/dags/{DAG_ID}/runs/{run_id}")  # fmt: skip
    run = airflow.wait(DAG_ID, run_id, timeout=_RUN_TIMEOUT_S, progress=_progress_printer(TASKS, echo))
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, run_id)}
    if run["state"] != "success" or states.get(TRAINING_SET_TASK) == "skipped":
        raise StackError(f"{DAG_ID} run {run_id} ended {run['state']} with tasks {states} (see the UI)")
    key = lake.nightly_prefix(day) + "decision.json"
    decision = json.loads(s3_client(settings).get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read())
    for name, candidate in decision["candidates"].items():
        per_class = ", ".join(f"{label} {f1:.2f}" for label, f1 in candidate["f1"].items())
        echo(f"  {name:<18} macro-F1 {candidate['macro_f1']:.3f}  ({per_class})")
    best = decision["candidates"][decision["best"]]["macro_f1"]
    champion_f1 = best if decision["promoted"] else decision["champion_before_macro_f1"]
    echo(f"  champion: {settings.ml_model_name} version {decision['champion']}, macro-F1 {champion_f1:.3f} on the "
         f"held-out day ({decision['reason']})")  # fmt: skip
    echo(f"  MLflow UI: {settings.mlflow_url}/#/models/{settings.ml_model_name}")
