"""The open conversation and the saved ones: autosave, list, open, rename, delete, export.

The open ``Conversation`` lives in session state; every change the page makes to it is
followed by ``save``, so nothing typed is lost to a reload. A conversation is saved in the
usage database chosen in the sidebar (the ledger's file), once it holds anything.

A reload starts a new session, so the open conversation's id is also kept in the page's
address (``?conversation=…``): the new session opens it again.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from playground import chat
from playground.chat import Conversation
from playground.connection import Connection
from playground.conversations import ConversationStore
from playground.errors import PlaygroundError
from ui.chat import keys
from ui.common import state
from ui.common.errors import show_error
from ui.common.text import plain

LISTED = 50
QUERY_KEY = "conversation"  # the address's parameter holding the open conversation's id


def store() -> ConversationStore:
    return ConversationStore()


def current() -> Conversation:
    """The open conversation: on a session's first visit, the one the address names (a
    reload), else a new one."""
    if keys.CHAT_CONVERSATION not in st.session_state:
        show(_from_address() or Conversation())
    return st.session_state[keys.CHAT_CONVERSATION]


def _from_address() -> Conversation | None:
    wanted = st.query_params.get(QUERY_KEY)
    if not wanted:
        return None
    try:
        found = store().load(wanted)
    except PlaygroundError as exc:
        st.session_state[keys.CHAT_NOTICE] = f"The address's conversation did not open: {exc}"
        return None
    if found is None:
        st.session_state[keys.CHAT_NOTICE] = ("The conversation in the address is no longer "
                                               "saved; this is a new one.")
    return found


def _address(conversation: Conversation) -> None:
    """Name the conversation in the page's address once it is saved (a reload reopens it)."""
    if conversation.is_empty:
        st.query_params.pop(QUERY_KEY, None)
    elif st.query_params.get(QUERY_KEY) != conversation.id:
        st.query_params[QUERY_KEY] = conversation.id


def save(conversation: Conversation, conn: Connection) -> None:
    """Write the conversation (once it holds anything); a failure becomes a notice."""
    if conversation.is_empty:
        return
    try:
        store().save(conversation, secrets=(conn.api_key or "",))
    except PlaygroundError as exc:
        st.session_state[keys.CHAT_NOTICE] = f"Not saved: {exc}"
        return
    _address(conversation)


def show(conversation: Conversation) -> None:
    """Make this the open conversation, with its texts in the widgets that edit them."""
    st.session_state[keys.CHAT_CONVERSATION] = conversation
    st.session_state[keys.CHAT_SYSTEM] = conversation.system
    st.session_state[keys.CHAT_TITLE] = conversation.title
    st.session_state.pop(keys.CHAT_EDITOR, None)
    st.session_state.pop(keys.CHAT_FAILURE, None)
    _address(conversation)


def render(conversation: Conversation, conn: Connection) -> None:
    """The sidebar's Conversations section."""
    _address(conversation)
    with st.sidebar:
        st.subheader("Conversations")
        st.button("New conversation", icon=":material/add_comment:", width="stretch",
                  on_click=show, args=(Conversation(),), key=keys.chat_action("new", "-"))
        if keys.CHAT_TITLE not in st.session_state:
            st.session_state[keys.CHAT_TITLE] = conversation.title
        st.text_input("Title", key=keys.CHAT_TITLE, placeholder=conversation.display_title,
                      persist_state=state.PERSIST,
                      on_change=_rename, args=(conn,),
                      help="Leave empty for the start of the first message.")
        _exports(conversation)
        _listing(conversation)


def _exports(conversation: Conversation) -> None:
    name = _file_name(conversation)
    left, right = st.columns(2)
    left.download_button("JSON", chat.to_json(conversation), file_name=f"{name}.json",
                         mime="application/json", icon=":material/download:", width="stretch",
                         help="The messages array, ready to pass to the API as messages.")
    right.download_button("Markdown", chat.to_markdown(conversation), file_name=f"{name}.md",
                          mime="text/markdown", icon=":material/download:", width="stretch")
    if not conversation.is_empty:
        with st.popover("Delete this conversation", icon=":material/delete:", width="stretch"):
            st.caption(plain(f"“{conversation.display_title}” and all its messages go for "
                             "good."))
            st.button("Delete for good", type="primary", on_click=_delete,
                      args=(conversation.id,), key=keys.chat_action("delete", conversation.id))


def _listing(conversation: Conversation) -> None:
    try:
        summaries = store().list(LISTED)
    except PlaygroundError as exc:
        show_error(exc)
        return
    if not summaries:
        st.caption("Saved conversations appear here as soon as they hold a message.")
    for summary in summaries:
        count = summary.message_count
        label = (f"{summary.title}  \n{_when(summary.updated)} · "
                 f"{count} message{'' if count == 1 else 's'}")
        st.button(plain(label), key=keys.chat_action("open", summary.id), width="stretch",
                  type="primary" if summary.id == conversation.id else "secondary",
                  icon=":material/call_split:" if summary.branched_from else None,
                  on_click=_open, args=(summary.id,))


def _open(conversation_id: str) -> None:
    try:
        found = store().load(conversation_id)
    except PlaygroundError as exc:
        st.session_state[keys.CHAT_NOTICE] = str(exc)
        return
    if found is None:
        st.session_state[keys.CHAT_NOTICE] = "That conversation is no longer saved."
        return
    show(found)


def _rename(conn: Connection) -> None:
    conversation = current()
    conversation.title = (st.session_state.get(keys.CHAT_TITLE) or "").strip()
    conversation.touch()
    save(conversation, conn)


def _delete(conversation_id: str) -> None:
    try:
        store().delete(conversation_id)
    except PlaygroundError as exc:
        st.session_state[keys.CHAT_NOTICE] = str(exc)
        return
    if current().id == conversation_id:
        show(Conversation())
    st.session_state[keys.CHAT_NOTICE] = "Conversation deleted."


def _file_name(conversation: Conversation) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in conversation.display_title.lower())
    return "-".join(part for part in safe.split("-") if part)[:50] or "conversation"


def _when(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%d %b %H:%M")
    except ValueError:
        return stamp
