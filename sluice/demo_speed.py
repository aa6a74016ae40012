"""The demo's speed track: today's hours so far sent live to Kafka, and read back from the serving views seconds later.

The simulator replays today's events (UTC midnight until now) at a pace that takes `seconds`; the speed track,
started on the demo's lake, counts them; the demo prints the serving view's numbers for each of today's hours next
to what it sent. Duplicates and malformed records are sent too, and not counted. Late events are not sent: the
simulator's are hours late, beyond the watermark, and left to the batch track (tests/integration/test_speed_track.py
shows both sides of the watermark).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta

from ingestion.simulator import Record, SimulationConfig, produce, simulate
from sluice.settings import Settings
from sluice.speed import family
from sluice.stack.process import StackError, wait_until

SHOWN = ("new_listings", "listing_views", "chats_started", "transactions", "gmv")
_KINDS = {
    "listing_created": "new_listings",
    "listing_viewed": "listing_views",
    "chat_started": "chats_started",
    "transaction_completed": "transactions",
}
_SETTLE_S = 90  # how long the view may take to show the last records sent


def run_live_today(settings: Settings, seed: int, seconds: float, echo: Callable[[str], None]) -> None:
    from sluice.stack.speed import SpeedTrack
    from sluice.stack.stack import start_speed_track

    # Importing the DAG factories (Airflow's SDK) set the root logger to INFO: keep the stack's health probes and the
    # SQL client's statements out of the demo's output.
    for library in ("kafka", "pyhive"):
        logging.getLogger(library).setLevel(logging.WARNING)
    track = settings.model_copy(update={"speed_lookback_hours": 0})  # only what the demo sends from now on
    SpeedTrack(track).process.stop()  # one speed track at a time, and this one on the demo's lake
    start_speed_track(track)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    span = max((now - midnight) / timedelta(days=1), 1 / 24)
    records = list(simulate(SimulationConfig(seed=seed + 1, start=midnight, days=span, late_share=0.0)))
    rate = max(len(records) / seconds, 1.0)
    view = f"{settings.marts_schema}.{family('activity_hourly').view}"
    echo(f"\nSpeed track (sluice speed): sending today's {len(records)} records since {midnight:%H:%M} UTC live at "
         f"{rate:.0f}/s; the serving view {view} counts them as they arrive")  # fmt: skip
    summary = produce(settings, records, rate=rate)
    echo(f"  sent {summary.sent} records in {summary.seconds:.0f}s ({summary.duplicates} producer retries, "
         f"{summary.malformed} malformed)")  # fmt: skip
    sent = tally(records)
    started = time.monotonic()
    if not wait_until(lambda: served(settings, view) == sent, timeout=_SETTLE_S, interval=2):
        echo(f"  the view does not match what was sent after {_SETTLE_S}s; see {SpeedTrack(track).process.log_file}")
    else:
        echo(f"  the view showed everything sent {time.monotonic() - started:.0f}s after the last record was sent "
             "(benchmarks/speed_freshness.py measures the latency at a steady rate)")  # fmt: skip
    shown = served(settings, view)
    echo(f"  {'hour (UTC)':<17}" + "".join(f"{name:>24}" for name in SHOWN))
    echo(f"  {'':<17}" + "".join(f"{'sent':>12}{'served':>12}" for _ in SHOWN))
    for hour in sorted(sent.keys() | shown.keys()):
        mine, theirs = sent.get(hour, Counter()), shown.get(hour, Counter())
        echo(f"  {hour:<17}" + "".join(f"{mine[name]:>12}{theirs[name]:>12}" for name in SHOWN))
    if shown != sent:
        raise StackError(f"the serving view {view} does not show what the demo sent (see the table above)")


def tally(records: Iterable[Record]) -> dict[str, Counter[str]]:
    """What the demo sent, per event hour: each valid event once (retries re-send a valid event's bytes)."""
    hours: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.kind != "valid":
            continue
        event = json.loads(record.value)
        counted = hours[f"{datetime.fromisoformat(event['event_time']).astimezone(UTC):%Y-%m-%d %H}:00"]
        if (name := _KINDS.get(event["event_type"])) is not None:
            counted[name] += 1
        if event["event_type"] == "transaction_completed":
            counted["gmv"] += event["price"]
    return {hour: +counts for hour, counts in hours.items() if +counts}  # `+` drops zero counts


def served(settings: Settings, view: str) -> dict[str, Counter[str]]:
    """Today's rows of the serving view, read through the SQL endpoint as an analyst would."""
    from sluice.stack.spark import connect

    columns = ", ".join(SHOWN)
    with closing(connect(settings)) as connection:
        cursor = connection.cursor()
        cursor.execute(f"select dt, hr, {columns} from {view} where source = 'speed'")
        rows = cursor.fetchall()
    hours = {f"{dt} {hr:02d}:00": +Counter(dict(zip(SHOWN, values, strict=True))) for dt, hr, *values in rows}
    return {hour: counts for hour, counts in hours.items() if counts}
