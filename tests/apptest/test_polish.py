"""What a new user stumbled on, page by page: the small things, checked on the pages."""

from __future__ import annotations

from ui import params


def test_the_stop_picker_offers_no_select_all(app):
    picker = app.multiselect(key=params.widget_key("completions", "stop"))
    assert picker.proto.select_all == 0  # Streamlit's code for "never"
