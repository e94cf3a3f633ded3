"""Run every benchmark, print one table, write ``benchmarks/results.json`` and
``docs/BENCHMARKS.md``.

    python -m benchmarks                  # the full run
    python -m benchmarks --quick          # fewer repetitions: a run of about two minutes
    python -m benchmarks --only pages,app_start

Each figure is a ratio (or a time) taken side by side in one run, interleaving the
repetitions, so that it holds on a shared, noisy machine; the machine (cores, memory, CPU)
and its load average before and after each benchmark are reported beside the figures.
A benchmark that fails is reported as such; the others still run.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    HERE,
    ROOT,
    Figure,
    Shared,
    figure_rows,
    load_average,
    machine,
    markdown_table,
    text_table,
    timestamp,
    write_json,
)

RESULTS = HERE / "results.json"
REPORT = ROOT / "docs" / "BENCHMARKS.md"
HEADER = ("figure", "value", "goal", "verdict")


def _request_overhead(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import request_overhead

    return request_overhead.benchmark(quick, shared=shared, log=log)


def _compare_grid(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import compare_grid

    return compare_grid.benchmark(quick, log=log)


def _local_server(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import local_server

    # 5 repetitions of 4 x 128 tokens in the quick run: with llama.cpp on every core, a
    # repetition swings by a quarter when the shared machine is busy, and the median of 2
    # (their mean) has read 0.82 and 1.28 where 9 repetitions read 1.06.
    return local_server.benchmark(quick, reps=5 if quick else None, log=log)


def _batching(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import batching

    return batching.benchmark(quick, log=log)


def _engine_settings(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import local_server

    return local_server.engine_benchmark(quick, log=log)


def _pages(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import pages

    return pages.benchmark(quick, shared=shared, log=log)


def _usage_load(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import ledger

    # The ledger write's share of a local request: ~80 one-token requests in --quick, a few
    # seconds on the local server the other benchmarks share.
    return ledger.benchmark(quick, base_url=shared.local_url(), folder=shared.folder, log=log)


def _distribution_view(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import distribution_view

    return distribution_view.benchmark(quick, log=log)


def _app_start(quick: bool, shared: Shared, log) -> dict:
    from benchmarks import app_start

    return app_start.benchmark(quick, shared=shared, log=log)


# name -> (title, what it measures, run); run in this order
BENCHMARKS: dict[str, tuple[str, str, Callable[[bool, Shared, Callable], dict]]] = {
    "request_overhead": (
        "Request overhead and streaming",
        "A chat request through the playground's core (build, validate, send, record: "
        "`runner.build_request` + `Recorder.run`, as the pages call it) against the same "
        "request with the raw `openai` SDK on the same transport (`with_raw_response` + "
        "`json.loads`, which is how the core reads), and the first token of a stream the "
        "same way (the core reads the SDK's stream too), on `tests/fault_server.py` with no "
        "latency (the client side's share is then as large as it can be). The SDK's typed "
        "objects, which the core does without, are reported beside. Interleaved in a "
        "shuffled order, medians of the repetitions' ratios. `benchmarks/request_overhead.py`.",
        _request_overhead),
    "compare_grid": (
        "Compare grid",
        "A 12-cell chat grid through `compare.run_grid` against the fault server with 300 ms "
        "per request: wall time over the slowest cell of the same grid, and over the cells "
        "run one by one. `benchmarks/compare_grid.py`.",
        _compare_grid),
    "local_server": (
        "Local server",
        "`python -m playground.local` against `llama_cpp.Llama` in-process, same model "
        "(SmolLM2-135M), prompt and OpenAI-equivalent sampling, 128 tokens: tokens per "
        "second, first token of a stream, and a freshly spawned server's first answer. "
        "`benchmarks/local_server.py`.",
        _local_server),
    "batching": (
        "Batched decoding",
        "On the real local server (SmolLM2-135M): a 12-cell x 128-token chat grid through "
        "`compare.run_grid` at the page's default concurrency against the same cells one by "
        "one (seeded, so both sides generate the same texts); `n=4` in one request against "
        "four requests; one stream at temperature 1, top_p 0.9 against a bare "
        "`llama_decode` loop of the same model and context settings in the same run. "
        "`benchmarks/batching.py`.",
        _batching),
    "engine_settings": (
        "Engine settings",
        "Two `python -m playground.local` servers, one forced to the safe engine settings "
        "(`PLAYGROUND_SAFE_ENGINE=1`: no repacked CPU weight buffers) and one to the fast "
        "ones (`=0`), each model on both, interleaved: tokens per second generating 128 "
        "tokens, and reading a long prompt (one token generated). A ratio below 1 is what "
        "the safe settings cost on this CPU. On an AVX2 CPU without AMX llama.cpp repacks "
        "Gemma's Q4_K weights but none of SmolLM2's, so there SmolLM2's ratio, 1 in a quiet "
        "run, shows how noisy the run was. `benchmarks/local_server.py`.",
        _engine_settings),
    "pages": (
        "Pages",
        "`AppTest.from_file(\"app.py\")` with a session in use (1,000 earlier requests in "
        "the ledger, one completion run on the local model, every page visited): each page "
        "switched to and rerun, interleaved, no request sent. `benchmarks/pages.py`.",
        _pages),
    "ledger": (
        "Usage data",
        "`Ledger.overview` (every query the Usage page makes) on 100,000 against 1,000 "
        "synthetic requests, and the ledger write's share of the shortest local request "
        "(one token from SmolLM2), measured until the writer thread has committed the row. "
        "`benchmarks/ledger.py`.",
        _usage_load),
    "distribution_view": (
        "Distribution view",
        "What a slider move costs the distribution view on 100 alternatives, a new random "
        "setting of temperature, top_p, penalties and bias each time: the recompute "
        "(`distribution.reshape`), the bar chart built and serialised as `st.plotly_chart` "
        "sends it, and the same with 100 seeded samples and their histogram. Interleaved, "
        "medians. `benchmarks/distribution_view.py`.",
        _distribution_view),
    "app_start": (
        "App start",
        "`streamlit run app.py` (headless, free port) to a healthy `/_stcore/health`, and to "
        "the first page drawn in Chromium (Playwright, `/usr/bin/chromium`), with the local "
        "models already running and with the app starting them itself. "
        "`benchmarks/app_start.py`.",
        _app_start),
}


def run_all(names: list[str], quick: bool, log=print) -> dict:
    started = time.perf_counter()
    info = machine()
    info.pop("load_average_1m", None)
    info["load_average_before"] = load_average()
    runs: dict[str, dict] = {}
    with Shared() as shared:
        for name in names:
            title, _, run = BENCHMARKS[name]
            log(f"\n== {title} ({name}) ==")
            entry: dict = {"load_average_before": load_average(), "error": None}
            began = time.perf_counter()
            try:
                result = run(quick, shared, log)
                entry["figures"] = result.pop("figures")
                entry["result"] = result
            except Exception as exc:  # noqa: BLE001 - one failure must not hide the rest
                entry["error"] = f"{type(exc).__name__}: {exc}"
                entry["traceback"] = traceback.format_exc(limit=8)
                entry["figures"] = []
                log(f"  FAILED: {entry['error']}")
            entry["seconds"] = round(time.perf_counter() - began, 1)
            entry["load_average_after"] = load_average()
            runs[name] = entry
            log(f"  ({entry['seconds']:.0f} s)")
    info["load_average_after"] = load_average()
    figures = [figure for name in names for figure in runs[name]["figures"]]
    return {
        "command": "python -m benchmarks" + (" --quick" if quick else "")
                   + ("" if names == list(BENCHMARKS) else f" --only {','.join(names)}"),
        "date": timestamp(),
        "quick": quick,
        "only": None if names == list(BENCHMARKS) else names,
        "duration_seconds": round(time.perf_counter() - started, 1),
        "machine": info,
        "figures": figures,
        "benchmarks": runs,
    }


def summary_rows(results: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, entry in results["benchmarks"].items():
        if entry["error"]:
            rows.append((f"{BENCHMARKS[name][0]}: FAILED", "-", "-", entry["error"][:70]))
        rows += figure_rows([Figure.from_dict(f) for f in entry["figures"]])
    return rows


def missed(results: dict) -> list[dict]:
    return [f for f in results["figures"] if f["met"] is False]


def print_report(results: dict) -> None:
    m = results["machine"]
    print()
    print(f"{results['command']}: {results['date']}, {results['duration_seconds']:.0f} s")
    print(f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; load average "
          f"(1, 5, 15 min) {_load(m['load_average_before'])} before, "
          f"{_load(m['load_average_after'])} after")
    print()
    print(text_table(summary_rows(results), HEADER))
    failed = [name for name, entry in results["benchmarks"].items() if entry["error"]]
    print()
    print(f"{len(missed(results))} goal(s) missed; "
          f"{len(failed)} benchmark(s) failed{': ' + ', '.join(failed) if failed else ''}.")


def _load(values: list[float] | None) -> str:
    return "n/a" if values is None else " / ".join(f"{v:.2f}" for v in values)


def markdown(results: dict) -> str:
    m = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items() if version)
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results['command']}` on {results['date']} "
        f"({results['duration_seconds']:.0f} s); do not edit by hand, run it again. "
        "Every figure is taken side by side in one run, the repetitions of the things compared "
        "interleaved, and reported as a median, so that it holds on a shared machine; the "
        "load average shows how shared it was.",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores, {m['memory_gib']} GiB memory, {m['cpu']}",
        f"- {m['system']}, Python {m['python']}; {packages}",
        f"- load average (1, 5, 15 min): {_load(m['load_average_before'])} before the run, "
        f"{_load(m['load_average_after'])} after",
        f"- date: {results['date']}"
        + (" (a `--quick` run: fewer repetitions)" if results["quick"] else ""),
        "",
        "## Figures",
        "",
        markdown_table(summary_rows(results), HEADER),
        "",
    ]
    misses = missed(results)
    lines += ["## Goals missed", ""]
    if misses:
        for f in misses:
            lines.append(f"- **{f['name']}**: {f['shown']} against a goal of {f['goal']}, "
                         f"{f['verdict']}. {f['detail']}".rstrip())
    else:
        lines.append("None.")
    lines += ["", "## Each benchmark", ""]
    for name, entry in results["benchmarks"].items():
        title, what, _ = BENCHMARKS[name]
        lines += [f"### {title}", "", what, "",
                  f"`--only {name}`; {entry['seconds']:.0f} s; load average "
                  f"{_load(entry['load_average_before'])} before, "
                  f"{_load(entry['load_average_after'])} after.", ""]
        if entry["error"]:
            lines += [f"**Failed**: `{entry['error']}`", ""]
        rows = [(f["name"], f["shown"], f["goal"], f["verdict"], f["detail"] or "")
                for f in entry["figures"]]
        if rows:
            lines += [markdown_table(rows, (*HEADER, "detail")), ""]
    lines += ["## Running them", "",
              "```sh",
              "python -m benchmarks            # everything, full repetitions",
              "python -m benchmarks --quick    # about two minutes",
              "python -m benchmarks --only request_overhead,pages",
              "python -m benchmarks.NAME       # one benchmark with its own report and JSON",
              "```", "",
              "Names: " + ", ".join(f"`{name}`" for name in BENCHMARKS) + ". "
              "The figures and every median behind them are in `benchmarks/results.json`.", ""]
    return "\n".join(lines)


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(BENCHMARKS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; "
                         f"choose from {', '.join(BENCHMARKS)}")
    return [name for name in BENCHMARKS if name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions: the whole run in about two minutes")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--markdown", type=Path, default=REPORT, help="where to write the report")
    args = parser.parse_args(argv)
    names = parse_only(args.only)
    results = run_all(names, args.quick, log=lambda line: print(line, flush=True))
    print_report(results)
    write_json(args.json, results)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(results))
    print(f"Written: {_shown(args.json)}, {_shown(args.markdown)}")
    return 1 if any(entry["error"] for entry in results["benchmarks"].values()) else 0


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
