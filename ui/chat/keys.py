"""The Chat page's session keys: plain keys, then widget keys."""

CHAT_CONVERSATION = "chat.conversation"  # the open playground.chat.Conversation
CHAT_EDITOR = "chat.editor"            # ("edit", message id) or ("insert", id after or None)
CHAT_SEND = "chat.send"                # set when this run should ask for a reply
CHAT_PENDING = "chat.pending"          # ui.chat.send.Pending: where the reply in flight goes
CHAT_OUTCOME = "chat.outcome"          # the ui.common.output.Outcome of the reply in flight
CHAT_FAILURE = "chat.failure"          # the last send's PlaygroundError, shown once
CHAT_NOTICE = "chat.notice"            # a callback's message, shown once
CHAT_COUNTERS = "chat.counters"        # (Connection, model) -> playground.chat token counter
CHAT_EXAMPLE = "chat.example"          # the tutorial example's two answers
CHAT_INPUT = "chat.input"
CHAT_SYSTEM = "chat.system"
CHAT_TITLE = "chat.title"
CHAT_POLICY = "chat.policy"
CHAT_LIMIT = "chat.limit"
CHAT_EDIT_ROLE = "chat.edit.role"
CHAT_EDIT_TEXT = "chat.edit.text"


def chat_action(action: str, item: str) -> str:
    """Key of a Chat page button acting on one message, choice or saved conversation."""
    return f"chat.{action}::{item}"
