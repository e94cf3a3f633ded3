"""The context budget panel: tokens used against the model's context, and what to do when
the messages do not fit.

The context length comes from the connection's model listing (the local server reports
it), else from ``catalog.KNOWN_MODELS``, else from the tokenizer's answer; the user may type
a lower limit to see trimming at work on a short conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from playground import catalog, chat
from playground.chat import Conversation, EstimatedCounter
from playground.connection import Connection
from playground.errors import ContextTooLong, PlaygroundError
from ui.chat import keys
from ui.common import models, state
from ui.common.text import plain


@dataclass(frozen=True)
class Budget:
    """The plan for the next request, or why it would be refused."""

    counter: EstimatedCounter
    plan: chat.Plan | None
    refusal: ContextTooLong | None


def counter_for(conn: Connection, model: str | None) -> EstimatedCounter:
    """One counter per connection and model for the session (it caches its counts)."""
    if not model:
        return EstimatedCounter()
    counters = st.session_state.setdefault(keys.CHAT_COUNTERS, {})
    if (conn, model) not in counters:
        counters[(conn, model)] = chat.ServerCounter(conn, model)
    return counters[(conn, model)]


def context_length(conn: Connection, model: str | None, counter: EstimatedCounter) -> int | None:
    if not model:
        return None
    try:
        listed = next((m for m in models.models_of(conn) if catalog.model_id(m) == model), {})
    except PlaygroundError:
        listed = {}
    known = catalog.facts(listed or {"id": model}).context_length
    return known or counter.context_length


def render(conversation: Conversation, conn: Connection, model: str | None,
           reserve: int) -> Budget:
    """The panel; ``reserve`` is the room kept for the reply (max_tokens, when set)."""
    counter = counter_for(conn, model)
    chat.count_missing([*conversation.messages, *conversation.choices], counter)
    known = context_length(conn, model, counter)
    st.subheader("Context budget")
    limit = st.number_input(
        "Limit (tokens)", min_value=1, value=None, step=256, key=keys.CHAT_LIMIT,
        persist_state=state.PERSIST,
        placeholder=f"{known:,}: the model's context" if known else "unknown: type one",
        help="The model's context length, unless you type a lower one to try trimming "
             "on a short conversation.")
    policy = st.radio("When the messages do not fit", list(chat.POLICIES),
                      format_func=chat.POLICIES.get, key=keys.CHAT_POLICY,
                      persist_state=state.PERSIST,
                      help="Refuse: nothing is sent until you shorten the conversation. "
                           "Drop: the oldest turns after the system message are left out "
                           "of the request (they stay in the transcript).")
    try:
        plan = chat.fit(conversation, counter, context_length=limit or known, reserve=reserve,
                        policy=policy)
        refusal = None
    except ContextTooLong as exc:
        plan, refusal = None, exc
    _meter(conversation, counter, limit or known, reserve, plan)
    if refusal is not None:
        st.error(plain(refusal.message), icon=":material/block:")
    elif plan is not None and plan.dropped:
        first, last = (conversation.index_of(i) + 1 for i in (plan.dropped[0], plan.dropped[-1]))
        st.warning(plain(f"Over budget: the next request leaves out messages #{first}–#{last} "
                         f"and sends {plan.sent} tokens."), icon=":material/content_cut:")
    return Budget(counter, plan, refusal)


def _meter(conversation: Conversation, counter: EstimatedCounter, context: int | None,
           reserve: int, plan: chat.Plan | None) -> None:
    used = plan.used if plan is not None else counter.count_messages(conversation.api_messages())
    if context is None:
        st.caption(plain(f"{used} tokens. The context length is unknown: type a limit to "
                         "check the budget."))
    else:
        available = max(context - reserve, 1)
        st.progress(min(used.tokens / available, 1.0),
                    text=plain(f"{used} of {available:,} tokens ({used.tokens / available:.0%})"))
        kept = f", less {reserve:,} kept for the reply (max_tokens)" if reserve else ""
        st.caption(plain(f"Context {context:,} tokens{kept}."))
    how = ("Counted by the server's tokenizer, chat template included." if used.exact else
           "Estimated at about 4 characters per token (~).")
    st.caption(plain(counter.problem or how))
    last = conversation.last_reply
    if last is not None and last.prompt_tokens is not None:
        st.caption(plain(f"The server reported {last.prompt_tokens:,} prompt tokens for the "
                         "last reply."))
