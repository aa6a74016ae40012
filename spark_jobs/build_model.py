"""Build one model for one date: `python -m spark_jobs.build_model MODEL --date YYYY-MM-DD`.

The unit of work Airflow schedules: in the k8s profile the same module is the SparkApplication's main file.
Exit codes: 0 published, 1 the quality gate failed or the raw hours are incomplete (nothing published), 2 bad
arguments or a broken model project, 3 the Spark Connect server does not answer (retry once it is back).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from sluice.marts.build import Builder, GateFailed, IncompleteInput
from sluice.marts.project import Project, ProjectError, load_project
from sluice.settings import Settings, load_settings
from sluice.spark import SparkUnavailable, require_server, spark_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="partition date (UTC)")
    parser.add_argument("--allow-incomplete", action="store_true", help="build before every raw hour is marked")
    args = parser.parse_args(argv)
    try:
        project = load_project()
        project.model(args.model)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = load_settings()
    try:
        return build(settings, project, args.model, args.date, require_complete=not args.allow_incomplete)
    except SparkUnavailable as error:  # the warm server is down: a retry once it is back can succeed
        print(f"error: {error}", file=sys.stderr)
        return 3


def build(settings: Settings, project: Project, model: str, ds: date, *, require_complete: bool) -> int:
    spark = spark_session(settings, f"sluice-{model}")
    try:
        built = Builder(spark, settings, project).build(model, ds, require_complete=require_complete)
    except (GateFailed, IncompleteInput) as error:
        spark.stop()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception:
        if settings.spark_remote:
            require_server(settings.spark_remote)  # a server lost mid-build is named as such, not as a gRPC error
        raise
    spark.stop()  # a Connect session is closed on the server; a classic one ends its JVM
    print(f"{built.model} dt={built.ds}: {built.rows} rows published, {built.checks} checks passed, {built.report_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
