"""Chat: a system message and an editable transcript, sent whole to /v1/chat/completions."""

import streamlit as st

from playground.errors import PlaygroundError
from ui.chat import context_budget, example, keys, saved, send, structured_view, transcript
from ui.common import code_view, distribution_view, model_accepts, pages, params, sidebar
from ui.common.errors import show_error
from ui.common.text import plain

ENDPOINT = "chat"

pages.within_app()  # first: a page opened by a link on a fresh server
conn, model = sidebar.render()
send.absorb_reply()  # the reply the previous run streamed (or stopped) joins its conversation
conversation = saved.current()
saved.render(conversation, conn)
st.title("Chat")
st.caption(plain(f"{model or 'No model chosen'} · {conn.name} · {conversation.display_title}"))

prompt = st.chat_input(
    "Pick one of the choices first" if conversation.choices else "Message the model",
    key=keys.CHAT_INPUT, submit_mode="disable", disabled=bool(conversation.choices))
if prompt:
    conversation.add("user", prompt)
    saved.save(conversation, conn)  # saved before sending: a failure cannot lose it
    send.request_reply()

talk, side = st.columns([3, 1.3], gap="large")
with side:
    st.subheader("Parameters")
    st.session_state.setdefault(params.widget_key(ENDPOINT, "stream"), True)  # replies stream
    inputs = params.render(ENDPOINT, columns=1, accepts=model_accepts.load(conn, model))
    reserve = inputs.values.get("max_completion_tokens") or inputs.values.get("max_tokens")
    budget = context_budget.render(conversation, conn, model, reserve=reserve or 0)
    request = send.build(conversation, conn, model, inputs, budget)
    if isinstance(request, PlaygroundError):
        st.caption(plain(f"No code to view yet: {request}"))
    else:
        code_view.render(conn, ENDPOINT, request)

with talk:
    example.render(conn, model)
    transcript.system_box(conversation, conn)
    transcript.render(conversation, conn, set(budget.plan.dropped if budget.plan else ()))
    structured_view.render_last_reply(conversation, inputs.values.get("response_format"))
    distribution_view.for_chat(conversation, request, conn)
    failure = st.session_state.pop(keys.CHAT_FAILURE, None)
    if failure is not None:
        show_error(failure)
    notice = st.session_state.pop(keys.CHAT_NOTICE, None)
    if notice:
        st.info(plain(notice))
    send.reply_if_asked(conversation, conn, inputs, budget, request)
    transcript.actions(conversation, conn)
