"""The benchmark runner: figures and verdicts, the report's structure, one tiny real run.

Only the request overhead benchmark really runs here, with a handful of repetitions
against the in-process fault server (about a second); the others need the local model,
a browser or 100,000 rows, and run with ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks.__main__ as runner
from benchmarks import request_overhead
from benchmarks.common import Figure, Shared, format_value, interleave, write_json

ROOT = Path(__file__).resolve().parents[2]


# -- figures ---------------------------------------------------------------------------------

def test_a_ratio_under_its_bound_is_met():
    figure = Figure("ratio", 1.04, "x", 1.05, "at_most")
    assert figure.met is True
    assert figure.verdict == "met"
    assert figure.goal_text == "<= 1.050"


def test_a_missed_goal_says_by_how_much_in_its_unit_and_in_percent():
    assert Figure("ratio", 1.14, "x", 1.05, "at_most").verdict == "missed by 0.090 (8.6%)"
    assert Figure("rerun", 0.1657, "s", 0.1, "at_most").verdict == "missed by 65.7 ms (65.7%)"
    assert Figure("tokens/s", 0.90, "x", 0.95, "at_least").verdict == "missed by 0.050 (5.3%)"


def test_a_figure_without_goal_or_value_is_not_judged():
    assert Figure("added", 254.0, "us").verdict == "-"
    assert Figure("added", 254.0, "us").met is None
    unmeasured = Figure("ratio", float("nan"), "x", 1.05)
    assert unmeasured.verdict == "not measured" and unmeasured.met is None


def test_values_are_shown_in_readable_units():
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(3.9, "s") == "3.90 s"
    assert format_value(253.6, "us") == "254 µs"
    assert format_value(None, "x") == "n/a"


def test_a_figure_survives_the_round_trip_through_json(tmp_path):
    figure = Figure("ratio", float("nan"), "x", 1.05, detail="d", benchmark="b")
    write_json(tmp_path / "f.json", {"f": figure.as_dict()})
    data = json.loads((tmp_path / "f.json").read_text())["f"]
    assert data["value"] is None and data["verdict"] == "not measured"
    assert Figure.from_dict(data).name == "ratio"


def test_interleave_varies_the_order_and_the_neighbours_and_keeps_every_sample():
    calls = []
    runs = {name: (lambda name=name: calls.append(name) or name) for name in "abcd"}
    samples = interleave(runs, 40, warmup=1)
    assert samples == {name: [name] * 40 for name in "abcd"}
    assert calls[:4] == list("abcd")  # the warm-up round
    orders = ["".join(calls[i:i + 4]) for i in range(4, len(calls), 4)]
    assert all(sorted(order) == list("abcd") for order in orders)
    assert {order[0] for order in orders} == set("abcd")
    assert {calls[i - 1] for i in range(5, len(calls)) if calls[i] == "a"} >= set("bcd")
    again = []
    interleave({name: (lambda name=name: again.append(name)) for name in "abcd"}, 40, warmup=1)
    assert again == calls  # seeded: the same orders every run


# -- the runner --------------------------------------------------------------------------------

def test_only_accepts_known_names_and_keeps_the_run_order():
    assert runner.parse_only(None) == list(runner.BENCHMARKS)
    assert runner.parse_only("app_start, pages") == ["pages", "app_start"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        runner.parse_only("pages,nope")


def _tiny_request_overhead(quick, shared, log):
    return request_overhead.benchmark(quick, shared=shared, log=log, reps=6, stream_reps=4,
                                      warmup=1)


def _broken(quick, shared, log):
    raise RuntimeError("no browser here")


@pytest.fixture
def tiny(monkeypatch):
    """The registry with a tiny request overhead run and a benchmark that fails."""
    registry = dict(runner.BENCHMARKS)
    title, what, _ = registry["request_overhead"]
    registry["request_overhead"] = (title, what, _tiny_request_overhead)
    title, what, _ = registry["app_start"]
    registry["app_start"] = (title, what, _broken)
    monkeypatch.setattr(runner, "BENCHMARKS", registry)
    return registry


def test_one_command_writes_the_json_and_the_markdown_report(tiny, tmp_path, capsys):
    out, report = tmp_path / "results.json", tmp_path / "docs" / "BENCHMARKS.md"
    code = runner.main(["--quick", "--only", "request_overhead", "--json", str(out),
                        "--markdown", str(report)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["only"] == ["request_overhead"]
    assert results["command"] == "python -m benchmarks --quick --only request_overhead"
    machine = results["machine"]
    for key in ("cores", "memory_gib", "cpu", "load_average_before", "load_average_after"):
        assert key in machine
    assert list(results["benchmarks"]) == ["request_overhead"]
    names = [figure["name"] for figure in results["figures"]]
    assert "Request through the core / raw SDK" in names
    assert "Stream: first token, core / raw SDK" in names
    for figure in results["figures"]:
        assert {"value", "unit", "goal", "verdict", "met", "detail"} <= set(figure)
        assert figure["benchmark"] == "request_overhead"
    overhead = results["benchmarks"]["request_overhead"]["result"]
    assert overhead["checks"]["recorded"] == overhead["checks"]["core_requests"]
    assert math.isfinite(overhead["medians"]["added_us_difference_of_medians"])

    text = report.read_text()
    assert text.startswith("# Benchmarks")
    assert "| figure | value | goal | verdict |" in text
    assert "2 cores" in text or f"{machine['cores']} cores" in text
    assert "load average" in text and results["date"] in text
    printed = capsys.readouterr().out
    assert "Request through the core / raw SDK" in printed and "goal(s) missed" in printed


def test_a_failing_benchmark_is_reported_and_the_others_still_run(tiny, tmp_path):
    out, report = tmp_path / "r.json", tmp_path / "B.md"
    code = runner.main(["--quick", "--only", "app_start,request_overhead", "--json", str(out),
                        "--markdown", str(report)])
    assert code == 1
    results = json.loads(out.read_text())
    assert list(results["benchmarks"]) == ["request_overhead", "app_start"]
    assert results["benchmarks"]["app_start"]["error"] == "RuntimeError: no browser here"
    assert results["benchmarks"]["request_overhead"]["figures"]
    assert "**Failed**: `RuntimeError: no browser here`" in report.read_text()


def test_a_missed_goal_is_listed_with_its_margin():
    figure = Figure("Page rerun: Usage", 0.1657, "s", 0.1, "at_most", "quartiles ...", "pages")
    results = {"command": "python -m benchmarks", "date": "2026-01-01T00:00:00+0000",
               "quick": False, "duration_seconds": 1.0,
               "machine": {"cores": 2, "memory_gib": 4.0, "cpu": "cpu", "system": "Linux",
                           "python": "3.11", "packages": {"openai": "3"},
                           "load_average_before": [1.0, 1.0, 1.0],
                           "load_average_after": [2.0, 1.0, 1.0]},
               "figures": [figure.as_dict()],
               "benchmarks": {"pages": {"error": None, "figures": [figure.as_dict()],
                                        "seconds": 1.0, "load_average_before": None,
                                        "load_average_after": None}}}
    text = runner.markdown(results)
    assert ("- **Page rerun: Usage**: 165.7 ms against a goal of <= 100.0 ms, missed by "
            "65.7 ms (65.7%).") in text


def test_shared_keeps_the_data_folder_private_and_removes_it(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", "/somewhere/else")
    with Shared() as shared:
        import os

        assert os.environ["PLAYGROUND_DATA_DIR"] == str(shared.folder)
        assert shared.folder.is_dir()
    assert os.environ["PLAYGROUND_DATA_DIR"] == "/somewhere/else"
    assert not shared.folder.exists()


def test_the_command_line_lists_every_benchmark():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in runner.BENCHMARKS:
        assert name in done.stdout
