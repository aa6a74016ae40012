"""A real browser for UI tests and benchmarks: the system Chromium, headless, and Superset's dashboards in it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # headless on a machine without a network: no background calls home, no sandbox as root
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# For each chart on the page: "data" once it drew data (an ECharts canvas, a table, a big number), "error" for an
# error or an empty result, "loading" until then.
_CHART_STATES = """() => [...document.querySelectorAll('[data-test-chart-id]')].map(chart => {
    const text = chart.innerText || "";
    if (chart.querySelector('[role="alert"], .ant-alert-error') || /No results|Unexpected error/.test(text))
        return "error: " + text.slice(0, 300);
    if (chart.querySelector('canvas, table, .superset-legacy-chart-big-number')) return "data";
    return "loading";
})"""


class DashboardNotRendered(AssertionError):
    """A dashboard's charts did not all draw data; the message names each chart's state."""


def superset_sign_in(page: Page, base_url: str, user: str, password: str) -> None:
    page.goto(f"{base_url}/login/", wait_until="networkidle")
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)


def render_dashboard(page: Page, url: str, charts: int, timeout: float = 240) -> float:
    """Open a dashboard and wait until all `charts` of its charts drew data; returns the seconds that took."""
    started = time.monotonic()
    page.goto(url, wait_until="domcontentloaded")
    states: list[str] = []
    while time.monotonic() - started < timeout:
        states = page.evaluate(_CHART_STATES)
        if any(state.startswith("error") for state in states):
            raise DashboardNotRendered(f"{url}: a chart failed: {states}")
        if len(states) == charts and all(state == "data" for state in states):
            return time.monotonic() - started
        time.sleep(0.1)
    raise DashboardNotRendered(f"{url}: after {timeout:.0f}s, {charts} charts expected, states {states}")
