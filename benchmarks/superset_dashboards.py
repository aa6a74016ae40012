"""Superset's three dashboards in a real browser: the time until every chart drew its data, with a cold results
cache and with a warm one, side by side in one run.

    .venv/bin/python benchmarks/superset_dashboards.py        # after `make demo` (the stack up, Superset synced)
    .venv/bin/python benchmarks/superset_dashboards.py --rounds 5

Each round, for each dashboard: the results cache of every Sluice dataset is dropped through Superset's API (what the
refresh DAG does after a publish) and the dashboard is opened in a new browser context, signed in as the analyst
(cold: every chart's query runs on the SQL endpoint); then it is opened again in another new context (warm: the
results come from Superset's cache; the browser's own cache is empty both times). Reported: the median seconds per
dashboard and state, and warm/cold. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from sluice.serving.superset_sync import admin_client, find_database
from sluice.settings import REPO_ROOT, load_settings
from sluice.stack.superset import ANALYST_USER, password
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS, render_dashboard, superset_sign_in

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    settings = load_settings()
    admin = admin_client(settings)
    database = find_database(admin)
    datasets = admin.find("dataset", ["id", "database.id"])
    uids = [f"{d['id']}__table" for d in datasets if d["database"]["id"] == database]
    dashboards = [yaml.safe_load(p.read_text()) for p in sorted((REPO_ROOT / "superset" / "dashboards").glob("*.yml"))]
    timings: dict[str, dict[str, list[float]]] = {d["slug"]: {"cold": [], "warm": []} for d in dashboards}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.rounds):
            for spec in dashboards:
                url = f"{settings.superset_url}/superset/dashboard/{spec['slug']}/"
                charts = sum(len(row) for row in spec["rows"])
                admin.post("/api/v1/cachekey/invalidate", {"datasource_uids": uids})
                for state in ("cold", "warm"):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    superset_sign_in(page, settings.superset_url, ANALYST_USER, password(settings, ANALYST_USER))
                    timings[spec["slug"]][state].append(render_dashboard(page, url, charts))
                    context.close()
        browser.close()

    report: dict[str, Any] = {"time": datetime.now().isoformat(timespec="seconds"), "rounds": args.rounds}
    print(f"{'dashboard':<20} {'charts':>6} {'cold s':>8} {'warm s':>8} {'warm/cold':>10}")
    for spec in dashboards:
        cold = statistics.median(timings[spec["slug"]]["cold"])
        warm = statistics.median(timings[spec["slug"]]["warm"])
        charts = sum(len(row) for row in spec["rows"])
        report[spec["slug"]] = {"charts": charts, "cold_s": cold, "warm_s": warm, "all": timings[spec["slug"]]}
        print(f"{spec['slug']:<20} {charts:>6} {cold:>8.2f} {warm:>8.2f} {warm / cold:>10.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"superset-dashboards-{datetime.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
