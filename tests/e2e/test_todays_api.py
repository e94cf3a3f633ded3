"""Today's OpenAI API in a real browser: the OpenAI preset pointed at the loopback emulator.

The app runs with OPENAI_BASE_URL naming the emulator and a key bound to it, as an owner
would point it at a gateway. Chat sends max_completion_tokens and a reasoning effort to a
reasoning model and disables temperature with the reason; Completions says before anything
is sent that the model has no /v1/completions and opens the prompt in Chat; a parameter a
server refused once is disabled from then on, in a new session too. Screenshots go to
test-results/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.streamlit_page import clean_environment, open_page, screenshot, settle, streamlit_app
from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator

ROOT = Path(__file__).resolve().parents[2]
HOUSE_REASONER = EmulatedModel("house-reasoner", ("low", "medium", "high"), "medium")


@pytest.fixture(scope="module")
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_REASONER))
    with server:
        yield server


@pytest.fixture(scope="module")
def app_on_emulator(chromium, local_base_url, emulator, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("todays-api")
    environment = clean_environment(OPENAI_API_KEY="sk-emulator-key",
                                    OPENAI_BASE_URL=emulator.base_url,
                                    PLAYGROUND_LOCAL_URL=local_base_url,
                                    PLAYGROUND_DATA_DIR=str(folder / "data"))
    with streamlit_app(environment, folder / "streamlit.log") as (url, _process):
        yield url


@pytest.fixture
def session(browser, app_on_emulator):
    """Opens fresh browser sessions (each its own Streamlit session) on the app."""
    expect.set_options(timeout=60_000)
    contexts = []

    def open_session() -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        contexts.append(context)
        page = context.new_page()
        page.goto(app_on_emulator)
        settle(page)
        return page
    yield open_session
    for context in contexts:
        context.close()


def choose(scope, page: Page, label: str, option: str) -> None:
    box = scope.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.type(option)  # a selectbox at "not set" opens its list only once typed into
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def on_openai(page: Page, model: str, title: str) -> None:
    """The page ``title`` with the OpenAI preset (the emulator) and ``model`` chosen."""
    open_page(page, title)
    side = page.get_by_test_id("stSidebar")
    choose(side, page, "Connection", "OpenAI")
    choose(side, page, "Model", model)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def say(page: Page, text: str) -> None:
    chat = page.get_by_test_id("stChatInputTextArea")
    chat.fill(text)
    chat.press("Enter")
    settle(page)


def slider(page: Page, label: str):
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def test_chat_speaks_to_a_reasoning_model_as_it_wants(session, emulator):
    page = session()
    on_openai(page, "o4-mini", "Chat")
    expect(slider(page, "Temperature")).to_be_disabled()
    expect(page.get_by_text(re.compile(
        r"o4-mini \(o-series\) refuses temperature while it reasons"))).to_be_visible()
    expect(page.get_by_text("Set Max completion tokens instead", exact=False)).to_be_visible()
    choose(page, page, "Reasoning effort", "low")
    limit = page.get_by_role("spinbutton", name="Max completion tokens", exact=True)
    limit.fill("200")
    limit.press("Enter")
    settle(page)
    say(page, "What is the capital of France?")
    expect(page.get_by_test_id("stChatMessage").filter(
        has_text="Paris is the capital of France")).to_have_count(1)
    body = emulator.posts()[-1]
    assert body["model"] == "o4-mini"
    assert body["max_completion_tokens"] == 200 and body["reasoning_effort"] == "low"
    assert "max_tokens" not in body and "temperature" not in body
    expect(page.get_by_text(re.compile(r"of them reasoning"))).to_be_visible()
    screenshot(page, "todays-api-chat-reasoning.png")


def test_completions_says_the_endpoint_is_gone_and_opens_the_prompt_in_chat(session, emulator):
    page = session()
    on_openai(page, "gpt-4.1", "Completions")
    expect(page.get_by_text(re.compile(r"gpt-4\.1 has no /v1/completions endpoint"))
           ).to_be_visible()
    page.get_by_role("textbox", name="Prompt", exact=True).fill("Write a haiku about tea")
    screenshot(page, "todays-api-completions-gone.png")
    page.get_by_role("button", name="Open the prompt in Chat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    settle(page)
    expect(page.get_by_test_id("stChatMessage").filter(has_text="Write a haiku about tea")
           ).to_have_count(1)
    assert emulator.posts("/v1/completions") == []


def test_a_parameter_refused_once_is_disabled_from_then_on(session, emulator):
    page = session()
    on_openai(page, "house-reasoner", "Chat")
    temperature = slider(page, "Temperature")
    expect(temperature).to_be_enabled()
    temperature.focus()
    for _ in range(10):
        temperature.press("ArrowLeft")  # 1.0 to 0.5, a step of 0.05 each
    expect(temperature).to_have_value("0.5")
    page.wait_for_timeout(800)  # the slider sends its value a moment after the last key
    settle(page)
    say(page, "Hello")
    expect(page.get_by_test_id("stAlert").filter(has_text="temperature").first).to_be_visible()
    assert emulator.posts()[-1]["temperature"] == pytest.approx(0.5)
    expect(slider(page, "Temperature")).to_be_disabled()
    expect(page.get_by_text(re.compile(r"The server refused temperature for house-reasoner"))
           ).to_be_visible()
    screenshot(page, "todays-api-refused-once.png")

    later = session()  # another session, the same history file: still known
    on_openai(later, "house-reasoner", "Chat")
    expect(slider(later, "Temperature")).to_be_disabled()
    expect(later.get_by_text(re.compile(r"The server refused temperature for house-reasoner"))
           ).to_be_visible()
