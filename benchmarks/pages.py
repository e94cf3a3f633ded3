"""How long each page takes to rerun with a session in use, under ``AppTest``.

``python -m benchmarks.pages [--quick]`` runs ``app.py`` with
``streamlit.testing.v1.AppTest.from_file`` against a local model server started for the
run (``PLAYGROUND_LOCAL_URL``), in a private data folder. First the session is populated as
a person would populate it: the ledger holds 1,000 earlier requests (synthetic, as in
``benchmarks/ledger.py``), the app opens on Completions, a prompt is run there (one real
request), every page is visited once (the model list, the model details), and where the
Chat page takes a message, one is sent. Then, interleaved (the page order rotates every
repetition), each page is

- switched to (``switch_page`` then ``run``: the run a click in the navigation causes), and
- rerun (``run`` again, nothing changed: the run any widget interaction causes at least),

and both runs are timed; no request is sent during them (checked on the ledger). A
one-line script (``st.title``) rerun under AppTest joins the rotation as the baseline:
each page's rerun is also given as a multiple of it, which holds when the machine is busy.
Goal: every page reruns in under 100 ms (median). AppTest runs the script
in this process as the server would, without a browser or websocket; its own bookkeeping
(the element tree it builds after each run) is inside the figure.

Results are printed and written to ``benchmarks/results-pages.json``.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from benchmarks.common import (
    HERE,
    ROOT,
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

RESULTS = HERE / "results-pages.json"
APP = ROOT / "app.py"
RERUN_GOAL = 0.1  # seconds
PROMPT = "The capital of France is"
CHAT_MESSAGE = "Say hello in five words."
HISTORY_ROWS = 1_000  # requests already in the ledger, as after some weeks of use
BARE = "(bare Streamlit)"
BARE_SCRIPT = 'import streamlit as st\n\nst.title("Bare")\n'  # the baseline


@contextmanager
def navigation_mode():
    """Make AppTest run app.py (and so ``st.navigation``) on every run, as the server does
    once ``st.navigation`` has run; without this, AppTest re-enters Streamlit's older
    multipage mode because of the ``pages/`` folder and, after ``switch_page``, runs the
    page file alone (the same shim as ``tests/apptest/conftest.py``)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    try:
        yield
    finally:
        PagesManager.__init__ = original


@contextmanager
def environment(**values: str):
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def quiet_streamlit():
    """Streamlit warns about calls outside a script run (imports of ``ui``); not ours."""
    import logging

    logger = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _check(at, where: str) -> None:
    if at.exception:
        raise RuntimeError(f"{where}: the page raised {_error(at)}")


def _error(at) -> str:
    exception = at.exception[0]
    return f"{exception.message}" + (f" ({exception.stack_trace[-1].strip()})"
                                     if exception.stack_trace else "")


def _broke(at, title: str, broken: dict) -> bool:
    """Note a page that raised (it is reported as not measured); True if it did."""
    if at.exception:
        broken[title] = _error(at)
        return True
    return False


@contextmanager
def error_details():
    """A page that raises is reported with its error, not Streamlit's redacted notice
    (the app's config hides details from the browser; this is a benchmark's report)."""
    from streamlit import config

    previous = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", "full")
    try:
        yield
    finally:
        config.set_option("client.showErrorDetails", previous)


def populate(at, log=print) -> dict:
    """Use the app as a person would before the measure: one completion, every page seen."""
    from ui.common import pages, params

    at.run()
    _check(at, "first run")
    populated = {}
    at.text_area(key="completions.prompt").input(PROMPT)
    at.get_by_key(params.widget_key("completions", "max_tokens")).set_value(8)
    run = next(button for button in at.button if button.label == "Run")
    started = time.perf_counter()
    run.click().run()
    populated["completions_request_seconds"] = time.perf_counter() - started
    _check(at, "Completions run")
    populated["completions_output"] = bool(at.code)
    populated["broken_pages"] = {}
    for path, title, _ in pages.ALL:
        at.switch_page(path).run()
        if _broke(at, title, populated["broken_pages"]):
            continue  # not measured, and said so; the other pages still are
        if path == pages.CHAT and at.chat_input:  # one message, where the page takes one
            started = time.perf_counter()
            at.chat_input[0].set_value(CHAT_MESSAGE).run()
            populated["chat_request_seconds"] = time.perf_counter() - started
            _broke(at, title, populated["broken_pages"])
    log(f"  session populated: one completion ({populated['completions_request_seconds']:.2f} s)"
        + (f", one chat message ({populated['chat_request_seconds']:.2f} s)"
           if "chat_request_seconds" in populated else "")
        + ", every page visited")
    return populated


def measure(base_url: str, reps: int, log=print) -> dict:
    from streamlit.testing.v1 import AppTest

    from benchmarks.ledger import synthetic
    from playground.ledger.writer import shared_ledger
    from ui.common import pages

    shared_ledger().insert_many(synthetic(HISTORY_ROWS))
    with (navigation_mode(), environment(PLAYGROUND_LOCAL_URL=base_url), quiet_streamlit(),
          error_details()):
        at = AppTest.from_file(str(APP), default_timeout=120)
        populated = populate(at, log)
        ledger = shared_ledger()
        ledger.flush(30)
        rows_before = ledger.count()

        broken = populated["broken_pages"]

        def visit_and_rerun(path: str, title: str):
            def once() -> dict | None:
                if title in broken:
                    return None
                started = time.perf_counter()
                at.switch_page(path).run()
                switched = time.perf_counter() - started
                if _broke(at, title, broken):
                    return None
                started = time.perf_counter()
                at.run()
                rerun = time.perf_counter() - started
                if _broke(at, title, broken):
                    return None
                return {"switch": switched, "rerun": rerun,
                        "title": at.title[0].value if at.title else None}
            return once

        bare = AppTest.from_string(BARE_SCRIPT, default_timeout=60)
        bare.run()

        def bare_rerun() -> dict:
            started = time.perf_counter()
            bare.run()
            return {"switch": float("nan"), "rerun": time.perf_counter() - started,
                    "title": bare.title[0].value}

        runs = {title: visit_and_rerun(path, title) for path, title, _ in pages.ALL
                if title not in broken}
        runs[BARE] = bare_rerun
        samples = interleave(runs, reps, warmup=1)
        ledger.flush(30)
        rows_after = ledger.count()
    if rows_after != rows_before:
        raise RuntimeError(f"{rows_after - rows_before} requests were recorded during the timed "
                           "runs; the measure is meant to be without requests")
    bare_reruns = samples.pop(BARE)
    per_page = {}
    for title, runs in samples.items():
        if title in broken:  # raised at some point: not measured
            continue
        reruns = [run["rerun"] for run in runs]
        switches = [run["switch"] for run in runs]
        per_page[title] = {
            "rerun_median_s": median(reruns), "rerun_quartiles_s": quartiles(reruns),
            "rerun_max_s": max(reruns),
            "switch_median_s": median(switches), "switch_quartiles_s": quartiles(switches),
            "titles_seen": sorted({str(run["title"]) for run in runs}),
            "rerun_over_bare": median(reruns) / median([r["rerun"] for r in bare_reruns]),
        }
    populated["broken_pages"] = broken
    return {"populated": populated, "per_page": per_page,
            "bare_rerun_median_s": median([r["rerun"] for r in bare_reruns]),
            "ledger_rows": rows_before, "requests_during_timed_runs": rows_after - rows_before}


def benchmark(quick: bool = False, shared: Shared | None = None, log=print) -> dict:
    reps = 10 if quick else 40
    started_machine = machine()
    with shared_or_own(shared) as shared:
        base_url = shared.local_url()
        log(f"  AppTest on app.py, {reps} interleaved repetitions per page ...")
        measured = measure(base_url, reps, log)
    from ui.common import pages

    figures = []
    broken = measured["populated"]["broken_pages"]
    for _, title, _ in pages.ALL:
        if title not in measured["per_page"]:
            figures.append(Figure(f"Page rerun: {title}", None, "s", RERUN_GOAL, "at_most",
                                  f"the page raised: {broken.get(title, '?')[:160]}", "pages"))
            continue
        row = measured["per_page"][title]
        figures.append(Figure(
            f"Page rerun: {title}", row["rerun_median_s"], "s", RERUN_GOAL, "at_most",
            f"{row['rerun_over_bare']:.1f} x a bare Streamlit script's rerun "
            f"({format_value(measured['bare_rerun_median_s'], 's')}); quartiles "
            f"{format_value(row['rerun_quartiles_s'][0], 's')} .. "
            f"{format_value(row['rerun_quartiles_s'][1], 's')}; switching to it "
            f"{format_value(row['switch_median_s'], 's')}", "pages"))
    return {
        "benchmark": "pages",
        "when": timestamp(),
        "machine": {**started_machine, "load_average_1m_at_end": machine().get("load_average_1m")},
        "config": {"app": "app.py", "repetitions": reps, "quick": quick,
                   "populated_with": f"{HISTORY_ROWS:,} earlier requests in the ledger; one "
                                     f"completion of {PROMPT!r} (max_tokens 8) on the local "
                                     "SmolLM2; every page visited once; one chat message "
                                     "where the Chat page takes one"},
        **measured,
        "figures": [figure.as_dict() for figure in figures],
    }


def main(argv: list[str] | None = None) -> int:
    return run_alone("pages", __doc__, RESULTS, lambda args: benchmark(args.quick),
                     figures_report, argv, quick_help="10 repetitions instead of 40")


if __name__ == "__main__":
    sys.exit(main())
