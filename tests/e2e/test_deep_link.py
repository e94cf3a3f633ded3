"""A link to a page, opened first thing on a fresh server, shows the app as app.py builds it.

Streamlit runs a page file on its own in that case (the ``pages/`` folder turns on its
older multipage mode until ``st.navigation`` has run); ``ui.common.pages.within_app`` runs the
app's navigation instead. This module starts a server of its own so that its first
request is the link.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e.streamlit_page import IDLE, clean_environment, streamlit_app
from ui.common import pages

TITLES = [title for _path, title, _icon in pages.ALL]


@pytest.fixture(scope="module")
def fresh_app(local_base_url, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("deep-link")
    environment = clean_environment(PLAYGROUND_LOCAL_URL=local_base_url,
                                    PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url


def test_a_link_to_a_page_is_the_first_request(browser, fresh_app):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{fresh_app}/compare")
        page.wait_for_selector(IDLE, timeout=60_000)
        expect(page.get_by_role("heading", level=1)).to_have_text("Compare")
        links = page.get_by_test_id("stSidebarNav").get_by_role("link")
        # The titles (after each link's icon), not the file names, and no "app" page.
        expect(links).to_have_text([re.compile(f"{title}$") for title in TITLES])
        expect(page).to_have_title("Parameter playground")  # app.py's page config
        expect(page.get_by_test_id("stException")).to_have_count(0)
        links.filter(has_text="Chat").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
        expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        context.close()
