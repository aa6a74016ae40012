"""`sluice`: the user's entry point to the local stack and the pipeline."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from sluice.marts.cli import app as marts_app
from sluice.ml.cli import PASS_THROUGH, ml
from sluice.serving.cli import app as superset_app
from sluice.settings import Settings, load_settings
from sluice.stack import ServiceStatus, StackError

app = typer.Typer(help="Sluice: Kafka -> S3 lake -> Spark marts, on a local stack or Kubernetes.", no_args_is_help=True)
app.add_typer(marts_app, name="marts")
app.add_typer(superset_app, name="superset")
app.command("ml", context_settings=PASS_THROUGH, add_help_option=False)(ml)
bigquery_app = typer.Typer(help="The marts' warehouse copy on BigQuery.", no_args_is_help=True)
app.add_typer(bigquery_app, name="bigquery")


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as error:  # pydantic's ValidationError carries our message
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _print_status(rows: list[ServiceStatus]) -> None:
    typer.echo(f"{'service':<17} {'state':<11} {'pid':>7} {'rss MiB':>8} {'peak MiB':>9}  address")
    for row in rows:
        colour = typer.colors.GREEN if row.ok else typer.colors.RED
        pid = str(row.pid) if row.pid else "-"
        state = typer.style(f"{row.state:<11}", fg=colour)
        typer.echo(f"{row.name:<17} {state} {pid:>7} {row.rss_mib:>8.0f} {row.peak_rss_mib:>9.0f}  {row.address}")


def _fail(error: StackError) -> typer.Exit:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@bigquery_app.command("publish")
def bigquery_publish(
    ds: Annotated[str, typer.Option("--date", help="The published day to copy (UTC), YYYY-MM-DD.")],
    marts: Annotated[
        list[str] | None, typer.Option("--mart", help="A mart to copy; default SLUICE_BIGQUERY_MARTS.")
    ] = None,
) -> None:
    """Replace the day's partition of each mart's BigQuery table with the lake's (the DAG does this after a publish)."""
    from datetime import UTC, date, datetime

    from sluice.serving.bigquery import BigQueryError, publish

    settings = _settings()
    run_id = f"cli__{datetime.now(UTC):%Y%m%dT%H%M%S}"  # a new run: a fresh job id even for unchanged data
    try:
        loaded = publish(settings, marts or list(settings.bigquery_marts), date.fromisoformat(ds), run_id)
    except BigQueryError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    for item in loaded:
        typer.echo(f"{item.partition}: {item.rows} rows (job {item.job_id})")


@app.command()
def up() -> None:
    """Start the local stack (Kafka, S3, PostgreSQL, Spark, Superset, Airflow) and wait until every service answers."""
    from sluice.stack import superset
    from sluice.stack import up as start
    from sluice.stack.airflow import admin_password, airflow_home

    settings = _settings()
    first_start = not (airflow_home(settings) / "admin-password").exists()
    superset_first_start = not (superset.superset_home(settings) / "admin-password").exists()
    try:
        rows = start(settings)
    except StackError as error:
        raise _fail(error) from None
    _print_status(rows)
    if first_start and settings.airflow_admin_password is None:
        typer.echo(f"Airflow UI {settings.airflow_url}: user admin, password {admin_password(settings)} "
                   f"(generated on this first start, kept in {airflow_home(settings) / 'admin-password'})")  # fmt: skip
    if superset_first_start and settings.superset_admin_password is None:
        typer.echo(f"Superset {settings.superset_url}: user admin, password "
                   f"{superset.password(settings, superset.ADMIN_USER)} (generated on this first start, kept "
                   f"{superset.password_hint(settings, superset.ADMIN_USER)})")  # fmt: skip


@app.command()
def status() -> None:
    """Show each service's state, address and memory; exit 1 unless all are healthy."""
    from sluice.stack import status as probe

    rows = probe(_settings())
    _print_status(rows)
    if not all(row.ok for row in rows):
        raise typer.Exit(1)


@app.command()
def speed() -> None:
    """Start the speed track (after the stack, if it is not up): today's hours in the serving views within seconds.
    In the k8s profile, print its SparkApplication instead (for kubectl apply or the Helm chart)."""
    from sluice.stack import start_speed_track

    settings = _settings()
    if settings.profile == "k8s":
        import yaml

        from sluice.orchestration.jobs import SparkJob

        typer.echo(yaml.safe_dump(SparkJob.speed_track().spark_application(settings), sort_keys=False))
        return
    try:
        rows = start_speed_track(settings)
    except StackError as error:
        raise _fail(error) from None
    _print_status(rows)


@app.command()
def down() -> None:
    """Stop the local stack; no process is left behind. Data stays in the state directory."""
    from sluice.stack import down as stop

    stopped = stop(_settings())
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def env() -> None:
    """Print shell exports for standard clients (psql, aws, Kafka tools): eval "$(sluice env)"."""
    s = _settings()
    exports = {
        "PGHOST": s.postgres_host,
        "PGPORT": str(s.postgres_port),
        "PGUSER": s.postgres_user,
        "PGPASSWORD": s.secret("postgres_password"),
        "PGDATABASE": s.postgres_database,
        "AWS_ENDPOINT_URL": s.s3_url,
        "AWS_ACCESS_KEY_ID": s.secret("s3_access_key"),
        "AWS_SECRET_ACCESS_KEY": s.secret("s3_secret_key"),
        "AWS_DEFAULT_REGION": s.s3_region,
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka_servers,
    }
    for name, value in exports.items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@app.command()
def smoke() -> None:
    """Spark writes a Parquet file to the lake over s3a and reads it back."""
    from sluice.smoke import spark_roundtrip

    rows, uri = spark_roundtrip(_settings())
    typer.echo(f"spark wrote and read back {rows} rows at {uri}")


@app.command()
def sql(query: Annotated[str, typer.Argument(help="One SQL statement, e.g. a SELECT on a mart.")]) -> None:
    """Run a statement on the analysts' read-only SQL endpoint (the Spark Thrift Server) and print the rows."""
    from contextlib import closing

    from pyhive.exc import OperationalError

    from sluice.stack.spark import connect

    with closing(connect(_settings())) as connection:
        cursor = connection.cursor()
        try:
            cursor.execute(query)
        except OperationalError as error:  # PyHive wraps the server's message in the whole Thrift response
            status = getattr(error.args[0], "status", None) if error.args else None
            typer.secho(f"error: {getattr(status, 'errorMessage', error)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        names = [column[0] for column in cursor.description or []]
        rows = [[str(value) for value in row] for row in cursor.fetchall()]
    widths = [max(len(text) for text in column) for column in zip(names, *rows, strict=True)] if names else []
    for line in (names, *rows):
        typer.echo("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())


@app.command()
def audit(
    day: Annotated[str, typer.Option("--date", help="The day to reconcile, YYYY-MM-DD (its marts built).")],
) -> None:
    """Reconcile a day from the Kafka offsets the sink committed to the marts (and BigQuery when it is on); print
    one table, and exit 1 naming the first link that does not reconcile."""
    from datetime import date

    from sluice.audit import AuditFailed, run
    from sluice.marts.project import load_project

    try:
        report = run(_settings(), load_project(), date.fromisoformat(day))
    except AuditFailed as failed:
        typer.echo(failed.report.table())
        typer.secho(f"error: {failed}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(report.table())


@app.command()
def topics() -> None:
    """Create the contract's topics and the dead-letter topic (partitions and retention from settings)."""
    from ingestion.contract import load_contract
    from sluice.topics import create_pipeline_topics

    settings = _settings()
    created = create_pipeline_topics(settings, load_contract().topics)
    typer.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@app.command()
def ingest(
    worker: Annotated[str, typer.Option(help="This process's id in the consumer group; stable across restarts.")] = "0",
    show_status: Annotated[bool, typer.Option("--status", help="Print counters and lag, then exit.")] = False,
) -> None:
    """Run the ingestion sink: Kafka topics to s3://<lake>/raw as Parquet, exactly once. Stops on SIGTERM."""
    import faulthandler
    import logging
    import signal
    import threading

    from ingestion.contract import load_contract
    from ingestion.sink import Sink

    settings, contract = _settings(), load_contract()
    if show_status:
        _print_ingest_status(settings, list(contract.topics))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack to the log
    stop = threading.Event()  # set before the sink connects, so an early SIGTERM is a clean stop too
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Sink(settings, contract, worker=worker, stop=stop).run()


def _print_ingest_status(settings: Settings, topics: list[str]) -> None:
    from ingestion.status import group_lag, topic_size, worker_counters

    for counters in worker_counters(settings):
        typer.echo(" ".join(f"{name}={value}" for name, value in counters.items()))
    for topic, lag in group_lag(settings, topics).items():
        typer.echo(f"lag {topic:<28} {lag:>10}")
    typer.echo(f"dead letters in {settings.deadletter_topic}: {topic_size(settings, settings.deadletter_topic)}")


@app.command()
def simulate(
    days: Annotated[float, typer.Option(help="Span of event time to backfill.")] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="First event time (ISO; UTC unless it has an offset); default 3 days ago.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same records.")] = 7,
    rate: Annotated[
        float | None, typer.Option(help="Live mode: records per second (default: as fast as possible).")
    ] = None,
    max_events: Annotated[int | None, typer.Option(help="Stop after this many records.")] = None,
    malformed_share: Annotated[float, typer.Option(help="Share of records that break the contract.")] = 0.005,
    duplicate_share: Annotated[float, typer.Option(help="Share of records re-sent as producer retries.")] = 0.01,
    late_share: Annotated[float, typer.Option(help="Share of events sent 1-6 hours late.")] = 0.02,
) -> None:
    """Send simulated marketplace events to Kafka (topics are created if missing)."""
    import dataclasses
    from datetime import UTC, datetime

    from ingestion.contract import load_contract
    from ingestion.simulator import SimulationConfig, produce
    from ingestion.simulator import simulate as records
    from sluice.topics import create_pipeline_topics

    settings = _settings()
    create_pipeline_topics(settings, load_contract().topics)
    config = SimulationConfig(
        seed=seed,
        days=days,
        max_events=max_events,
        malformed_share=malformed_share,
        duplicate_share=duplicate_share,
        late_share=late_share,
    )
    if start:
        first = datetime.fromisoformat(start)
        config = dataclasses.replace(config, start=first if first.tzinfo else first.replace(tzinfo=UTC))
    summary = produce(settings, records(config), rate=rate)
    typer.echo(
        f"sent {summary.sent} records in {summary.seconds:.1f}s: {summary.valid} valid, "
        f"{summary.duplicates} duplicates, {summary.malformed} malformed; by topic {summary.topics}"
    )


@app.command()
def demo(
    # Two days: the nightly model trains on the first and is judged on the second.
    days: Annotated[float, typer.Option(help="Days of marketplace activity to simulate.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    live_seconds: Annotated[float, typer.Option(help="How long today's events take to send to the speed track.")] = 120,
) -> None:
    """Start the stack if needed; simulate events, ingest them into the lake, read them back with Spark."""
    from sluice.demo import run_demo
    from sluice.stack import up as start_stack

    settings = _settings()
    try:
        _print_status(start_stack(settings))
        run_demo(settings, days, seed, live_seconds, echo=typer.echo)
    except StackError as error:
        raise _fail(error) from None
