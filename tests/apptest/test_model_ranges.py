"""Output limits take the chosen model's range: shown in the field, checked before sending.

The local models list an 8,192-token context, so 10000 is refused on the page, with the
model's range, and nothing is sent.
"""

from __future__ import annotations

from ui.chat import keys as chat_keys
from ui.common import params
from ui.completions import keys as completions_keys

REFUSED = "max_tokens must be 1 to 8192 for this model; got 10000."


def _errors(at) -> list[str]:
    return [element.value.replace("\\", "") for element in at.error]


def test_completions_refuse_more_tokens_than_the_local_models_context(app):
    field = app.get_by_key(params.widget_key("completions", "max_tokens"))
    assert field.placeholder == "not set (1 to 8192 for this model)"
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    field.set_value(10000)
    next(button for button in app.button if button.label == "Run").click().run()
    assert not app.exception, app.exception
    assert REFUSED in _errors(app)
    assert any("nothing was sent" in warning.value for warning in app.warning)
    assert app.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == "Once upon a time"


def test_chat_refuses_more_tokens_than_the_local_models_context(app):
    app.switch_page("pages/chat.py").run()
    field = app.get_by_key(params.widget_key("chat", "max_tokens"))
    assert field.placeholder == "not set (1 to 8192 for this model)"
    field.set_value(10000).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value("Hello").run()
    assert not app.exception, app.exception
    assert any(REFUSED in error for error in _errors(app))
    messages = app.session_state[chat_keys.CHAT_CONVERSATION].messages
    assert [(m.role, m.content) for m in messages] == [("user", "Hello")]


def test_completions_offer_the_local_servers_100_alternatives(app):
    field = app.get_by_key(params.widget_key("completions", "logprobs"))
    assert field.placeholder == "not set (0 to 100 on the local server)"
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Once upon a time")
    field.set_value(101)
    next(button for button in app.button if button.label == "Run").click().run()
    assert not app.exception, app.exception
    assert "logprobs must be 0 to 100 on the local server; got 101." in _errors(app)
