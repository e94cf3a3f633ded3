"""The app's pages, in one place so that any page can send the user to another, and the
navigation that runs them.

``app.py`` calls ``run_app``. Every page script calls ``within_app`` first: the first request
a fresh server gets may be a link to a page (a bookmark of /compare, say), and because of
the ``pages/`` folder Streamlit then runs that file on its own in its older multipage mode,
without app.py: its navigation lists file names (``app``, ``chat``, ...) and the page
config is missing. ``within_app`` notices and runs the app's navigation instead, which
runs the page inside it; from then on the server runs app.py for every page.
"""

from __future__ import annotations

import threading

import streamlit as st

from ui.common import access

COMPLETIONS = "pages/completions.py"
CHAT = "pages/chat.py"
COMPARE = "pages/compare.py"
MODELS = "pages/models.py"
USAGE = "pages/usage.py"

# path, title, Material icon
ALL = (
    (COMPLETIONS, "Completions", ":material/edit_note:"),
    (CHAT, "Chat", ":material/forum:"),
    (COMPARE, "Compare", ":material/compare:"),
    (MODELS, "Models", ":material/model_training:"),
    (USAGE, "Usage", ":material/monitoring:"),
)

_navigating = threading.local()  # one thread runs a session's script at a time


def run_app() -> None:
    """Set the page up and run the page the URL names through the app's navigation; when a
    password is set (``ui.common.access``), only once this session has given it."""
    st.set_page_config(page_title="Parameter playground", page_icon=":material/tune:",
                       layout="wide")
    allowed = access.allowed()
    # The navigation is built either way, so that the page a link names opens once the
    # password is given; without it, its links stay hidden.
    page = st.navigation([st.Page(path, title=title, icon=icon, default=path == COMPLETIONS)
                          for path, title, icon in ALL],
                         position="sidebar" if allowed else "hidden")
    if not allowed:
        access.ask()
    _navigating.active = True
    try:
        page.run()
    finally:
        _navigating.active = False


def within_app() -> None:
    """Return at once when the app's navigation runs this page; otherwise (a page file run
    on its own, see the module's docstring) run the page through it and end this run."""
    if getattr(_navigating, "active", False):
        return
    run_app()
    st.stop()
