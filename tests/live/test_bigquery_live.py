"""Against real BigQuery, on request only (tests/live is not in pytest's testpaths): a partition is loaded into a
temporary dataset, read back, replaced by a smaller load, and the dataset is deleted again.

Run it with a project you may create datasets and run load jobs in, and Application Default Credentials:

    gcloud auth application-default login        # or GOOGLE_APPLICATION_CREDENTIALS=/path/to/key.json
    SLUICE_BIGQUERY_PROJECT=my-project .venv/bin/pytest -q tests/live/test_bigquery_live.py -p no:cacheprovider

SLUICE_BIGQUERY_LOCATION (default EU) picks the temporary dataset's location.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyarrow import fs

from sluice.settings import Settings, load_settings
from tests.unit.test_bigquery import MART, ROWS, write_partition


def _credentials_found() -> bool:
    if not os.environ.get("SLUICE_BIGQUERY_PROJECT"):
        return False
    try:
        import google.auth

        google.auth.default()
    except Exception:  # noqa: BLE001 - any failure means: no usable credentials here
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _credentials_found(),
    reason="needs SLUICE_BIGQUERY_PROJECT and Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or "
    "`gcloud auth application-default login`)",
)
DAY = date(2026, 11, 19)


@pytest.fixture
def settings() -> Iterator[Settings]:
    from sluice.serving import bigquery as bq

    dataset = f"sluice_live_test_{uuid.uuid4().hex[:8]}"
    settings = load_settings(bigquery_dataset=dataset, lake_bucket="lake")
    client = bq.client(settings)
    client.create_dataset(f"{settings.bigquery_project}.{dataset}")
    yield settings
    client.delete_dataset(f"{settings.bigquery_project}.{dataset}", delete_contents=True, not_found_ok=True)


def test_a_publish_replaces_exactly_the_day_s_partition(settings: Settings, tmp_path: Path) -> None:
    from sluice.serving import bigquery as bq

    write_partition(tmp_path / "first", MART, DAY, ROWS)
    write_partition(tmp_path / "first", MART, date(2026, 11, 20), ROWS)
    write_partition(tmp_path / "second", MART, DAY, ROWS[:1], files=1)
    first = fs.SubTreeFileSystem(str(tmp_path / "first"), fs.LocalFileSystem())
    second = fs.SubTreeFileSystem(str(tmp_path / "second"), fs.LocalFileSystem())
    client = bq.client(settings)

    assert [x.rows for x in bq.publish(settings, [MART], DAY, "live-1", filesystem=first)] == [2]
    bq.publish(settings, [MART], date(2026, 11, 20), "live-1", filesystem=first)
    assert bq.partition_rows(client, settings, MART, DAY) == 2

    assert [x.rows for x in bq.publish(settings, [MART], DAY, "live-2", filesystem=second)] == [1]
    assert bq.partition_rows(client, settings, MART, DAY) == 1
    assert bq.partition_rows(client, settings, MART, date(2026, 11, 20)) == 2  # the other day is untouched
    table = f"{settings.bigquery_dataset}.{MART}"
    rows = bq.guarded_query(client, settings, f"select region_id from {table} where dt = '{DAY}'")
    assert [row["region_id"] for row in rows] == [ROWS[0]["region_id"]]
