"""The Models page's "Open in" buttons: the model goes to the chosen page's sidebar, and a base
model opens Compare in Completion mode (through ``ui.compare``'s public hand-over)."""

from __future__ import annotations

import streamlit as st

from ui import compare
from ui.common import pages, state


def open_in(page: str, model_id: str, base: bool) -> None:
    state.send_model(model_id)
    if page == pages.COMPARE and base:
        compare.start_in_completion_mode()
    st.switch_page(page)
