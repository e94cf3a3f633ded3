"""What the playground's core adds to a request, against the raw ``openai`` SDK.

``python -m benchmarks.request_overhead [--quick]`` starts the test fault server (an
OpenAI-compatible loopback server) with no latency, so that whatever the client side costs
is as large a share of the request as it can be, and measures in one run, interleaved
(the order shuffled every repetition), medians:

(a) one chat request through the core: ``runner.build_request`` (validation, only the
    values the user set) then ``Recorder.run`` as a page makes it (the default ledger, here
    ``PLAYGROUND_DB`` naming a file of this run): the cached client, the SDK call, the
    response read into a ``RunResult``, the usage record handed to the ledger's writer
    thread, which makes and writes it. The core reads the JSON body as sent
    (``with_raw_response`` + ``json.loads``) instead of the SDK's typed objects, which it
    would only dump back into a dict; so its goal (at most 1.05, the median of the
    repetitions' ratios) is against that same call made directly with an
    ``openai.OpenAI`` client made once with the same settings: what the core adds to its
    own transport, also in microseconds. Build and ``runner.run`` without the ledger split
    what is added between the runner and the usage record, and ``client.chat.completions
    .create`` (typed objects) is reported beside, without a goal: the core can come out
    below 1 there.
    After each request through the core, once its clock has stopped, the ledger's writer is
    let to commit, as it does between a person's requests, so that its commit never lands
    in the next timed request (``benchmarks/ledger.py`` measures the write to the commit).
(b) the same request streamed: time to first token through the core (build, then
    ``Recorder.run`` with ``on_text``; the clock stops at the first ``on_text`` call) against
    the raw SDK stream (the clock stops at the first chunk with content), the same
    transport: the core reads the SDK's stream too. Median of the pairs' ratios (goal at
    most 1.05); the whole stream's time is reported beside it.

The core's own steps are also timed apart, without the network, to show where the added
time goes: ``build_request``, parsing the response's JSON body, the usage record
(``UsageRecord.from_result``, made on the writer thread) and ``Ledger.record``. Results are
printed and written to ``benchmarks/results-request-overhead.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from unittest.mock import patch

from benchmarks.common import (
    HERE,
    Figure,
    Shared,
    figures_report,
    format_value,
    interleave,
    machine,
    median,
    quartiles,
    run_alone,
    shared_or_own,
    timestamp,
)

RESULTS = HERE / "results-request-overhead.json"
MODEL = "fault-model"
ENDPOINT = "chat"
MESSAGES = [{"role": "user", "content": "Describe the sea in one sentence."}]
VALUES = {"max_tokens": 16, "temperature": 0.7}  # what a user set on the page
RATIO_GOAL = 1.05
TTFT_GOAL = 1.05


class Sides:
    """The ways of sending the same request, against one server."""

    def __init__(self, base_url: str):
        import openai

        from playground.connection import Connection
        from playground.recording import Recorder

        self.conn = Connection("Benchmark", base_url=base_url, max_retries=0, timeout=30.0)
        # As a page makes it (ui.common.recording): the default ledger, PLAYGROUND_DB's.
        self.recorder = Recorder(page="Benchmark", session="benchmark")
        # The core's client_for builds its client with these settings too.
        self.client = openai.OpenAI(base_url=base_url, api_key="no-key", max_retries=0,
                                    timeout=openai.Timeout(30.0, connect=5.0))
        self.sent = self._build(VALUES)
        self.sent_stream = self._build({**VALUES, "stream": True})
        self.core_requests = 0

    @staticmethod
    def _build(values: dict) -> dict:
        from playground import runner

        return runner.build_request(ENDPOINT, MODEL, values, messages=MESSAGES)

    # (a) a whole request

    def core(self) -> float:
        started = time.perf_counter()
        request = self._build(VALUES)
        result = self.recorder.run(self.conn, ENDPOINT, request)
        seconds = time.perf_counter() - started
        assert result.text, "the core got no text back"
        self.core_requests += 1
        self.settle()
        return seconds

    def runner_only(self) -> float:
        """The core without the ledger: build and ``runner.run``, nothing recorded."""
        from playground import runner

        started = time.perf_counter()
        request = self._build(VALUES)
        result = runner.run(self.conn, ENDPOINT, request)
        seconds = time.perf_counter() - started
        assert result.text, "the runner got no text back"
        return seconds

    def settle(self) -> None:
        """After the clock stopped: let the ledger's writer commit what was recorded, as it
        does between a person's requests, so its commit does not land inside the next
        timed request (which is the other side's as often as not)."""
        self.recorder.usage_ledger.flush(30)

    def sdk(self) -> float:
        started = time.perf_counter()
        response = self.client.chat.completions.create(**self.sent)
        seconds = time.perf_counter() - started
        assert response.choices[0].message.content, "the SDK got no text back"
        return seconds

    def sdk_body(self) -> float:
        """The SDK's raw response, its JSON body parsed: the transport the core uses."""
        started = time.perf_counter()
        raw = self.client.chat.completions.with_raw_response.create(**self.sent)
        body = json.loads(raw.content)
        seconds = time.perf_counter() - started
        assert body["choices"][0]["message"]["content"], "the SDK got no text back"
        return seconds

    # (b) a stream

    def core_stream(self) -> tuple[float, float]:
        first = None

        def on_text(index: int, delta: str) -> None:
            nonlocal first
            if first is None:
                first = time.perf_counter()

        started = time.perf_counter()
        request = self._build({**VALUES, "stream": True})
        result = self.recorder.run(self.conn, ENDPOINT, request, on_text=on_text)
        total = time.perf_counter() - started
        assert first is not None and result.usage, "the core's stream brought no text or usage"
        self.core_requests += 1
        self.settle()
        return first - started, total

    def sdk_stream(self) -> tuple[float, float]:
        first = None
        started = time.perf_counter()
        for chunk in self.client.chat.completions.create(**self.sent_stream):
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        total = time.perf_counter() - started
        assert first is not None, "the SDK's stream brought no text"
        return first - started, total

    def close(self) -> None:
        self.client.close()


def quiet(server) -> None:
    """The SDK closes a connection when a stream ends; the fault server's handler thread
    then meets a reset while waiting for the next request and prints its traceback. Not
    a failure of anything measured: keep it off the report."""
    import socketserver

    httpd = server._httpd
    default = socketserver.BaseServer.handle_error

    def handle_error(request, client_address):
        import sys as _sys

        if isinstance(_sys.exc_info()[1], ConnectionError):
            return
        default(httpd, request, client_address)

    httpd.handle_error = handle_error


def breakdown(sides: Sides, reps: int) -> dict:
    """The core's steps without the network, each timed over many calls (median, µs)."""
    from playground.connection import client_for
    from playground.ledger.records import UsageRecord

    body = sides.client.chat.completions.with_raw_response.create(**sides.sent).content
    result = sides.recorder.run(sides.conn, ENDPOINT, sides.sent)
    ledger = sides.recorder.usage_ledger

    def timed(call) -> float:
        values = []
        for _ in range(reps):
            started = time.perf_counter()
            call()
            values.append(time.perf_counter() - started)
        return median(values) * 1e6

    steps = {
        "build_request_us": timed(lambda: sides._build(VALUES)),
        "client_for_us": timed(lambda: client_for(sides.conn)),
        "response_json_parse_us": timed(lambda: json.loads(body)),
        "usage_record_from_result_us": timed(lambda: UsageRecord.from_result(
            result, page="Benchmark", connection=sides.conn, session="benchmark")),
    }
    steps["ledger_record_call_us"] = timed(lambda: ledger.record(lambda: UsageRecord.from_result(
        result, page="Benchmark", connection=sides.conn, session="benchmark")))
    ledger.flush(30)
    return steps


def benchmark(quick: bool = False, shared: Shared | None = None, log=print, *,
              reps: int | None = None, stream_reps: int | None = None,
              warmup: int = 20) -> dict:
    """Both measures; returns the figures and the details (written by ``main``)."""
    from playground.ledger.schema import DB_VARIABLE
    from tests.fault_server import FaultServer

    reps = reps or (400 if quick else 2000)
    stream_reps = stream_reps or (400 if quick else 1000)
    started_machine = machine()
    with shared_or_own(shared) as shared, patch.dict(
            os.environ, {DB_VARIABLE: str(shared.folder / "request-overhead.sqlite3")}):
        server = FaultServer(latency=0.0)
        with server as base_url:
            quiet(server)
            sides = Sides(base_url)
            try:
                log(f"  (a) {reps} interleaved repetitions of a request ...")
                whole = interleave({"core": sides.core, "sdk": sides.sdk,
                                    "sdk_body": sides.sdk_body, "runner": sides.runner_only},
                                   reps, warmup=warmup)
                log(f"  (b) {stream_reps} interleaved pairs of streams ...")
                streams = interleave({"core": sides.core_stream, "sdk": sides.sdk_stream},
                                     stream_reps, warmup=warmup)
                ledger = sides.recorder.usage_ledger
                flushed = ledger.flush(30)
                recorded = ledger.count()
                steps = breakdown(sides, min(reps, 200 if quick else 1000))
            finally:
                sides.close()
            received = server.request_count
    return summarise(whole, streams, steps, reps, stream_reps, started_machine,
                     recorded=recorded, flushed=flushed, core_requests=sides.core_requests,
                     received=received, quick=quick)


def summarise(whole: dict, streams: dict, steps: dict, reps: int, stream_reps: int,
              started_machine: dict, **counts) -> dict:
    core, sdk, body, runner = whole["core"], whole["sdk"], whole["sdk_body"], whole["runner"]
    added = [c - b for c, b in zip(core, body)]
    ttft_core = [first for first, _ in streams["core"]]
    ttft_sdk = [first for first, _ in streams["sdk"]]
    total_core = [total for _, total in streams["core"]]
    total_sdk = [total for _, total in streams["sdk"]]
    medians = {
        "core_seconds": median(core),
        "sdk_body_seconds": median(body),
        "ratio_core_over_sdk_body": median(core) / median(body),
        "ratio_core_over_sdk_body_per_repetition": median([c / b for c, b in zip(core, body)]),
        "added_us_over_sdk_body": (median(core) - median(body)) * 1e6,
        "added_us_over_sdk_body_paired": median(added) * 1e6,
        "added_us_over_sdk_body_quartiles": [q * 1e6 for q in quartiles(added)],
        "runner_only_seconds": median(runner),
        "added_us_by_runner": (median(runner) - median(body)) * 1e6,
        "added_us_by_recording": (median(core) - median(runner)) * 1e6,
        "sdk_seconds": median(sdk),
        "ratio_core_over_sdk": median(core) / median(sdk),
        "added_us_difference_of_medians": (median(core) - median(sdk)) * 1e6,
        "core_quartiles_seconds": quartiles(core),
        "sdk_body_quartiles_seconds": quartiles(body),
        "stream_ttft_core_seconds": median(ttft_core),
        "stream_ttft_sdk_seconds": median(ttft_sdk),
        "stream_ttft_ratio": median(ttft_core) / median(ttft_sdk),
        "stream_ttft_ratio_per_pair_median": median([c / s for c, s in zip(ttft_core, ttft_sdk)]),
        "stream_ttft_added_us": (median(ttft_core) - median(ttft_sdk)) * 1e6,
        "stream_total_core_seconds": median(total_core),
        "stream_total_sdk_seconds": median(total_sdk),
        "stream_total_ratio": median(total_core) / median(total_sdk),
    }
    m = medians
    figures = [
        Figure("Request: core / SDK raw body, same transport",
               m["ratio_core_over_sdk_body_per_repetition"], "x", RATIO_GOAL, "at_most",
               f"median of {reps} interleaved repetitions' ratios; medians core "
               f"{format_value(m['core_seconds'], 's')} vs "
               f"{format_value(m['sdk_body_seconds'], 's')} for with_raw_response + "
               "json.loads, which is how the core reads "
               f"(ratio {m['ratio_core_over_sdk_body']:.3f})"),
        Figure("Request: time the core adds to its transport", m["added_us_over_sdk_body"],
               "us", detail=f"build + runner {m['added_us_by_runner']:.0f} µs, usage record "
                            f"{m['added_us_by_recording']:.0f} µs; per repetition "
                            f"{m['added_us_over_sdk_body_paired']:.0f} µs"),
        Figure("Request through the core / raw SDK", m["ratio_core_over_sdk"], "x",
               detail=f"core {format_value(m['core_seconds'], 's')} vs SDK "
                      f"{format_value(m['sdk_seconds'], 's')}, which builds typed objects "
                      f"the core does without ({m['added_us_difference_of_medians']:.0f} µs)"),
        Figure("Stream: first token, core / raw SDK", m["stream_ttft_ratio_per_pair_median"],
               "x", TTFT_GOAL, "at_most",
               f"median of {stream_reps} interleaved pairs' ratios, the same transport (the "
               f"SDK's stream, which the core reads too); medians core "
               f"{format_value(m['stream_ttft_core_seconds'], 's')} vs SDK "
               f"{format_value(m['stream_ttft_sdk_seconds'], 's')} "
               f"(ratio {m['stream_ttft_ratio']:.3f})"),
        Figure("Stream: first token, time the core adds", m["stream_ttft_added_us"], "us"),
        Figure("Stream: whole stream, core / raw SDK", m["stream_total_ratio"], "x",
               detail=f"core {format_value(m['stream_total_core_seconds'], 's')} vs SDK "
                      f"{format_value(m['stream_total_sdk_seconds'], 's')}"),
    ]
    for figure in figures:
        figure.benchmark = "request_overhead"
    ended = machine()
    return {
        "benchmark": "request_overhead",
        "when": timestamp(),
        "machine": {**started_machine, "load_average_1m_at_end": ended.get("load_average_1m")},
        "config": {"server": "tests/fault_server.py FaultServer, latency 0", "endpoint": ENDPOINT,
                   "model": MODEL, "values": VALUES, "messages": MESSAGES,
                   "repetitions": reps, "stream_repetitions": stream_reps,
                   "quick": counts.pop("quick")},
        "medians": medians,
        "core_steps_median_us": steps,
        "checks": counts,
        "figures": [figure.as_dict() for figure in figures],
    }


def report(result: dict) -> str:
    m, steps = result["medians"], result["core_steps_median_us"]
    lines = [figures_report(result), "",
             f"  added to the core's transport per repetition, median "
             f"{m['added_us_over_sdk_body_paired']:.0f} µs (quartiles "
             f"{m['added_us_over_sdk_body_quartiles'][0]:.0f} .. "
             f"{m['added_us_over_sdk_body_quartiles'][1]:.0f} µs)",
             "  the core's steps alone (median µs): "
             + ", ".join(f"{name.removesuffix('_us')} {value:.0f}"
                         for name, value in steps.items()),
             f"  ledger rows written {result['checks']['recorded']} for "
             f"{result['checks']['core_requests']} requests through the core"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_alone("request_overhead", __doc__, RESULTS, lambda args: benchmark(args.quick),
                     report, argv)


if __name__ == "__main__":
    sys.exit(main())
