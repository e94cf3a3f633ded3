"""One headless Chromium and one ``streamlit run app.py`` for the whole session.

The browser is Debian's chromium (Playwright's own download is not needed). Without it the
browser tests skip, except under ``CI=true``, where a missing browser is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e.streamlit_page import IDLE, streamlit_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app_url(local_base_url, tmp_path_factory) -> str:
    """``streamlit run app.py`` on a free port, using the shared local test server."""
    folder = tmp_path_factory.mktemp("e2e")
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("OPENAI_")}
    environment.update(PLAYGROUND_LOCAL_URL=local_base_url,
                       PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url


@pytest.fixture
def page(browser, app_url):
    """A fresh browser context (its own Streamlit session) on the app's first page."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector(IDLE, timeout=60_000)
    yield page
    context.close()
