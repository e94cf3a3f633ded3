"""Asking the model for a reply, and the reply joining its conversation.

The user's message is in the conversation (and saved) before anything is sent, so no
failure can lose it. The reply streams through ``output.run_live`` (Stop button included),
which keeps its outcome in session state. The page is then run again and, before drawing
anything, ``absorb_reply`` adds that outcome to the conversation it was asked for. That
holds for a Stop too: Streamlit stops the script and runs it again at once on another
thread, while the stopped run may no longer touch session state; ``output.kept`` waits for
the stopped run to hand over what arrived.

A reply being regenerated is set aside, and put back when the new request fails or stops
before any text arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from playground import chat
from playground.chat import Conversation, Message
from playground.connection import Connection
from playground.errors import InvalidParameters, PlaygroundError
from ui.chat import context_budget, keys, saved
from ui.common import model_accepts, models, output
from ui.common.errors import show_error
from ui.common.params import ParamInputs
from ui.common.recording import recorder
from ui.common.text import plain

PAGE = "Chat"


@dataclass
class Pending:
    """What a reply in flight needs to join its conversation."""

    conversation: Conversation
    replacing: Message | None = None
    dropped: list[str] = field(default_factory=list)


def request_reply(replacing: Message | None = None) -> None:
    """Ask for a reply on this run (from a callback, or before the transcript is drawn)."""
    st.session_state[keys.CHAT_SEND] = replacing or True


def build(conversation: Conversation, conn: Connection, model: str | None,
          inputs: ParamInputs, budget: context_budget.Budget) -> dict[str, Any] | PlaygroundError:
    """The request the next reply sends (View code shows it too), or why there is none.

    Over budget and refused, it holds the whole conversation: the code still shows it.
    """
    messages = budget.plan.messages if budget.plan else conversation.api_messages()
    try:
        models.require_model(conn, model)
        return inputs.build_request(conn, model, messages=messages)
    except PlaygroundError as exc:
        return exc


def reply_if_asked(conversation: Conversation, conn: Connection, inputs: ParamInputs,
                   budget: context_budget.Budget,
                   request: dict[str, Any] | PlaygroundError) -> None:
    """Send ``request`` when a reply was asked for, streaming it into a new bubble; then
    run the page again, which adds the reply (``absorb_reply``)."""
    asked = st.session_state.pop(keys.CHAT_SEND, None)
    if not asked:
        return
    replacing = asked if isinstance(asked, Message) else None
    if budget.refusal is not None or isinstance(request, PlaygroundError):
        _restore(conversation, replacing)
        if isinstance(request, InvalidParameters):
            inputs.show_errors(request.errors, fallback=st)
            st.warning(plain(request.hint))
        else:
            show_error(budget.refusal or request)
        return
    conversation.model = request["model"]
    st.session_state[keys.CHAT_PENDING] = Pending(conversation, replacing,
                                                   list(budget.plan.dropped))
    with st.chat_message("assistant"):
        try:
            output.run_live(recorder(PAGE), conn, "chat", request, state_key=keys.CHAT_OUTCOME)
        except PlaygroundError as exc:
            model_accepts.learn(conn, request["model"], "chat", request, exc)
            st.session_state.pop(keys.CHAT_PENDING, None)
            _restore(conversation, replacing)
            saved.save(conversation, conn)
            st.session_state[keys.CHAT_FAILURE] = exc
    st.rerun()


def absorb_reply() -> None:
    """Add the reply the previous run asked for to its conversation, and save it."""
    outcome = output.kept(keys.CHAT_OUTCOME)
    pending = st.session_state.pop(keys.CHAT_PENDING, None)
    st.session_state[keys.CHAT_OUTCOME] = None
    if outcome is None or pending is None:
        return
    conversation, result = pending.conversation, outcome.result
    replies = [] if result is None else chat.replies_from(
        result, first_text={index: first for index, (first, _) in outcome.timing.items()})
    for message in replies:
        message.dropped = list(pending.dropped)
    if result is not None and result.error is not None:
        st.session_state[keys.CHAT_FAILURE] = result.error
    if any(message.content for message in replies) or (replies and not result.incomplete):
        conversation.offer(replies)
    else:
        _restore(conversation, pending.replacing)
        if outcome.stopped:
            st.session_state[keys.CHAT_NOTICE] = "Stopped before any text arrived."
    saved.save(conversation, outcome.connection)


def _restore(conversation: Conversation, replacing: Message | None) -> None:
    if replacing is not None:
        conversation.offer([replacing])
