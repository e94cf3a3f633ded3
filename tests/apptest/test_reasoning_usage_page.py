"""Reasoning tokens from a Chat reply to the Usage page: counted within the completion tokens,
shown on their own, and never added to the total or the cost a second time."""

from __future__ import annotations

import pytest

from openai_emulator import REASONING_TOKENS, OpenAIEmulator
from tests.apptest.test_todays_api import on_emulator, say
from ui.common import pages


@pytest.fixture
def emulator():
    with OpenAIEmulator() as base_url:
        yield base_url


def test_a_reasoning_reply_shows_its_reasoning_tokens_on_the_usage_page(app, emulator):
    chat = on_emulator(app, emulator, "pages/chat.py", "o4-mini")
    say(chat, "What is the capital of France?")
    reasoning = REASONING_TOKENS["medium"]
    session_total = " ".join(c.value.replace("\\", "") for c in chat.sidebar.caption)
    assert f"({reasoning} reasoning)" in session_total
    app.switch_page(pages.USAGE).run()
    assert not app.exception, app.exception
    metrics = {metric.label: metric for metric in app.main.metric}
    completion = int(metrics["Completion tokens"].value.replace(",", ""))
    assert completion > reasoning
    assert "inside the completion tokens" in metrics["Completion tokens"].help
    captions = " ".join(c.value.replace("\\", "") for c in app.main.caption)
    assert f"Reasoning: {reasoning} of the {completion} completion tokens" in captions
    assert "not added again" in captions
    per_model = app.main.expander[0].dataframe[0].value.set_index("Model")
    assert per_model.loc["o4-mini", "of which reasoning"] == reasoning
    assert per_model.loc["o4-mini", "Completion tokens"] == completion
