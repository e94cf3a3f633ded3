"""The transcript: each message as plain text with its facts and actions, its editor, the
choices waiting to be picked, and the buttons that ask for a reply.

Every change runs in a button callback (before the page is drawn again) and is saved at
once. Message text is model output or the user's: it is shown with ``st.code``, or as
Markdown when "Render as Markdown" is on (HTML in it still shows as text).
"""

from __future__ import annotations

import streamlit as st

from playground import chat, logprobs
from playground.chat import Conversation, Message
from playground.connection import Connection
from ui import compare
from ui.chat import keys, saved, send
from ui.common import pages, state, token_view
from ui.common.output import choice_title, markdown_switch, show_text
from ui.common.text import plain

AVATARS = {"system": ":material/settings:", "user": "user", "assistant": "assistant"}


def system_box(conversation: Conversation, conn: Connection) -> None:
    """The system message, sent first (when not empty) with every request."""
    if keys.CHAT_SYSTEM not in st.session_state:
        st.session_state[keys.CHAT_SYSTEM] = conversation.system
    st.text_area("System message", key=keys.CHAT_SYSTEM, height=80,
                 persist_state=state.PERSIST, placeholder="You are a helpful assistant.",
                 on_change=_system_changed,
                 args=(conversation, conn),
                 help="Sets the assistant's role and rules. It is sent first with every "
                      "request and is never dropped to fit the context budget.")


def render(conversation: Conversation, conn: Connection, upcoming_drops: set[str]) -> None:
    """Every message; ``upcoming_drops`` are those the next request would leave out."""
    editor = st.session_state.get(keys.CHAT_EDITOR)
    last = conversation.last_reply
    left_out = set(last.dropped) if last is not None else set()
    if conversation.messages:
        markdown_switch()
    for position, message in enumerate(conversation.messages, start=1):
        with st.chat_message(message.role, avatar=AVATARS[message.role]):
            if editor == ("edit", message.id):
                _editor(conversation, conn, message)
                continue
            _message(message, position)
            notes = []
            if message.id in left_out:
                notes.append("left out of the last request to fit the context budget")
            if message.id in upcoming_drops:
                notes.append("the next request leaves it out")
            if notes:
                st.caption(plain("✂ " + "; ".join(notes).capitalize() + "."))
            _toolbar(conversation, conn, message)
        if editor == ("insert", message.id):
            _new_message_editor(conversation, conn, after=message.id)
    if editor == ("insert", None):
        _new_message_editor(conversation, conn, after=None)
    _choices(conversation, conn)


def _message(message: Message, position: int) -> None:
    if message.content:
        show_text(message.content)
    else:
        st.caption("(empty)")
    st.caption(plain(_facts(message, position)))
    if message.incomplete:
        why = f"Incomplete: {message.error}" if message.error else "Incomplete: stopped."
        st.warning(plain(why), icon=":material/content_cut:")
    if message.logprobs:
        with st.expander("Token probabilities"):
            token_view.render(logprobs.tokens_of({"content": message.logprobs}))


def _facts(message: Message, position: int) -> str:
    """One line: position, role, tokens, and for a generated reply its timing and finish."""
    parts = [f"#{position} {message.role}"]
    if message.tokens is not None:
        exact = "" if message.tokens_exact else " (estimated)"
        parts.append(f"{message.tokens:,} tokens{exact}")
        if message.reasoning_tokens:
            parts.append(f"{message.reasoning_tokens:,} of them reasoning")
    if message.latency is not None:
        parts.append(f"{message.latency:.2f} s")
        if message.time_to_first_token is not None:
            parts.append(f"first token {message.time_to_first_token:.2f} s")
        if message.prompt_tokens is not None:
            parts.append(f"prompt {message.prompt_tokens:,} tokens (server)")
        parts.append(f"finish: {message.finish_reason or _no_finish(message)}")
        if message.model:
            parts.append(message.model)
    if message.edited:
        parts.append("edited")
    return " · ".join(parts)


def _no_finish(message: Message) -> str:
    if not message.incomplete:
        return "none"
    return "none (cut short)" if message.error else "none (stopped)"


def _toolbar(conversation: Conversation, conn: Connection, message: Message) -> None:
    bar = st.container(horizontal=True, gap="small")
    actions = (
        ("edit", "Edit", ":material/edit:", _open_editor, "Change the text or the role."),
        ("insert", "Insert below", ":material/add:", _open_inserter,
         "Write a user or assistant message by hand after this one (few-shot examples)."),
        ("branch", "Branch", ":material/call_split:", _branch,
         "A new conversation with the messages up to this one; this one stays as it is."),
        ("delete", "Delete", ":material/delete:", _delete, "Remove this message."),
    )
    for action, label, icon, callback, help_text in actions:
        bar.button(label, icon=icon, type="tertiary", help=help_text,
                   key=keys.chat_action(action, message.id),
                   on_click=callback, args=(conversation, conn, message.id))


def _editor(conversation: Conversation, conn: Connection, message: Message) -> None:
    _editor_fields()
    bar = st.container(horizontal=True)
    bar.button("Save", type="primary", icon=":material/check:",
               key=keys.chat_action("save", message.id),
               on_click=_save_edit, args=(conversation, conn, message.id))
    bar.button("Cancel", key=keys.chat_action("cancel", message.id), on_click=_close_editor)


def _editor_fields() -> None:
    """Role and text of the message being edited; kept across a visit to another page."""
    st.selectbox("Role", chat.ROLES, key=keys.CHAT_EDIT_ROLE, persist_state=state.PERSIST)
    st.text_area("Text", key=keys.CHAT_EDIT_TEXT, height=140, persist_state=state.PERSIST)


def _new_message_editor(conversation: Conversation, conn: Connection, *, after: str | None) -> None:
    with st.chat_message("user", avatar=":material/edit_note:"):
        st.caption("A message written by hand: it is added without asking the model.")
        _editor_fields()
        bar = st.container(horizontal=True)
        bar.button("Add", type="primary", icon=":material/check:",
                   key=keys.chat_action("add", after or "end"),
                   on_click=_add, args=(conversation, conn, after))
        bar.button("Cancel", key=keys.chat_action("cancel", after or "end"),
                   on_click=_close_editor)


def _choices(conversation: Conversation, conn: Connection) -> None:
    if not conversation.choices:
        return
    st.info("The model gave several choices: pick the one that continues the conversation.",
            icon=":material/alt_route:")
    for index, (cell, choice) in enumerate(zip(st.columns(len(conversation.choices)),
                                                conversation.choices)):
        with cell, st.container(border=True):
            choice_title(index)
            _message(choice, len(conversation.messages) + 1)
            st.button("Continue with this one", key=keys.chat_action("pick", str(index)),
                      type="primary", on_click=_pick, args=(conversation, conn, index))


def actions(conversation: Conversation, conn: Connection) -> None:
    """Ask for a reply (again), or add a message by hand."""
    bar = st.container(horizontal=True)
    if conversation.messages:
        last_is_reply = conversation.messages[-1].role == "assistant"
        bar.button("Regenerate" if last_is_reply or conversation.choices else "Get a reply",
                   icon=":material/refresh:" if last_is_reply else ":material/send:",
                   key=keys.chat_action("reply", "-"), on_click=_request_reply,
                   args=(conversation,),
                   help="Replace the last reply with a new one." if last_is_reply else
                        "Send the conversation as it is and add the model's reply.")
    if not conversation.choices:  # a message added now would come before the picked one
        bar.button("Add a message by hand", icon=":material/edit_note:",
                   key=keys.chat_action("insert", "end"), on_click=_open_inserter,
                   args=(conversation, conn, None))
    if conversation.messages and bar.button(
            "Compare settings", icon=":material/compare:", key=keys.chat_action("compare", "-"),
            help="Open this conversation on the Compare page, to send it across a grid of "
                 "temperatures, top_p values, penalties or models side by side."):
        compare.take_conversation(conversation.api_messages())
        st.switch_page(pages.COMPARE)


# -- callbacks ------------------------------------------------------------------------------

def _system_changed(conversation: Conversation, conn: Connection) -> None:
    conversation.system = st.session_state.get(keys.CHAT_SYSTEM) or ""
    conversation.touch()
    saved.save(conversation, conn)


def _open_editor(conversation: Conversation, conn: Connection, message_id: str) -> None:
    message = conversation.get(message_id)
    st.session_state[keys.CHAT_EDIT_ROLE] = message.role
    st.session_state[keys.CHAT_EDIT_TEXT] = message.content
    st.session_state[keys.CHAT_EDITOR] = ("edit", message_id)


def _open_inserter(conversation: Conversation, conn: Connection, after: str | None) -> None:
    previous = conversation.get(after) if after else (
        conversation.messages[-1] if conversation.messages else None)
    st.session_state[keys.CHAT_EDIT_ROLE] = (
        "assistant" if previous is not None and previous.role == "user" else "user")
    st.session_state[keys.CHAT_EDIT_TEXT] = ""
    st.session_state[keys.CHAT_EDITOR] = ("insert", after)


def _close_editor() -> None:
    st.session_state.pop(keys.CHAT_EDITOR, None)


def _save_edit(conversation: Conversation, conn: Connection, message_id: str) -> None:
    conversation.edit(message_id, content=st.session_state.get(keys.CHAT_EDIT_TEXT) or "",
                      role=st.session_state.get(keys.CHAT_EDIT_ROLE))
    _close_editor()
    saved.save(conversation, conn)


def _add(conversation: Conversation, conn: Connection, after: str | None) -> None:
    conversation.add(st.session_state.get(keys.CHAT_EDIT_ROLE) or "user",
                     st.session_state.get(keys.CHAT_EDIT_TEXT) or "", after=after)
    _close_editor()
    saved.save(conversation, conn)


def _delete(conversation: Conversation, conn: Connection, message_id: str) -> None:
    conversation.delete(message_id)
    saved.save(conversation, conn)


def _branch(conversation: Conversation, conn: Connection, message_id: str) -> None:
    branch = conversation.branch(message_id)
    saved.save(branch, conn)
    saved.show(branch)
    st.session_state[keys.CHAT_NOTICE] = (
        f"Branched: this is a new conversation; “{conversation.display_title}” is kept as "
        "it was.")


def _pick(conversation: Conversation, conn: Connection, index: int) -> None:
    conversation.pick(index)
    saved.save(conversation, conn)


def _request_reply(conversation: Conversation) -> None:
    send.request_reply(replacing=conversation.take_last_reply())
