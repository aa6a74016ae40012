"""The serving views: one per speed family, batch rows where a day is published and speed rows where it is not.

A view reads its mart's published partitions and the newest speed snapshot, and keeps speed rows only for days the
mart has no partition for. Publishing a day is therefore all it takes to switch the view over: no job to run, and
no hour counted twice at the boundary. The speed side is read by path (not as a catalog table) so that every query
lists the speed zone afresh; a table's file listing is cached by the SQL endpoint and would go stale within seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice import lake
from sluice.marts.build import comment_text
from sluice.marts.project import Project
from sluice.settings import Settings
from sluice.speed import FAMILIES, VERSION, Family

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The column a serving view adds to its mart's: which track a row comes from.
SOURCE_COLUMN = "source"
SOURCE_DESCRIPTION = "batch: the published mart; speed: the speed track (day not published yet)"


def view_sql(settings: Settings, project: Project, fam: Family) -> str:
    spec = project.model(fam.mart).spec
    columns = ["dt", *(c.name for c in spec.columns if c.name != "dt")]
    described = {c.name: c.description for c in spec.columns}
    header = ",\n    ".join(f"`{name}` comment '{comment_text(described[name])}'" for name in columns)
    header += f",\n    `{SOURCE_COLUMN}` comment '{comment_text(SOURCE_DESCRIPTION)}'"
    selected = ", ".join(f"x.`{name}`" for name in columns)
    schema, mart = settings.marts_schema, f"{settings.marts_schema}.{fam.mart}"
    speed = f"{settings.lake_uri}/{lake.speed_prefix(fam.name)}"
    comment = comment_text(
        f"{spec.description} Rows for days the batch track has published come from {fam.mart}; rows for later "
        "hours come from the speed track, seconds after their events, and are replaced when their day is published."
    )
    return f"""create or replace view {schema}.{fam.view} (
    {header}
)
comment '{comment}'
as
with speed as (
    select s.*, max(s.{VERSION}) over () as newest
    from parquet.`{speed}` as s
)
select {selected}, 'batch' as {SOURCE_COLUMN}
from {mart} as x
union all
select {selected}, 'speed' as {SOURCE_COLUMN}
from speed as x
where x.{VERSION} = x.newest
    and x.dt not in (select distinct b.dt from {mart} as b)"""


def register_views(spark: SparkSession, settings: Settings, project: Project) -> list[str]:
    """Create or replace every family's serving view (its mart's table and a speed snapshot must exist)."""
    for fam in FAMILIES:
        spark.sql(view_sql(settings, project, fam))
    return [f"{settings.marts_schema}.{fam.view}" for fam in FAMILIES]
