"""Faults, markup and the key in a real browser, one page at a time.

This module runs its own ``streamlit run app.py`` with a data folder of its own, holding
saved connections to a fault server ("Faulty"), to a port nothing listens on ("Stopped")
and to a server that refuses every key ("Locked"). The local models come from the app's own
launcher, as a user gets them. Each test asserts what a person sees: the message, the
hint, and that what they typed is still there.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.streamlit_page import clean_environment, streamlit_app
from e2e.streamlit_page import open_page as open_page_within
from e2e.streamlit_page import settle as wait_until_idle
from fault_server import DEFAULT_REPLY, FaultServer, closed_port_url

MARKUP = "<b>bold</b><script>window.__pwned=1</script>"
KEY = f"gwkey-{uuid.uuid4().hex}"
MODELS = ("fault-model", "cut-model", "html-model", "locked-model")


def reply(body: dict, index: int) -> str:
    return MARKUP if body.get("model") == "html-model" else DEFAULT_REPLY


@pytest.fixture(scope="module")
def gateway():
    server = FaultServer(models=MODELS, reply=reply, echo_key=True,
                         faults_by_model={"cut-model": "cut", "locked-model": "401"})
    with server:
        yield server


@pytest.fixture(scope="module")
def locked():
    with FaultServer(fault="401") as url:
        yield url


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture(scope="module")
def app(chromium, gateway, locked, tmp_path_factory):
    """``streamlit run app.py`` on its own data folder; yields (url, data folder, log)."""
    folder = tmp_path_factory.mktemp("browser-faults")
    data = folder / "data"
    data.mkdir()
    (data / "connections.json").write_text(json.dumps([
        {"name": "Faulty", "kind": "custom", "base_url": gateway.base_url, "timeout": 3.0,
         "max_retries": 0},
        {"name": "Stopped", "kind": "custom", "base_url": closed_port_url(), "timeout": 3.0,
         "max_retries": 0},
        {"name": "Locked", "kind": "custom", "base_url": locked, "timeout": 3.0,
         "max_retries": 0},
    ]))
    environment = clean_environment(PLAYGROUND_DATA_DIR=str(data))
    log = folder / "streamlit.log"
    with streamlit_app(environment, log) as (url, process):
        try:
            yield url, data, log
        finally:
            children = _children(process.pid)  # the local server the app's launcher started
    for child in children:
        try:
            os.kill(child, 15)
        except ProcessLookupError:
            pass


@pytest.fixture
def tab(browser, app):
    """A fresh browser session on the app's first page."""
    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1100},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(app[0])
    settle(page)
    yield page
    context.close()


def settle(page: Page) -> None:
    wait_until_idle(page, timeout_ms=120_000)


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar")


def choose(scope, page: Page, label: str, option: str) -> None:
    scope.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def connect(page: Page, name: str) -> None:
    choose(sidebar(page), page, "Connection", name)


def open_page(page: Page, title: str) -> None:
    open_page_within(page, title, timeout_ms=120_000)


def main_text(page: Page, pattern: str):
    return page.get_by_test_id("stMain").get_by_text(re.compile(pattern))


def no_traceback(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.inner_text("body")


def test_completions_against_a_stopped_endpoint_keeps_the_prompt(tab: Page):
    page = tab
    connect(page, "Stopped")
    expect(sidebar(page).get_by_text(re.compile("Could not connect"))).to_be_visible()
    model_id = sidebar(page).get_by_role("textbox", name="Model id", exact=True)
    model_id.fill("fault-model")
    model_id.press("Enter")
    settle(page)
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("Once upon a time")
    page.get_by_role("button", name="Run", exact=True).click()
    settle(page)
    expect(main_text(page, r"Could not connect to the endpoint.*refused")).to_be_visible()
    expect(main_text(page, "Check the base URL")).to_be_visible()
    expect(prompt).to_have_value("Once upon a time")
    no_traceback(page)


def test_completions_shows_html_and_script_in_a_reply_as_text(tab: Page):
    page = tab
    connect(page, "Faulty")
    choose(sidebar(page), page, "Model", "html-model")
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Say something in markup")
    page.get_by_text("More parameters").click()
    page.get_by_role("spinbutton", name="Log-probabilities", exact=True).fill("1")
    page.get_by_role("button", name="Run", exact=True).click()
    settle(page)
    output = page.get_by_test_id("stCode").first
    expect(output).to_have_text(MARKUP)
    assert page.evaluate("() => window.__pwned") is None
    main = page.get_by_test_id("stMain")
    expect(main.locator("b", has_text="bold")).to_have_count(0)
    expect(main.locator("script", has_text="__pwned")).to_have_count(0)
    no_traceback(page)


def test_chat_with_a_cut_stream_keeps_the_partial_reply(tab: Page):
    page = tab
    connect(page, "Faulty")
    open_page(page, "Chat")
    choose(sidebar(page), page, "Model", "cut-model")
    page.get_by_test_id("stChatInputTextArea").fill("Tell me a story")
    page.get_by_test_id("stChatInputTextArea").press("Enter")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    settle(page)
    expect(messages.nth(0)).to_contain_text("Tell me a story")
    partial = messages.nth(1).get_by_test_id("stCode").inner_text()
    assert partial and DEFAULT_REPLY.startswith(partial) and partial != DEFAULT_REPLY
    expect(messages.nth(1).get_by_text(re.compile("^Incomplete: .*broke off"))).to_be_visible()
    no_traceback(page)


def test_compare_with_one_failing_cell(tab: Page, gateway):
    page = tab
    connect(page, "Faulty")
    open_page(page, "Compare")
    message = page.get_by_role("textbox", name="User message", exact=True)
    message.fill("Describe the sea.")
    message.press("Tab")
    settle(page)
    gateway.reset()
    gateway.fail_first, gateway.fail_with = 1, "503"
    try:
        page.get_by_role("button", name="Run grid").click()
        expect(page.get_by_text("4 cells: 3 ok, 1 failed")).to_be_visible()
    finally:
        gateway.fail_first = 0
    settle(page)
    expect(main_text(page, r"The server failed \(503\)")).to_have_count(1)
    # Streamlit loads its code block lazily: wait for the texts rather than read them at once.
    expect(page.get_by_test_id("stCode")).to_have_text([DEFAULT_REPLY] * 3)
    expect(message).to_have_value("Describe the sea.")
    page.get_by_role("button", name="Re-run the failed cell").click()
    expect(page.get_by_text("4 cells: 4 ok")).to_be_visible()
    no_traceback(page)


def test_models_with_a_key_refused(tab: Page):
    page = tab
    open_page(page, "Models")
    search = page.get_by_role("textbox", name="Search", exact=True)
    search.fill("smollm")
    search.press("Enter")
    settle(page)
    connect(page, "Locked")
    key = sidebar(page).get_by_label("API key", exact=True)
    key.fill("gwkey-wrong-one")
    key.press("Enter")
    settle(page)
    expect(main_text(page, r"The server refused the API key \(401\)")).to_be_visible()
    expect(main_text(page, "Check the API key")).to_be_visible()
    expect(key).to_have_value("gwkey-wrong-one")
    no_traceback(page)
    connect(page, "Local models")
    expect(search).to_have_value("smollm")


VISIBLE_AND_ATTRIBUTES = """() => {
    const parts = [document.body.innerText, location.href];
    for (const element of document.querySelectorAll('*')) {
        if (element.tagName === 'INPUT' && element.type === 'password') continue;
        for (const attribute of element.attributes) parts.push(attribute.value);
        if ('value' in element && typeof element.value === 'string') parts.push(element.value);
    }
    return parts.join('\\n');
}"""


def test_a_typed_key_stays_in_its_masked_field(tab: Page, app, gateway):
    """The key typed in the browser reaches the server, and nothing else: not the page, its
    URL, a download, the data folder, the local server's log or streamlit's output."""
    page = tab
    url, data, log = app
    seen: list[str] = []
    connect(page, "Faulty")
    key = sidebar(page).get_by_label("API key", exact=True)
    key.fill(KEY)
    key.press("Enter")
    settle(page)
    assert key.get_attribute("type") == "password"
    masked = f"Key: {KEY[:3]}…{KEY[-4:]} (typed in the sidebar)"
    expect(sidebar(page).get_by_text(masked)).to_be_visible()
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("Once upon a time")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_test_id("stCode").first).to_have_text(DEFAULT_REPLY)
    settle(page)
    page.get_by_text("View code").click()
    expect(page.get_by_text("OPENAI_API_KEY").first).to_be_visible()
    seen.append(page.evaluate(VISIBLE_AND_ATTRIBUTES))

    choose(sidebar(page), page, "Model", "locked-model")
    page.get_by_role("button", name="Run", exact=True).click()
    settle(page)
    expect(main_text(page, r"401.*key hidden")).to_be_visible()
    expect(prompt).to_have_value("Once upon a time")
    seen.append(page.evaluate(VISIBLE_AND_ATTRIBUTES))

    open_page(page, "Usage")
    page.get_by_role("tab", name="Requests").click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download .* as CSV")).click()
    exported = Path(download.value.path()).read_bytes()
    assert b"locked-model" in exported
    seen.append(page.evaluate(VISIBLE_AND_ATTRIBUTES))
    expect(key).to_have_value(KEY)  # the one place it is: its own masked field

    assert f"Bearer {KEY}" in {received.authorization for received in gateway.requests}
    for number, text in enumerate(seen):
        assert KEY not in text, f"view {number}"
    assert KEY.encode() not in exported
    files = [path for path in data.rglob("*") if path.is_file()]
    assert "local-server.log" in {path.name for path in files}
    for path in [*files, log]:
        assert KEY.encode() not in path.read_bytes(), path
