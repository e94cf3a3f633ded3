"""The shared password in a real browser: a fresh server with PLAYGROUND_PASSWORD set,
opened first through a link to a page, shows nothing but the prompt (no page, no links to
pages) until the right password is given, then the page the link named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from e2e.streamlit_page import IDLE, clean_environment, settle, streamlit_app
from ui.common import access

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "open sesame, ünïcode too"


@pytest.fixture(scope="module")
def guarded_app(chromium, local_base_url, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("password-gate")
    environment = clean_environment(**{access.PASSWORD_VARIABLE: PASSWORD},
                                    PLAYGROUND_LOCAL_URL=local_base_url,
                                    PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url


def test_nothing_but_the_prompt_until_the_right_password(browser, guarded_app):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{guarded_app}/compare")
        page.wait_for_selector(IDLE, timeout=60_000)
        expect(page.get_by_role("heading", level=1)).to_have_text("Parameter playground")
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
        password = page.get_by_label("Password", exact=True)
        expect(password).to_have_attribute("type", "password")

        password.fill("open sesame")
        page.get_by_role("button", name="Open the playground").click()
        settle(page)
        expect(page.get_by_text(re.compile("^Wrong password"))).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text("Parameter playground")
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
        expect(password).to_have_value("")  # the form clears what was typed
        shots = ROOT / "test-results"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=shots / "password-refused.png")

        password.fill(PASSWORD)
        page.get_by_role("button", name="Open the playground").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Compare")
        settle(page)
        links = page.get_by_test_id("stSidebarNav").get_by_role("link")
        expect(links).to_have_count(5)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        links.filter(has_text="Chat").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    finally:
        context.close()
