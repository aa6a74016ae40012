"""What a marts task pays before its Spark job does any work: a new Python per job against the stack's warm job runner.

    .venv/bin/python benchmarks/job_start.py              # needs the local stack (`sluice up`); under a minute
    .venv/bin/python benchmarks/job_start.py --rounds 20

Each round starts `python -m spark_jobs.build_model <model> --help` both ways, one after the other: as a new process
(Sluice's local mode before the runner) and through the runner (`sluice.stack.job_runner`), from a client in this
process. `--help` imports everything a build imports, then exits before Spark: the difference is the start-up a
task no longer pays. Reports each way's median and p90 wall time and their ratio; results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sluice.settings import REPO_ROOT, load_settings
from sluice.stack import job_runner

MODULE, ARGUMENTS = "spark_jobs.build_model", ["mart_gmv_daily", "--help"]


def cold() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", MODULE, *ARGUMENTS], cwd=REPO_ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def warm(socket: Path) -> float:
    started = time.perf_counter()
    code = job_runner.run(socket, MODULE, ARGUMENTS, dict(os.environ), lambda _: None)
    assert code == 0, code
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    socket = job_runner.socket_path(load_settings())
    timings: dict[str, list[float]] = {"new python": [], "job runner": []}
    for _ in range(rounds):
        timings["new python"].append(cold())
        timings["job runner"].append(warm(socket))
    summary = {
        way: {"median_s": statistics.median(seconds), "p90_s": sorted(seconds)[int(0.9 * (len(seconds) - 1))]}
        for way, seconds in timings.items()
    }
    ratio = summary["new python"]["median_s"] / summary["job runner"]["median_s"]
    for way, figures in summary.items():
        print(f"{way:<12} median {figures['median_s']:.2f} s  p90 {figures['p90_s']:.2f} s  ({rounds} job starts)")
    print(f"start-up: the runner is {ratio:.1f}x faster per job")
    results = Path(__file__).parent / "results" / f"job-start-{datetime.now():%Y%m%dT%H%M%S}.json"
    results.write_text(json.dumps({"rounds": rounds, "summary": summary, "ratio": ratio, "timings": timings}, indent=1))
    print(f"results: {results}")


if __name__ == "__main__":
    main()
