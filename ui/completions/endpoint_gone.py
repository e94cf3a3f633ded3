"""The Completions page's notice for a model without the legacy /v1/completions endpoint
(every OpenAI model today), and its way out: the prompt as the first message in Chat."""

from __future__ import annotations

import streamlit as st

from playground.capabilities import Capabilities
from playground.chat import Conversation
from ui import chat
from ui.common import pages, state
from ui.common.text import plain

OPEN_IN_CHAT = "Open the prompt in Chat"


def notice(accepts: Capabilities) -> bool:
    """Say so when the model has no completions endpoint; returns whether it has one."""
    if not accepts.model or accepts.legacy_completions:
        return True
    st.warning(plain(f"{accepts.model} has no /v1/completions endpoint. "
                     f"{accepts.completions_reason()} Chat speaks to it: {OPEN_IN_CHAT} "
                     "starts a conversation with it."), icon=":material/block:")
    return False


def open_in_chat(model: str, prompt: str) -> None:
    """A new conversation whose first message is the prompt, open on the Chat page."""
    conversation = Conversation(model=model)
    conversation.add("user", prompt)
    chat.open_conversation(conversation)
    state.send_model(model)
    st.switch_page(pages.CHAT)
