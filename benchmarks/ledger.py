"""How the usage ledger scales, and what recording a request costs the request.

``python -m benchmarks.ledger [--quick]`` measures two things:

(a) The Usage page's data load with nothing cached: what ``ui.usage.data.snapshot`` reads
    (the newest row's id, the filter choices, the first and last request's time), then
    ``Ledger.overview`` (totals, tokens and cost over time, by model, page and connection,
    latency percentiles per model, the first page of the request table and its count):
    every query the page makes, on a temporary file filled with 1,000 and then 100,000
    synthetic requests spread over 90 days, with no filter and with a typical one (last 7
    days, two models). Both files are filled first, then their loads interleaved, so the
    ratio 100k/1k, how the load scales with the ledger's size (100 would be linear), is
    taken side by side. The page caches its figures on the newest row's id, so a rerun
    with no new request reads only that id: timed too. CSV export of all rows is timed
    once, for scale.
(b) The ledger write's share of a request's time: a chat request through the ``openai``
    SDK (``playground.runner.run``) to the real local server (``python -m playground.local``
    on a free port, model ``smollm2-135m-instruct``, ``max_tokens`` 1, the shortest request
    the server can answer, so the share is the largest it can be), with and without the
    write after it, interleaved, medians. The write is measured to the commit: the record
    handed to ``Ledger.record`` as ``Recorder.run`` hands it, then ``Ledger.flush`` waits
    until the writer thread has made the row and its transaction has committed (WAL,
    ``synchronous=NORMAL``: the row outlives the app crashing; the WAL reaches the disk at
    its checkpoints). The share is the median of that time over the median request with
    it; the time until the record is queued (all the page waits for) and the difference
    of the two requests' medians (within the noise) are printed too.

Goals, fixed before measuring: the page's data load at 100,000 rows within 1 s (the limit
for keeping the user's flow of thought, Nielsen's "Response times: the three important
limits"), and the write, to its commit, at most 1% of the shortest request's time.

Figures are printed with the machine (cores, memory) and written to
``benchmarks/results-ledger.json``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import HERE, ROOT, median, run_alone, stop_process
from benchmarks.common import machine as common_machine

RESULTS = HERE / "results-ledger.json"
MODEL = "smollm2-135m-instruct"
SIZES = (1_000, 100_000)
LOAD_GOAL = 1.0  # seconds, at 100,000 rows
SHARE_GOAL = 0.01

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "gpt-3.5-turbo-instruct",
          "smollm2-135m-instruct", "gemma-3-270m", "llama3.2:3b", "qwen2.5-7b")
PAGES = ("Chat", "Chat", "Chat", "Completions", "Completions", "Compare", "Compare", "Models")
CONNECTIONS = ("Local models", "OpenAI", "Ollama", "vLLM")
END = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=90)


def machine() -> dict:
    return {**common_machine(), "sqlite": sqlite3.sqlite_version}


# --- (a) the page's data load -----------------------------------------------------------

def synthetic(count: int, seed: int = 7):
    """Requests as the app records them, with bodies of a few hundred bytes, oldest first
    (a ledger grows in time order, so its row ids follow time as they do here)."""
    from playground.catalog import SEED_PRICES, estimate_cost
    from playground.ledger.records import UsageRecord

    rng = random.Random(seed)
    moments = sorted(rng.random() for _ in range(count))
    for moment in moments:
        model = rng.choice(MODELS)
        page = rng.choice(PAGES)
        endpoint = "completions" if page == "Completions" else "chat"
        roll = rng.random()
        status = "error" if roll < 0.04 else "incomplete" if roll < 0.07 else "ok"
        stream = rng.random() < 0.5
        prompt = int(rng.lognormvariate(4.5, 1.0))
        completion = 0 if status == "error" else int(rng.lognormvariate(4.0, 1.0))
        latency = rng.lognormvariate(0.0, 0.8) if status != "error" else rng.uniform(0.01, 2)
        params = {"temperature": round(rng.uniform(0, 2), 2),
                  "max_tokens": rng.choice([16, 64, 256])}
        if stream:
            params["stream"] = True
        text = "word " * rng.randint(10, 60)
        request = {"model": model, **params,
                   **({"prompt": text} if endpoint == "completions"
                      else {"messages": [{"role": "user", "content": text}]})}
        yield UsageRecord(
            page=page, connection=rng.choice(CONNECTIONS), endpoint=endpoint, model=model,
            status=status, params=params, prompt_tokens=prompt, completion_tokens=completion,
            tokens_estimated=rng.random() < 0.05, latency=latency,
            time_to_first_token=(latency * rng.uniform(0.05, 0.5)
                                 if stream and status != "error" else None),
            error_kind="RateLimited" if status == "error" else None,
            cost=estimate_cost(model, prompt, completion, SEED_PRICES),
            request=request,
            response={"id": "chatcmpl-x", "model": model,
                      "choices": [{"index": 0, "text": "word " * rng.randint(5, 40),
                                   "finish_reason": "length"}],
                      "usage": {"prompt_tokens": prompt, "completion_tokens": completion}},
            time=END - SPAN * (1 - moment),
            session=f"s{rng.randint(1, 500)}",
        )


def page_load(ledger, filters) -> tuple[float, float]:
    """Wall and CPU seconds of the page's reads (the CPU figure resists a busy machine)."""
    from playground.ledger.queries import FILTER_COLUMNS

    started, cpu = time.perf_counter(), time.process_time()
    assert ledger.last_id() > 0  # the snapshot: the cache's key, the filters' choices, the span
    for column in FILTER_COLUMNS:
        assert ledger.distinct_values(column)
    assert ledger.span()[0] is not None
    ledger.overview(filters)
    return time.perf_counter() - started, time.process_time() - cpu


def rerun_check(ledger) -> float:
    """Seconds of what a rerun with no new request reads: the newest row's id."""
    started = time.perf_counter()
    ledger.last_id()
    return time.perf_counter() - started


def measure_load(folder: Path, reps: dict[int, int], log=print) -> dict:
    """Both sizes filled first, then their loads interleaved (the order rotating every
    repetition), so that a change in the machine's load hits both sizes alike; as many
    repetitions of each as ``reps`` gives the larger size."""
    from benchmarks.common import interleave
    from playground.ledger.queries import Filters
    from playground.ledger.writer import Ledger

    typical = Filters(start=END - timedelta(days=7), end=END, models=list(MODELS[:2]))
    ledgers, fills = {}, {}
    for size in SIZES:
        ledger = ledgers[size] = Ledger(folder / f"ledger-{size}.sqlite3")
        started = time.perf_counter()
        ledger.insert_many(synthetic(size))
        fills[size] = time.perf_counter() - started
        page_load(ledger, Filters())  # one warm-up: the file into the page cache
        log(f"  {size:>7,} rows: filled in {fills[size]:.2f} s")
    count = reps[SIZES[-1]]
    samples = interleave({(size, name): (lambda ledger=ledgers[size], filters=filters:
                                         page_load(ledger, filters))
                          for size in SIZES for name, filters in (("all", Filters()),
                                                                  ("filtered", typical))},
                         count)
    out: dict = {}
    for size in SIZES:
        ledger = ledgers[size]
        everything, everything_cpu = zip(*samples[(size, "all")])
        filtered, filtered_cpu = zip(*samples[(size, "filtered")])
        rerun = [rerun_check(ledger) for _ in range(100)]
        started = time.perf_counter()
        csv_bytes = len(ledger.to_csv())
        export = time.perf_counter() - started
        out[size] = {
            "rows": ledger.count(), "fill_seconds": round(fills[size], 3),
            "file_mib": round(ledger.path.stat().st_size / 2**20, 1),
            "load_all_median_s": round(median(everything), 4),
            "load_all_range_s": [round(min(everything), 4), round(max(everything), 4)],
            "load_all_cpu_median_s": round(median(everything_cpu), 4),
            "load_filtered_median_s": round(median(filtered), 4),
            "load_filtered_range_s": [round(min(filtered), 4), round(max(filtered), 4)],
            "load_filtered_cpu_median_s": round(median(filtered_cpu), 4),
            "rerun_check_median_s": round(median(rerun), 6),
            "requests_matching_filter": ledger.request_count(typical),
            "csv_export_s": round(export, 3), "csv_mib": round(csv_bytes / 2**20, 1),
            "reps": count,
        }
        log(f"  {size:>7,} rows: page load {median(everything) * 1000:.1f} ms (all), "
            f"{median(filtered) * 1000:.1f} ms (7 days, 2 models); CSV {export:.2f} s")
        ledger.close()
    small, large = out[SIZES[0]], out[SIZES[-1]]
    out["ratio_all"] = round(large["load_all_median_s"] / small["load_all_median_s"], 1)
    out["ratio_filtered"] = round(
        large["load_filtered_median_s"] / small["load_filtered_median_s"], 1)
    out["ratio_all_cpu"] = round(
        large["load_all_cpu_median_s"] / small["load_all_cpu_median_s"], 1)
    return out


# --- (b) the write's share of a request -------------------------------------------------

class Server:
    """``python -m playground.local`` on a free loopback port, stopped by its own handle."""

    def __init__(self):
        from playground.local.launcher import free_port

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "playground.local", "--port", str(self.port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def __enter__(self) -> Server:
        from playground.local.launcher import wait_healthy

        try:
            wait_healthy(self.base_url, timeout=180, process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        stop_process(self.process)


class _Running:
    """A local server someone else started (and will stop)."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def __enter__(self) -> _Running:
        return self

    def __exit__(self, *exc) -> None:
        pass


def measure_share(folder: Path, reps: int, log=print, base_url: str | None = None) -> dict:
    """``base_url``: a local server already running; else one is started for the measure."""
    from playground.connection import Connection
    from playground.ledger.records import UsageRecord
    from playground.ledger.writer import Ledger
    from playground.runner import build_request, run

    ledger = Ledger(folder / "share.sqlite3")
    with (Server() if base_url is None else _Running(base_url)) as server:
        conn = Connection("Benchmark", base_url=server.base_url, max_retries=0, timeout=120)
        request = build_request("chat", MODEL, {"max_tokens": 1, "temperature": 0},
                                messages=[{"role": "user", "content": "Say hi."}])

        def write(result) -> float:
            """Record as ``Recorder.run`` does, then wait until the writer has committed the
            row; returns the seconds until the record was queued."""
            started = time.perf_counter()
            ended = datetime.now(UTC)
            ledger.record(lambda: UsageRecord.from_result(
                result, page="Benchmark", connection=conn, session="benchmark", ended=ended))
            queuing = time.perf_counter() - started
            if not ledger.flush(30):
                raise RuntimeError(f"the ledger's writer did not commit: {ledger.last_error}")
            return queuing

        for _ in range(5):  # warm: model loaded, connection pool open, code paths imported
            write(run(conn, "chat", request))
        without, with_write, writes, queued, paired = [], [], [], [], []
        for rep in range(reps):
            for recorded in ((False, True) if rep % 2 == 0 else (True, False)):
                started = time.perf_counter()
                result = run(conn, "chat", request)
                if recorded:
                    mark = time.perf_counter()
                    queued.append(write(result))
                    writes.append(time.perf_counter() - mark)
                    with_write.append(time.perf_counter() - started)
                else:
                    without.append(time.perf_counter() - started)
            paired.append(with_write[-1] - without[-1])
        if result.usage is None or result.usage.get("completion_tokens") != 1:
            raise RuntimeError(f"unexpected answer from the local server: {result.usage}")
        written = ledger.count()
    ledger.close()
    m_without, m_with, m_write = median(without), median(with_write), median(writes)
    quartiles = statistics.quantiles(paired, n=4)
    out = {
        "reps": reps, "rows_written": written,
        "request_without_write_median_s": round(m_without, 5),
        "request_with_write_median_s": round(m_with, 5),
        "write_to_commit_median_s": round(m_write, 7),
        "write_to_commit_max_s": round(max(writes), 6),
        "queued_median_s": round(median(queued), 7),
        "share": round(m_write / m_with, 6),
        "difference_of_medians_s": round(m_with - m_without, 6),
        "difference_share": round((m_with - m_without) / m_without, 4),
        "paired_difference_median_s": round(median(paired), 6),
        "paired_difference_quartiles_s": [round(quartiles[0], 6), round(quartiles[2], 6)],
        "request_without_quartiles_s": [
            round(q, 5) for q in statistics.quantiles(without, n=4)[::2]],
    }
    log(f"  request {m_without * 1000:.1f} ms without, {m_with * 1000:.1f} ms with the write; "
        f"the write to its commit {m_write * 1e6:.0f} µs = {out['share']:.4%} of the request")
    return out


# --- report -----------------------------------------------------------------------------

def goals(load: dict, share: dict | None) -> list[dict]:
    found = []
    measured = [("page data load at 100,000 rows (s)",
                 load[SIZES[-1]]["load_all_median_s"], LOAD_GOAL)]
    if share is not None:
        measured.append(("write share of the shortest request, to the commit", share["share"],
                         SHARE_GOAL))
    for name, value, bound in measured:
        found.append({"name": name, "value": value, "at_most": bound, "met": value <= bound})
    return found


def report(result: dict) -> str:
    load, share = result["load"], result["share"]
    m = result["machine"]
    lines = [f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}, Python "
             f"{m['python']}, SQLite {m['sqlite']}, load {m.get('load_average_1m')}", "",
             "(a) Usage page data load, nothing cached (snapshot + Ledger.overview: every "
             "query the page makes)"]
    for size in SIZES:
        row = load[size]
        lines.append(f"  {size:>7,} rows ({row['file_mib']} MiB): "
                     f"all {row['load_all_median_s'] * 1000:8.1f} ms"
                     f" (CPU {row['load_all_cpu_median_s'] * 1000:.1f} ms)"
                     f"   7 days x 2 models ({row['requests_matching_filter']:,} rows) "
                     f"{row['load_filtered_median_s'] * 1000:7.1f} ms"
                     f"   CSV export {row['csv_export_s']:.2f} s"
                     f"   rerun, nothing new: {row['rerun_check_median_s'] * 1000:.2f} ms")
    lines += [f"  ratio 100k/1k: {load['ratio_all']}x (all; CPU {load['ratio_all_cpu']}x), "
              f"{load['ratio_filtered']}x (filtered);"
              f" 100x would be linear", "",
              "(b) Ledger write's share of a request (local server, max_tokens 1)",
              f"  request median: "
              f"{share['request_without_write_median_s'] * 1000:.2f} ms without, "
              f"{share['request_with_write_median_s'] * 1000:.2f} ms with the write "
              f"({share['reps']} interleaved pairs)",
              f"  the write to its commit: median {share['write_to_commit_median_s'] * 1e6:.0f} "
              f"µs, max {share['write_to_commit_max_s'] * 1e6:.0f} µs -> share "
              f"{share['share']:.4%}; queued after {share['queued_median_s'] * 1e6:.0f} µs",
              f"  difference of the medians: {share['difference_of_medians_s'] * 1000:+.2f} ms "
              f"({share['difference_share']:+.2%}); paired (with - without, same repetition): "
              f"median {share['paired_difference_median_s'] * 1000:+.2f} ms, quartiles "
              f"{share['paired_difference_quartiles_s'][0] * 1000:+.2f} .. "
              f"{share['paired_difference_quartiles_s'][1] * 1000:+.2f} ms",
              f"  request without the write, quartiles: "
              f"{share['request_without_quartiles_s'][0] * 1000:.2f} .. "
              f"{share['request_without_quartiles_s'][1] * 1000:.2f} ms", "",
              "Goals (fixed before measuring):"]
    for goal in result["goals"]:
        lines.append(f"  {goal['name']}: {goal['value']:g} (goal <= {goal['at_most']:g}) "
                     f"{'met' if goal['met'] else 'NOT met'}")
    return "\n".join(lines)


def figures(result: dict) -> list[dict]:
    from benchmarks.common import Figure

    load, share = result["load"], result.get("share")
    small, large = load[SIZES[0]], load[SIZES[-1]]
    found = [
        Figure("Usage page data load, 100,000 rows / 1,000 rows", load["ratio_all"], "x",
               detail=f"{small['load_all_median_s'] * 1000:.1f} ms vs "
                      f"{large['load_all_median_s'] * 1000:.1f} ms; 100 would be linear",
               benchmark="ledger"),
        Figure("Usage page data load at 100,000 rows", large["load_all_median_s"], "s",
               LOAD_GOAL, "at_most",
               f"7 days x 2 models: {large['load_filtered_median_s'] * 1000:.1f} ms",
               benchmark="ledger"),
    ]
    if share is not None:
        found.append(Figure("Ledger write's share of the shortest local request, to the commit",
                            share["share"], "%", SHARE_GOAL, "at_most",
                            f"the write to its commit {share['write_to_commit_median_s'] * 1e6:.0f}"
                            f" µs of {share['request_with_write_median_s'] * 1000:.0f} ms; the "
                            f"page waits {share['queued_median_s'] * 1e6:.0f} µs, until queued",
                            benchmark="ledger"))
    return [figure.as_dict() for figure in found]


def benchmark(quick: bool = False, *, share: bool = True, base_url: str | None = None,
              folder: Path | None = None, log=print) -> dict:
    """(a), and (b) unless ``share`` is False; returns the results, ``figures`` included.

    ``base_url``: a local server to use for (b) instead of starting one; ``folder``: where
    the temporary ledgers go (a temporary folder by default)."""
    reps = {1_000: 5, 100_000: 3} if quick else {1_000: 20, 100_000: 7}
    share_reps = 40 if quick else 200
    with tempfile.TemporaryDirectory(prefix="ledger-bench-", dir=folder) as where:
        started = machine()
        log("(a) filling and loading")
        load = measure_load(Path(where), reps, log=log)
        measured_share = None
        if share:
            log("(b) requests to the local server")
            measured_share = measure_share(Path(where), share_reps, log=log, base_url=base_url)
    result = {"benchmark": "ledger", "quick": quick,
              "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {**started, "load_average_1m_at_end": machine().get("load_average_1m")},
              "load": load, "share": measured_share}
    result["goals"] = goals(load, measured_share)
    result["figures"] = figures(result)
    return result


def _alone(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        os.environ["PLAYGROUND_DATA_DIR"] = folder  # price table and logs stay out of home
        return benchmark(args.quick, folder=Path(folder))


def main(argv: list[str] | None = None) -> int:
    return run_alone("ledger", __doc__, RESULTS, _alone, report, argv,
                     quick_help="fewer repetitions (same sizes)")


if __name__ == "__main__":
    sys.exit(main())
