"""A local server that crashes is shown as a crash, and the next Run works after the restart.

``streamlit run app.py`` starts its own local server here, not the shared test server: the
stand-in in tests/crashing_server.py (through PLAYGROUND_LOCAL_SERVER_COMMAND), which dies
with SIGSEGV on its first completion and answers after it is restarted.
"""

from __future__ import annotations

import shlex
import sys

import pytest
from playwright.sync_api import expect

from e2e.streamlit_page import IDLE, ROOT, clean_environment, settle, streamlit_app
from playground.local.launcher import free_port

STAND_IN = ROOT / "tests" / "crashing_server.py"
CRASHED = "The local model server crashed (SIGSEGV) while answering; it has been restarted."


@pytest.fixture(scope="module")
def crashing_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local-crash")
    port = free_port()
    command = [sys.executable, str(STAND_IN), "--crash-on", "/v1/completions",
               "--armed-while-missing", str(folder / "crashed-once")]
    environment = clean_environment(PLAYGROUND_LOCAL_SERVER_COMMAND=shlex.join(command),
                                    PLAYGROUND_LOCAL_PORT=str(port),
                                    PLAYGROUND_DATA_DIR=str(folder / "data"))
    (folder / "data").mkdir()
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url, port


def test_a_crash_is_shown_on_completions_and_the_next_run_works(browser, crashing_app):
    url, port = crashing_app
    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(IDLE, timeout=60_000)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text(f"Endpoint: http://127.0.0.1:{port}/v1")).to_be_visible()
        expect(sidebar.get_by_text(f"python -m playground.local --port {port}")).to_be_visible()

        page.get_by_role("textbox", name="Prompt", exact=True).fill("Hello")
        page.get_by_role("button", name="Run").click()
        settle(page)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_test_id("stAlert").filter(has_text=CRASHED)).to_be_visible()
        expect(main.get_by_text("PLAYGROUND_SAFE_ENGINE=1")).to_be_visible()
        expect(main.get_by_text("local-server.log")).to_be_visible()
        main.get_by_text("The server log's last lines").click()
        expect(main.get_by_test_id("stCode").filter(
            has_text="crashing_server: POST /v1/completions: SIGSEGV")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        shots = ROOT / "test-results"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=shots / "local-crash.png", full_page=True)

        page.get_by_role("button", name="Run").click()
        settle(page)
        expect(main.get_by_test_id("stCode").first).to_have_text("stand-in reply")
        expect(main.get_by_text(CRASHED)).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        context.close()
