"""The Chat and Completions pages against an emulator of today's OpenAI API.

Reasoning models get max_completion_tokens and reasoning effort, and the controls they
refuse are disabled with the reason before anything is sent; the Completions page says up
front that OpenAI's models have no completions endpoint and opens the prompt in Chat; a
parameter a server refused once is disabled from then on, in this session and the next.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator
from ui.chat import keys as chat_keys
from ui.common import params, response_format, state
from ui.completions import keys as completions_keys

APP = Path(__file__).resolve().parents[2] / "app.py"
# Models without a built-in profile: the app only learns what they refuse from the server.
HOUSE_REASONER = EmulatedModel("house-reasoner", ("low", "medium", "high"), "medium")
HOUSE_CHAT = EmulatedModel("house-chat")


@pytest.fixture
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_REASONER, HOUSE_CHAT))
    with server:
        yield server


def on_emulator(at, base_url: str, page: str, model: str):
    """The page on the emulator, through the vLLM preset with its base URL changed."""
    at.switch_page(page).run()
    at.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    at.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(base_url).run()
    at.sidebar.selectbox(key=state.MODEL).select(model).run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key=state.MODEL).value == model
    return at


@pytest.fixture
def chat(app, emulator):
    return lambda model: on_emulator(app, emulator.base_url, "pages/chat.py", model)


def control(at, name: str):
    return at.get_by_key(params.widget_key("chat", name))


def say(at, text: str):
    at.chat_input(key=chat_keys.CHAT_INPUT).set_value(text).run()
    assert not at.exception, at.exception
    return at


def captions(at) -> str:
    return "\n".join(c.value.replace("\\", "") for c in at.caption)


def replies(at) -> list[str]:
    return [block.value for message in at.chat_message for block in message.code]


def test_chat_sends_max_completion_tokens_and_reasoning_effort_to_a_reasoning_model(chat, emulator):
    page = chat("o4-mini")
    assert control(page, "temperature").disabled
    assert control(page, "max_tokens").disabled
    shown = captions(page)
    assert "o4-mini (o-series) refuses temperature while it reasons" in shown
    assert "Set Max completion tokens instead" in shown
    effort = control(page, "reasoning_effort")
    assert effort.options == ["the model's default", "low", "medium", "high"]
    effort.set_value("low").run()
    control(page, "max_completion_tokens").set_value(200).run()
    say(page, "What is the capital of France?")
    body = emulator.posts()[-1]
    assert body["max_completion_tokens"] == 200 and body["reasoning_effort"] == "low"
    assert "max_tokens" not in body and "temperature" not in body
    assert replies(page)[-1] == "Paris is the capital of France"
    assert "22 tokens · 16 of them reasoning" in captions(page)  # 6 words + 16 reasoning


def test_a_max_tokens_set_for_another_model_goes_as_max_completion_tokens(chat, emulator):
    page = chat("gpt-4.1")
    assert not control(page, "max_tokens").disabled
    assert control(page, "reasoning_effort").disabled
    control(page, "max_tokens").set_value(50).run()
    page.sidebar.selectbox(key=state.MODEL).select("gpt-5").run()
    say(page, "Hello")
    body = emulator.posts()[-1]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_gpt_5_1_takes_temperature_only_at_effort_none(chat, emulator):
    page = chat("gpt-5.1")
    assert not control(page, "temperature").disabled
    control(page, "reasoning_effort").set_value("low").run()
    assert control(page, "temperature").disabled
    assert 'Set reasoning effort to "none" to use it.' in captions(page)


def test_send_anyway_sends_what_the_model_refuses_and_shows_the_servers_answer(chat, emulator):
    page = chat("o4-mini")
    page.checkbox(key=params.widget_key("chat", "send_anyway")).check().run()
    assert not control(page, "temperature").disabled
    control(page, "temperature").set_value(0.5).run()
    say(page, "Hello")
    assert emulator.posts()[-1]["temperature"] == 0.5
    shown = "\n".join(e.value.replace("\\", "") for e in page.error)
    assert "Unsupported value: 'temperature' does not support 0.5" in shown
    assert replies(page) == ["Hello"]  # the message is kept


def test_a_parameter_refused_once_is_disabled_from_then_on(chat, emulator, data_dir):
    page = chat("house-reasoner")
    assert not control(page, "temperature").disabled  # nothing known about it yet
    control(page, "temperature").set_value(0.5).run()
    say(page, "Hello")
    assert emulator.posts()[-1]["temperature"] == 0.5
    assert control(page, "temperature").disabled
    assert "The server refused temperature for house-reasoner" in captions(page)
    page.button(key=chat_keys.chat_action("reply", "-")).click().run()  # Get a reply
    assert "temperature" not in emulator.posts()[-1]
    assert replies(page)[-1] == "Paris is the capital of France"

    later = AppTest.from_file(str(APP), default_timeout=120)  # a new session: remembered
    later.run()
    later = on_emulator(later, emulator.base_url, "pages/chat.py", "house-reasoner")
    assert control(later, "temperature").disabled


def test_a_json_schema_reply_is_checked_and_shown_as_a_tree(app, data_dir):
    with OpenAIEmulator(valid_json=False) as base_url:
        page = on_emulator(app, base_url, "pages/chat.py", "gpt-4.1")
        page.radio(key=response_format.key("chat", "kind")).set_value("json_schema").run()
        say(page, "Tell me about Paris")
    labels = [e.label for e in page.expander]
    assert "Structured reply: 3 violations" in labels, labels
    tree = "\n".join(m.value for m in page.markdown)
    assert "is not of type" in tree and "✗" in tree


def test_completions_says_up_front_that_openai_has_no_completions(app, emulator):
    page = on_emulator(app, emulator.base_url, "pages/completions.py", "gpt-4.1")
    warning = "\n".join(w.value.replace("\\", "") for w in page.warning)
    assert "gpt-4.1 has no /v1/completions endpoint" in warning and "2026-09-28" in warning
    assert emulator.posts("/completions") == []
    page.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Write a haiku about tea")
    next(b for b in page.button if b.label == "Open the prompt in Chat").click().run()
    assert not page.exception, page.exception
    conversation = page.session_state[chat_keys.CHAT_CONVERSATION]
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Write a haiku about tea")]
    assert replies(page) == ["Write a haiku about tea"]
    assert emulator.posts("/completions") == []


def test_completions_learns_that_a_model_has_no_completions(app, emulator):
    page = on_emulator(app, emulator.base_url, "pages/completions.py", "house-chat")
    assert not page.warning
    page.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    next(b for b in page.button if b.label == "Run").click().run()
    assert len(emulator.posts("/completions")) == 1
    page.run()
    warning = "\n".join(w.value.replace("\\", "") for w in page.warning)
    assert "house-chat has no /v1/completions endpoint" in warning
    assert "This is a chat model" in warning
