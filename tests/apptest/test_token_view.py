"""The token probability view: colours, alternatives, the echoed prompt, and escaping."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

from streamlit.testing.v1 import AppTest

from playground.logprobs import tokens_of
from ui.chat import keys as chat_keys
from ui.common import params, token_view
from ui.completions import keys as completions_keys

HOSTILE = '<script>alert("x")</script>'


class Spans(HTMLParser):
    """The token spans of the view: their classes, title and text, as a browser reads them."""

    def __init__(self, html: str):
        super().__init__()
        self.spans: list[dict] = []
        self.tags: list[str] = []
        self._open: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "span" and "token" in (attrs.get("class") or "").split():
            self._open = {"class": attrs["class"], "title": attrs.get("title"),
                          "style": attrs.get("style"), "text": ""}
            self.spans.append(self._open)

    def handle_endtag(self, tag):
        if tag == "span":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data


def test_each_token_is_coloured_by_its_probability():
    rows = [("sure", math.log(0.95), {}), ("likely", math.log(0.6), {}),
            ("maybe", math.log(0.3), {}), ("odd", math.log(0.1), {}),
            ("rare", math.log(0.01), {}), ("none", None, {})]
    spans = Spans(token_view.token_html(rows)).spans
    colours = [re.search(r"background: (#\w+)", s["style"]).group(1) for s in spans]
    assert colours == [colour for _, colour, _ in token_view.BANDS] + [token_view.UNKNOWN]
    assert [s["text"] for s in spans] == ["sure", "likely", "maybe", "odd", "rare", "none"]


def test_the_title_gives_the_probability_and_the_alternatives_most_likely_first():
    rows = [(" Paris", math.log(0.5), {" London": math.log(0.1), " Paris": math.log(0.5)})]
    (span,) = Spans(token_view.token_html(rows)).spans
    assert span["title"] == ("' Paris'\np = 50.0%, log-probability -0.693\n"
                             "Most likely here:\n  ' Paris'  50.0%\n  ' London'  10.0%")


def test_line_breaks_and_empty_tokens_are_visible():
    spans = Spans(token_view.token_html([("\n\n", -0.1, ()), ("", None, ())])).spans
    assert [s["text"] for s in spans] == ["↵\n↵\n", "∅"]
    assert spans[0]["title"].startswith("'\\n\\n'")


def test_the_echoed_prompt_is_drawn_apart():
    rows = [("Say", None, ()), (":", -1.0, ()), (" hi", -0.5, ())]
    html = token_view.token_html(rows, echo_boundary=2)
    spans = Spans(html).spans
    assert [s["class"] for s in spans] == ["token echo", "token echo", "token generated"]
    assert "(prompt)" in spans[0]["title"] and "(prompt)" not in spans[2]["title"]
    assert "echoed prompt" in html
    assert "echoed prompt" not in token_view.token_html(rows)


def test_model_output_is_never_markup():
    rows = [(HOSTILE, -0.1, {HOSTILE: -0.1, '"><img src=x onerror=alert(1)>': -2.0}),
            ("&amp;", -0.2, ())]
    parser = Spans(token_view.token_html(rows))
    assert set(parser.tags) == {"div", "span"}  # no script, no img: only the view's own tags
    assert [s["text"] for s in parser.spans] == [HOSTILE, "&amp;"]
    assert HOSTILE in parser.spans[0]["title"]
    assert '"><img src=x onerror=alert(1)>' in parser.spans[0]["title"]


def test_tokens_split_inside_a_character_are_drawn_joined_with_their_bytes_on_hover():
    parrot = [b"\xf0\x9f", b"\xa6", b"\x9c"]  # SmolLM2's three tokens of 🦜
    rows = tokens_of({"content": [
        {"token": raw.decode("utf-8", errors="replace"), "logprob": math.log(p),
         "bytes": list(raw), "top_logprobs": []}
        for raw, p in [(b"Hi ", 0.95), *zip(parrot, (0.95, 0.3, 0.99)), (b"!", 0.95)]]})
    spans = Spans(token_view.token_html(rows)).spans
    assert [s["text"] for s in spans] == ["Hi ", "🦜", "!"]
    assert spans[1]["class"] == "token generated joined"
    assert "background: #fff3b0" in spans[1]["style"]  # coloured by its least likely token, 30%
    assert spans[1]["title"] == ("'🦜': 3 tokens, each part of a character\n"
                                 "  1: f0 9f  p = 95.0%\n  2: a6  p = 30.0%\n  3: 9c  p = 99.0%")


def test_completions_tokens_without_bytes_are_joined_by_the_choices_text():
    rows = tokens_of({"tokens": [" \ufffd", "\ufffd", "ל"], "token_logprobs": [-0.1, -0.2, -0.3],
                      "text_offset": [0, 1, 2]})
    spans = Spans(token_view.token_html(rows, text=" של")).spans
    assert [s["text"] for s in spans] == [" ש", "ל"]
    assert spans[0]["title"].endswith("  1: bytes not given  p = 90.5%\n"
                                      "  2: bytes not given  p = 81.9%\nTogether: 20 d7 a9")


def _view(tokens, echo_boundary):
    from ui.common import token_view

    token_view.render(tokens, echo_boundary=echo_boundary)


def test_render_shows_the_view_and_the_generated_tokens_mean_and_perplexity():
    tokens = [("Hi", None, ()), ("<script>", math.log(0.5), {"<script>": math.log(0.5)}),
              ("!", math.log(0.25), ())]
    at = AppTest.from_function(_view, args=(tokens, 1)).run()
    assert not at.exception
    (html,) = at.get("html")
    assert "&lt;script&gt;" in html.value and "<script>" not in html.value
    # generated tokens only: mean of ln 0.5 and ln 0.25, perplexity exp(-mean) = 2.83
    (caption,) = at.caption
    assert caption.value == ("2 generated tokens · mean log-probability -1.040 · "
                             "perplexity 2.83 (1 = the model was sure of every token)")


def test_render_without_logprobs_says_so():
    at = AppTest.from_function(_view, args=([], 0)).run()
    assert not at.get("html")
    assert at.caption[0].value == "No token log-probabilities in this response."


# With the real local model ------------------------------------------------------------------

def _token_html(at) -> str:
    views = [element.value for element in at.get("html") if "token-view" in element.value]
    assert views, "no token view on the page"
    return "".join(views)


def test_an_emoji_written_by_the_local_model_is_shown_whole_on_completions(app):
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Parrots: 🦜🦜🦜🦜")
    for name, value in (("temperature", 0.0), ("max_tokens", 6), ("logprobs", 1)):
        app.get_by_key(params.widget_key("completions", name)).set_value(value)
    next(button for button in app.button if button.label == "Run").click().run()
    assert not app.exception, app.exception
    html = _token_html(app)
    parrots = Spans(html).spans
    assert "\ufffd" not in html
    assert [s["text"] for s in parrots] == ["🦜", "🦜"]
    assert all(s["title"].endswith("Together: f0 9f a6 9c") for s in parrots)


def test_hebrew_written_by_the_local_model_is_shown_whole_in_chat(app):
    app.switch_page("pages/chat.py").run()
    for name, value in (("temperature", 0.0), ("max_tokens", 12), ("logprobs", True)):
        app.get_by_key(params.widget_key("chat", name)).set_value(value).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value(
        "Translate 'peace' to Hebrew: שלום. Write שלום again:").run()
    assert not app.exception, app.exception
    reply = app.session_state[chat_keys.CHAT_CONVERSATION].messages[-1]
    assert "שלום" in reply.content and [entry["bytes"] for entry in reply.logprobs][:2] == [
        [0xd7], [0xa9]]  # the model's own tokens split the first letter
    html = _token_html(app)
    assert "\ufffd" not in html
    joined = [s for s in Spans(html).spans if "joined" in s["class"]]
    assert joined[0]["text"] == "ש" and "1: d7  p = " in joined[0]["title"]
