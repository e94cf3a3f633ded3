"""The one way a page shows a failure: the error's message and what to do about it."""

from __future__ import annotations

import streamlit as st

from playground.errors import PlaygroundError
from ui.common.text import plain

LOG_TAIL_LABEL = "The server log's last lines"


def show_error(exc: BaseException, container=st) -> None:
    """Render a failure as a message and a hint, never a traceback; and, for a server
    that crashed or would not start, where its log is and the log's last lines.

    Anything that is not a ``PlaygroundError`` is a bug of ours; it is still shown as one
    plain line so the page keeps working.
    """
    if isinstance(exc, PlaygroundError):
        message, hint = exc.message, exc.hint
    else:
        message = f"Unexpected error ({type(exc).__name__}): {exc}"
        hint = "This is a bug in the playground; the page keeps working."
    container.error(plain(message), icon=":material/error:")
    if hint:
        container.caption(plain(hint))
    log_path, tail = getattr(exc, "log_path", None), getattr(exc, "log_tail", "")
    if log_path:
        container.caption(plain(f"Server log: {log_path}"))
    if tail:
        with container.expander(LOG_TAIL_LABEL):
            st.code(tail, language="text")
