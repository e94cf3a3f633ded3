"""The owner's key stays with the address it was configured for, in a real browser.

The app runs with OPENAI_API_KEY in its environment, as an owner starts it. A visitor
chooses the OpenAI connection and types the address of a catcher (the fault server, which
records the Authorization header of every request) as its base URL, then uses Test
connection, Completions, Chat and Compare. The catcher must never receive the owner's key;
once the visitor types a key of their own, it receives that one.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.streamlit_page import clean_environment, open_page, screenshot, settle, streamlit_app
from fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
ENV_KEY = f"sk-env-{uuid.uuid4().hex}"
TYPED_KEY = f"sk-typed-{uuid.uuid4().hex}"
WITHHELD = ("The key from OPENAI_API_KEY in the environment or .env is only sent to "
            "https://api.openai.com/v1; type a key for this address.")


@pytest.fixture(scope="module")
def catcher():
    server = FaultServer()
    with server:
        yield server


@pytest.fixture(scope="module")
def owners_app(chromium, local_base_url, tmp_path_factory) -> str:
    """``streamlit run app.py`` with the owner's key in its environment."""
    folder = tmp_path_factory.mktemp("key-binding")
    environment = clean_environment(OPENAI_API_KEY=ENV_KEY,
                                    PLAYGROUND_LOCAL_URL=local_base_url,
                                    PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url


@pytest.fixture
def tab(browser, owners_app):
    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(owners_app)
    settle(page)
    yield page
    context.close()


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar")


def type_into(field, text: str, page: Page) -> None:
    field.fill(text)
    field.press("Enter")
    settle(page)


def use_every_page(page: Page) -> None:
    """Test connection, a Completions run, a Chat message and a Compare run."""
    sidebar(page).get_by_role("button", name="Test connection").click()
    settle(page)
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Once upon a time")
    page.get_by_role("button", name="Run", exact=True).click()
    settle(page)
    open_page(page, "Chat")
    chat = page.get_by_test_id("stChatInputTextArea")
    chat.fill("Hello")
    chat.press("Enter")
    settle(page)
    open_page(page, "Compare")
    type_into(page.get_by_role("textbox", name="User message", exact=True),
              "Describe the sea.", page)
    page.get_by_role("button", name="Run grid").click()
    expect(page.get_by_text(re.compile(r"^\d+ cells: "))).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    open_page(page, "Completions")


def test_a_typed_base_url_never_receives_the_owners_key(tab: Page, catcher):
    page = tab
    side = sidebar(page)
    side.get_by_role("combobox", name="Connection", exact=True).click()
    page.get_by_role("option", name="OpenAI", exact=True).click()
    settle(page)
    expect(side.get_by_text(re.compile(r"^Key: sk-….*environment"))).to_be_visible()

    type_into(side.get_by_role("textbox", name="Base URL", exact=True), catcher.base_url, page)
    expect(side.get_by_text(WITHHELD, exact=False)).to_be_visible()
    expect(side.get_by_text(f"Endpoint: {catcher.base_url}")).to_be_visible()
    screenshot(page, "key-binding-withheld.png")
    type_into(side.get_by_role("textbox", name="Model id", exact=True), "fault-model", page)
    use_every_page(page)
    expect(side.get_by_text(re.compile("only sent to https://api.openai.com/v1")).first
           ).to_be_visible()
    assert not [r for r in catcher.requests if ENV_KEY in str(r.headers)]
    assert page.inner_text("body").count(ENV_KEY) == 0

    type_into(side.get_by_label("API key", exact=True), TYPED_KEY, page)
    expect(side.get_by_text(re.compile(r"^Key: sk-….*typed in the sidebar"))).to_be_visible()
    before = len(catcher.requests)
    use_every_page(page)
    expect(side.get_by_text(re.compile(r"^Connected: 2 models"))).to_be_visible()
    screenshot(page, "key-binding-typed.png")

    typed = catcher.requests[before:]
    assert {received.authorization for received in typed} == {f"Bearer {TYPED_KEY}"}
    posts = [received.path for received in typed if received.method == "POST"]
    assert {"/v1/completions", "/v1/chat/completions"} <= set(posts), posts
    assert len(posts) >= 3, posts  # a completion, a chat reply, a grid's cells
    assert not [r for r in catcher.requests if ENV_KEY in str(r.headers)]
