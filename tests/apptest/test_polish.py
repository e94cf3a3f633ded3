"""What a new user stumbled on, page by page: the small things, checked on the pages."""

from __future__ import annotations

from ui import params


def test_the_stop_picker_offers_no_select_all(app):
    picker = app.multiselect(key=params.widget_key("completions", "stop"))
    assert picker.proto.select_all == 0  # Streamlit's code for "never"


def test_ask_both_ways_says_what_it_sends_beside_the_button_not_in_a_clipped_tooltip(app):
    from ui import pages, state

    app.switch_page(pages.CHAT).run()
    button = app.button(key=state.chat_action("example", "run"))
    assert not button.help
    captions = " ".join(caption.value.replace("\\", "") for caption in app.main.caption)
    assert "Sends both requests at once with temperature 0 and max_tokens 60." in captions
