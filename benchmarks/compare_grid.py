"""How long a Compare grid takes against a remote-like API, next to its slowest cell.

``python -m benchmarks.compare_grid [--quick]`` starts the test fault server (an
OpenAI-compatible loopback server) with a fixed latency of 300 ms per request, and runs a
12-cell chat grid (a temperature axis, one sample per cell) through ``compare.run_grid``:

(a) concurrently, a pool of 12 workers: the wall time of the whole grid;
(b) the same 12 cells one by one (a pool of one): each cell's own time, and their sum.

Reported per repetition, then as medians:

- wall (a) / the slowest cell of that same grid: the goal is at most 1.3,
  "twelve cells take about as long as the slowest one". The ratio to the slowest cell run
  alone in (b) and to the server's fixed latency are given too; the former can fall below
  1 on a noisy machine, since the slowest of twelve one-by-one cells catches the worst
  hiccup, so it is reported but not judged;
- wall (a) / sum of the cells' times (b): the share of the one-by-one time the grid takes
  (1/12, about 0.083, would be a perfect overlap).

Repetitions interleave (a) and (b) so a change in the machine's load hits both. The very
first grid of the process pays the SDK's one-time start-up (imports, client, model classes);
it is measured and reported on its own, not in the medians. Results are printed and written
to ``benchmarks/results-compare.json``.
"""

from __future__ import annotations

import os
import sys
import time

from benchmarks.common import HERE, Figure, Goal, machine, median, run_alone, table
from playground.compare import Axis, Grid, GridResult, run_grid
from playground.connection import Connection
from tests.fault_server import FaultServer

RESULTS = HERE / "results-compare.json"
LATENCY = 0.3
CELLS = 12
WORKERS = 12
RATIO_GOAL = 1.3
MODEL = "fault-model"
MESSAGES = [{"role": "user", "content": "Describe the sea in one sentence."}]


def make_grid() -> Grid:
    temperatures = Axis.from_range("temperature", 0.0, 1.1, 0.1)
    assert len(temperatures) == CELLS
    return Grid("chat", {"max_tokens": 16}, [temperatures], model=MODEL,
                connection="fault server", messages=MESSAGES, max_cells=CELLS)


def run_once(grid: Grid, conn: Connection, workers: int) -> GridResult:
    result = run_grid(grid, lambda name: conn, max_workers=workers)
    failed = [f"{r.cell.id}: {r.error}" for r in result.cells if r.status != "ok"]
    if failed:
        raise SystemExit(f"cells failed, the measure would be meaningless: {failed}")
    return result


def repetition(grid: Grid, conn: Connection) -> dict:
    concurrent = run_once(grid, conn, WORKERS)
    sequential = run_once(grid, conn, 1)
    cell_times = [r.latency for r in sequential.cells]
    slowest_alone = max(cell_times)
    slowest_in_run = max(r.latency for r in concurrent.cells)
    return {
        "wall_seconds": concurrent.wall_time,
        "slowest_cell_alone_seconds": slowest_alone,
        "slowest_cell_in_run_seconds": slowest_in_run,
        "sequential_sum_seconds": sum(cell_times),
        "sequential_wall_seconds": sequential.wall_time,
        "wall_over_slowest_in_run": concurrent.wall_time / slowest_in_run,
        "wall_over_slowest_alone": concurrent.wall_time / slowest_alone,
        "wall_over_latency": concurrent.wall_time / LATENCY,
        "wall_over_sequential_sum": concurrent.wall_time / sum(cell_times),
    }


def benchmark(quick: bool = False, log=print) -> dict:
    """The whole measure; returns its results, ``figures`` included (``main`` writes them)."""
    repetitions = 2 if quick else 5
    info = machine()
    grid = make_grid()
    server = FaultServer(latency=LATENCY)
    with server as base_url:
        conn = Connection("fault server", base_url=base_url, max_retries=0, timeout=30)
        started = time.perf_counter()
        cold = run_once(grid, conn, WORKERS)
        cold_wall = time.perf_counter() - started
        runs = []
        for index in range(repetitions):
            runs.append(repetition(grid, conn))
            log(f"repetition {index + 1}/{repetitions}: wall {runs[-1]['wall_seconds']:.3f} s, "
                f"wall/slowest {runs[-1]['wall_over_slowest_in_run']:.3f}")
        requests = server.request_count
    if hasattr(os, "getloadavg"):
        info["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)

    medians = {key: median([run[key] for run in runs]) for key in runs[0]}
    goal = Goal("wall / slowest cell of the grid", medians["wall_over_slowest_in_run"],
                RATIO_GOAL, "at_most")
    ideal_share = 1 / CELLS
    figures = [
        Figure(f"Compare grid: wall / slowest cell ({CELLS} cells, {LATENCY * 1000:.0f} ms each)",
               medians["wall_over_slowest_in_run"], "x", RATIO_GOAL, "at_most",
               f"wall {medians['wall_seconds']:.3f} s, slowest cell "
               f"{medians['slowest_cell_in_run_seconds']:.3f} s; {repetitions} repetitions",
               "compare_grid"),
        Figure("Compare grid: wall / one-by-one sum", medians["wall_over_sequential_sum"], "x",
               detail=f"sum {medians['sequential_sum_seconds']:.2f} s; perfect overlap "
                      f"{ideal_share:.3f}", benchmark="compare_grid"),
    ]
    return {
        "benchmark": "compare_grid",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "config": {"latency_seconds": LATENCY, "cells": CELLS, "workers": WORKERS,
                   "samples_per_cell": grid.samples_per_cell, "endpoint": grid.endpoint,
                   "max_tokens": grid.base_values["max_tokens"], "repetitions": repetitions,
                   "quick": quick, "requests_sent": requests},
        "cold_first_grid": {"wall_seconds": cold.wall_time, "measured_outside_seconds": cold_wall,
                            "slowest_cell_seconds": max(r.latency for r in cold.cells),
                            "wall_over_latency": cold.wall_time / LATENCY},
        "medians": medians,
        "runs": runs,
        "goals": [goal.as_dict()],
        "ideal_wall_over_sequential_sum": ideal_share,
        "figures": [figure.as_dict() for figure in figures],
    }


def report(results: dict) -> str:
    info, medians, cold = results["machine"], results["medians"], results["cold_first_grid"]
    repetitions = results["config"]["repetitions"]
    ideal_share = results["ideal_wall_over_sequential_sum"]
    goal = Goal(**{k: results["goals"][0][k]
                   for k in ("name", "value", "bound", "direction", "unit")})
    return "\n".join([
        f"Compare grid: {CELLS} cells, {LATENCY * 1000:.0f} ms per request, pool of {WORKERS}, "
        f"{repetitions} repetitions (medians)",
        table([
            ("machine", f"{info['cores']} cores, {info['memory_gib']} GiB, {info['cpu']}"),
            ("grid wall time", f"{medians['wall_seconds']:.3f} s"),
            ("slowest cell, run alone", f"{medians['slowest_cell_alone_seconds']:.3f} s"),
            ("slowest cell, in the grid", f"{medians['slowest_cell_in_run_seconds']:.3f} s"),
            ("cells one by one, sum", f"{medians['sequential_sum_seconds']:.3f} s"),
            ("wall / slowest (in grid)", f"{medians['wall_over_slowest_in_run']:.3f}"),
            ("wall / slowest (alone)", f"{medians['wall_over_slowest_alone']:.3f}"),
            ("wall / latency", f"{medians['wall_over_latency']:.3f}"),
            ("wall / sequential sum", f"{medians['wall_over_sequential_sum']:.3f} "
                                      f"(perfect overlap: {ideal_share:.3f})"),
            ("first grid of the process", f"{cold['wall_seconds']:.3f} s "
                                          f"({cold['wall_over_latency']:.2f} x the latency; "
                                          f"SDK start-up, not in the medians)"),
        ]),
        goal.describe(),
    ])


def main(argv: list[str] | None = None) -> int:
    return run_alone("compare_grid", __doc__, RESULTS,
                     lambda args: benchmark(args.quick, log=lambda line: print(line, flush=True)),
                     report, argv, quick_help="two repetitions instead of five")


if __name__ == "__main__":
    sys.exit(main())
