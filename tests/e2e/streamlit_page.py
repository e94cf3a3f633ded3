"""Running the app and waiting on its pages in Chromium: shared by every browser test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect

from playground.local.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]

# The app is idle (its script finished) once this matches; assert only after it does.
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its OPENAI_* and PLAYGROUND_* settings, so the app
    sees only what the test gives it, plus ``settings``."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("OPENAI_", "PLAYGROUND_"))}
    environment.update(settings)
    return environment


def screenshot(page: Page, name: str) -> None:
    """The whole page as a PNG in test-results/ (ignored by git), for a person to look at."""
    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=shots / name, full_page=True)


def settle(page: Page, timeout_ms: int = 60_000) -> None:
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def open_page(page: Page, title: str, timeout_ms: int = 60_000) -> None:
    """Follow the sidebar link to a page and wait until it has drawn."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    settle(page, timeout_ms)


@contextmanager
def streamlit_app(environment: dict[str, str], log: Path,
                  timeout: float = 60) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` on a free loopback port until the block ends.

    Yields the app's URL once ``/_stcore/health`` answers, and the process (whose children,
    such as a local server the app launched, a caller may want to stop too).
    """
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, timeout)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")
