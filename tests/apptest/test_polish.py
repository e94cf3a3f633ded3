"""What a new user stumbled on, page by page: the small things, checked on the pages."""

from __future__ import annotations

import socket

import pytest

from ui.chat import keys as chat_keys
from ui.common import pages, params, state
from ui.common.models import BASE_MODEL_NOTE
from ui.completions import keys as completions_keys


def test_the_stop_picker_offers_no_select_all(app):
    picker = app.multiselect(key=params.widget_key("completions", "stop"))
    assert picker.proto.select_all == 0  # Streamlit's code for "never"


def test_ask_both_ways_says_what_it_sends_beside_the_button_not_in_a_clipped_tooltip(app):
    app.switch_page(pages.CHAT).run()
    button = app.button(key=chat_keys.chat_action("example", "run"))
    assert not button.help
    captions = " ".join(caption.value.replace("\\", "") for caption in app.main.caption)
    assert "Sends both requests at once with temperature 0 and max_tokens 60." in captions


@pytest.fixture
def dead_openai(app):
    """The app on the OpenAI connection, pointed at a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("OpenAI").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "OpenAI")).input(
        f"http://127.0.0.1:{port}/v1").run()
    app.sidebar.text_input(key=state.connection_field("api_key", "OpenAI")).input(
        "sk-not-a-real-key").run()
    return app


def _texts(elements) -> list[str]:
    return [element.value.replace("\\", "") for element in elements]


def test_a_failing_connection_is_told_once_in_the_sidebar_and_once_on_the_page(dead_openai):
    app = dead_openai
    assert len(app.sidebar.error) == 1  # the model list's failure
    next(b for b in app.sidebar.button if b.label == "Test connection").click().run()
    (failure,) = _texts(app.sidebar.error)  # the test's report, not again for the models
    assert "Could not connect" in failure
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Hello").run()
    next(b for b in app.main.button if b.label in ("Run", "Run anyway")).click().run()
    assert not app.exception, app.exception
    (said,) = _texts(app.main.error)
    assert said.startswith("No model to send to: OpenAI could not list its models")
    assert "sidebar" in " ".join(_texts(app.main.caption))
    assert not app.main.warning  # no "Correct the marked fields" with no field marked


def test_chat_on_a_failing_connection_says_so_once_and_keeps_the_message(dead_openai):
    app = dead_openai
    app.switch_page(pages.CHAT).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello").run()
    assert not app.exception, app.exception
    (said,) = _texts(app.main.error)
    assert said.startswith("No model to send to")
    assert [m.content for m in app.session_state[chat_keys.CHAT_CONVERSATION].messages] == ["Hello"]


def _completions_field(app, name: str):
    return app.get_by_key(params.widget_key("completions", name))


def _run(app):
    next(b for b in app.main.button if b.label == "Run").click().run()
    assert not app.exception, app.exception


def test_a_result_under_settings_that_failed_their_checks_is_marked_as_the_previous_runs(app):
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    _completions_field(app, "max_tokens").set_value(2)
    _completions_field(app, "n").set_value(3)
    _run(app)
    assert len(app.session_state[completions_keys.COMPLETIONS_RESULT].result.choices) == 3
    assert not app.main.warning
    _completions_field(app, "n").set_value(1)
    _completions_field(app, "max_tokens").set_value(0)  # refused before sending
    _run(app)
    warnings = " ".join(_texts(app.main.warning))
    assert "previous run's result" in warnings and "were not sent" in warnings
    kept = app.session_state[completions_keys.COMPLETIONS_RESULT]
    assert len(kept.result.choices) == 3  # kept, marked
    _completions_field(app, "max_tokens").set_value(2)
    _run(app)
    assert "previous run's result" not in " ".join(_texts(app.main.warning))
    assert len(app.session_state[completions_keys.COMPLETIONS_RESULT].result.choices) == 1


def test_a_base_model_says_what_it_is_good_for_where_it_is_chosen_and_compares_completions(app):
    app.switch_page(pages.CHAT).run()
    assert BASE_MODEL_NOTE not in _texts(app.sidebar.info)  # SmolLM2 is an instruction model
    app.sidebar.selectbox(key=state.MODEL).select("gemma-3-270m").run()
    assert BASE_MODEL_NOTE.replace("\\", "") in _texts(app.sidebar.info)
    app.switch_page(pages.MODELS).run()
    app.selectbox[-1].select("gemma-3-270m").run()
    assert any("A base model" in note for note in _texts(app.main.info))
    next(b for b in app.button if b.label == "Open in Compare").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Compare"
    assert app.radio(key="compare.mode").value == "Completion"


def _choice_captions(app) -> list[str]:
    return [caption for caption in _texts(app.main.caption) if caption.startswith("finish_reason")]


def test_every_completions_panel_says_its_tokens_and_agrees_with_usage(app):
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    _completions_field(app, "max_tokens").set_value(2)
    _completions_field(app, "n").set_value(2)
    _run(app)
    usage = app.session_state[completions_keys.COMPLETIONS_RESULT].result.usage
    unsplit = (f"tokens not counted per choice: {usage['completion_tokens']} for all 2 "
               "(set logprobs to count each)")
    captions = _choice_captions(app)
    assert len(captions) == 2 and all(unsplit in caption for caption in captions)
    _completions_field(app, "logprobs").set_value(1)
    _run(app)
    assert all(" · 2 tokens · " in caption for caption in _choice_captions(app))
