"""How long ``streamlit run app.py`` takes to serve, and to show its first page in a browser.

``python -m benchmarks.app_start [--quick]`` starts ``streamlit run app.py`` (headless, on a
free loopback port, in a private data folder, without any ``OPENAI_*`` variable) and times

- spawn to a healthy ``/_stcore/health`` (the server is up), and
- spawn to the first page rendered in Chromium: a fresh browser context opens the app as
  soon as it is healthy, and the clock stops when the Completions page's title is shown
  and the script has finished (``[data-testid='stApp'][data-test-script-state='notRunning']``).

Three starts are interleaved (their order rotates every repetition), medians:

- *bare Streamlit*: the baseline, a one-line script (``st.title("Completions")``) started
  the same way: what Streamlit itself and the browser cost;
- *local models running*: ``app.py`` with ``PLAYGROUND_LOCAL_URL`` pointing at a local model
  server already up, so the figure is the app's own start; reported over the baseline;
- *app starts its models*: what a person meets on the very first ``streamlit run app.py``:
  the first page starts ``python -m playground.local`` itself ("Starting the local
  models…") before it can list the models.

The browser (Debian's ``/usr/bin/chromium`` through Playwright) is launched once, before
the clock; its launch time is reported apart. No goal was set for these figures: they are
reported, not judged. Results are printed and written to ``benchmarks/results-app-start.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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
    run_alone,
    shared_or_own,
    stop_process,
    timestamp,
)

RESULTS = HERE / "results-app-start.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
FIRST_TITLE = "Completions"
TIMEOUT = 120.0


def _children(pid: int) -> list[int]:
    """Direct children of a process (Linux), to find a local server the app started."""
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(child) for child in text]
    except OSError:
        pass
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


BARE_SCRIPT = f"import streamlit as st\n\nst.title({FIRST_TITLE!r})\n"


class App:
    """One ``streamlit run SCRIPT`` on a free port; stopped, with what it started, by pid."""

    def __init__(self, folder: Path, local_url: str | None, script: str = "app.py"):
        from playground.local.launcher import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("OPENAI_") and name != "PLAYGROUND_LOCAL_URL"}
        environment["PLAYGROUND_DATA_DIR"] = str(folder)
        if local_url:
            environment["PLAYGROUND_LOCAL_URL"] = local_url
        self.log = folder / f"streamlit-{self.port}.log"
        self.spawned = time.perf_counter()
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def wait_healthy(self) -> float:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.spawned
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"streamlit was not healthy within {TIMEOUT:.0f} s")

    def stop(self) -> None:
        started = _children(self.process.pid)
        stop_process(self.process)
        for pid in started:  # the app stops its local server at exit; make sure of it
            if _alive(pid):
                os.kill(pid, 15)


def first_page(browser, url: str) -> float:
    """Open the app in a fresh context; the time until the first page is drawn and idle."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name=FIRST_TITLE).first.wait_for(timeout=TIMEOUT * 1000)
        page.wait_for_selector(IDLE, timeout=TIMEOUT * 1000)
        seconds = time.perf_counter() - started
        if page.get_by_text("Starting the local models").count():
            raise RuntimeError("the page went idle while still starting the local models")
        return seconds
    finally:
        context.close()


def start_once(browser, folder: Path, local_url: str | None, script: str = "app.py") -> dict:
    app = App(folder, local_url, script)
    try:
        healthy = app.wait_healthy()
        opened = time.perf_counter()
        rendered = first_page(browser, app.url)
        total = time.perf_counter() - app.spawned
        return {"spawn_to_healthy": healthy, "healthy_to_rendered": rendered,
                "spawn_to_rendered": total, "health_to_open_gap": opened - app.spawned - healthy}
    finally:
        app.stop()


def benchmark(quick: bool = False, shared: Shared | None = None, log=print) -> dict:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    reps = 1 if quick else 5
    started_machine = machine()
    with shared_or_own(shared) as shared:
        local_url = shared.local_url()
        with sync_playwright() as playwright:
            started = time.perf_counter()
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
            browser_launch = time.perf_counter() - started
            try:
                if not quick:  # not counted: a first start reads the imports from disk
                    start_once(browser, _fresh(shared.folder), local_url)
                bare = shared.folder / "bare_streamlit.py"
                bare.write_text(BARE_SCRIPT)
                log(f"  {reps} interleaved repetitions of three starts ...")
                samples = interleave({
                    "bare_streamlit": lambda: start_once(browser, _fresh(shared.folder), None,
                                                         str(bare)),
                    "local_running": lambda: start_once(browser, _fresh(shared.folder), local_url),
                    "app_starts_models": lambda: start_once(browser, _fresh(shared.folder), None),
                }, reps)
            finally:
                browser.close()
    medians = {variant: {key: median([run[key] for run in runs]) for key in runs[0]}
               for variant, runs in samples.items()}
    base = medians["bare_streamlit"]
    running, cold = medians["local_running"], medians["app_starts_models"]
    figures = [
        Figure("App start: spawn to healthy /_stcore/health", running["spawn_to_healthy"], "s",
               detail=f"bare Streamlit {format_value(base['spawn_to_healthy'], 's')}; "
                      f"{reps} interleaved starts", benchmark="app_start"),
        Figure("App start: healthy, app.py / bare Streamlit",
               _ratio(running, base, "spawn_to_healthy"), "x", benchmark="app_start"),
        Figure("App start: spawn to first page in Chromium", running["spawn_to_rendered"], "s",
               detail=f"local models already running; bare Streamlit "
                      f"{format_value(base['spawn_to_rendered'], 's')}",
               benchmark="app_start"),
        Figure("App start: first page, app.py / bare Streamlit",
               _ratio(running, base, "spawn_to_rendered"), "x", benchmark="app_start"),
        Figure("App start: first page, app starts its local models", cold["spawn_to_rendered"],
               "s", detail=f"{_ratio(cold, base, 'spawn_to_rendered'):.2f} x bare Streamlit; "
                           f"healthy to rendered {format_value(cold['healthy_to_rendered'], 's')}",
               benchmark="app_start"),
    ]
    return {
        "benchmark": "app_start",
        "when": timestamp(),
        "machine": {**started_machine, "load_average_1m_at_end": machine().get("load_average_1m")},
        "config": {"command": "streamlit run app.py --server.headless true",
                   "browser": str(CHROMIUM),
                   "browser_args": CHROMIUM_ARGS, "repetitions": reps, "quick": quick,
                   "rendered_when": f"heading {FIRST_TITLE!r} shown and {IDLE}"},
        "browser_launch_seconds": browser_launch,
        "medians": medians,
        "samples": samples,
        "figures": [figure.as_dict() for figure in figures],
    }


def _ratio(side: dict, base: dict, key: str) -> float:
    return side[key] / base[key] if base[key] else float("nan")


_count = 0


def _fresh(folder: Path) -> Path:
    """A new data folder per start: no history, saved connections or prices from before."""
    global _count
    _count += 1
    path = folder / f"app-start-{_count}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def report(result: dict) -> str:
    return (figures_report(result) + "\n  (Chromium launch, not counted: "
            f"{format_value(result['browser_launch_seconds'], 's')})")


def main(argv: list[str] | None = None) -> int:
    return run_alone("app_start", __doc__, RESULTS, lambda args: benchmark(args.quick), report,
                     argv, quick_help="1 repetition instead of 5")


if __name__ == "__main__":
    sys.exit(main())
